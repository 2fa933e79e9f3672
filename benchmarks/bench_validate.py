"""Benchmark ``ontrack validate`` beside a hand-written DuckDB twin doing the same checks.

    python benchmarks/bench_validate.py                         # synth 20,000 x 4 years
    python benchmarks/bench_validate.py --students 200000       # 200,000 x 4 (synth ~2 min)
    python benchmarks/bench_validate.py --data DIR              # an existing district
    python benchmarks/bench_validate.py --data DIR --src OLD --label "before (abc123)"
        # the same, with the ontrack package found in OLD (e.g. `git archive` of a commit)
    python benchmarks/bench_validate.py --data DIR --config mem4gb.yaml
        # both under that config's resources (memory limit, threads)

Both run as child processes, start-up included, best of ``--repeat``, with the same
DuckDB memory limit and threads (``--config``'s resources; default: the defaults'). The twin reads every table once per query, types each
column with TRY_CAST, and counts per table: wrong types, missing required values, values
outside the allowed list or range, repeated keys (GROUP BY), unknown students and
schools (anti-joins against the accepted parents) and attendance outside every
enrollment; it writes the accepted rows to Parquet, as validation must. It writes no
reasons, derived columns or quarantine file: that is what validation costs beyond it.
Prints both and appends them to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record

CASTS = {"id": "VARCHAR", "text": "VARCHAR", "enum": "VARCHAR", "int": "INTEGER",
         "float": "DOUBLE", "date": "DATE", "bool": "BOOLEAN"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def twin_table(con, schema, path: Path, out: Path) -> dict[str, int]:
    """The checks of one table in two statements: type and check every row once into a
    temporary table, then count the problems and write the accepted rows."""
    cols = [c.name for c in schema.columns]
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}
    raw = {c: (f"NULLIF(trim(CAST({_q(c)} AS VARCHAR)), '')" if c in present else "NULL")
           for c in cols}
    typed, own = [], []
    for c in schema.columns:
        val = f"TRY_CAST({raw[c.name]} AS {CASTS[c.type]})"
        if c.type == "enum":
            val = f"lower({raw[c.name]})"
        typed.append(f"{val} AS {_q(c.name)}")
        if c.required:
            own.append(f"({raw[c.name]} IS NULL)")
        if c.type not in ("id", "text", "enum"):
            own.append(f"({raw[c.name]} IS NOT NULL AND {val} IS NULL)")
        if c.allowed:
            own.append(f"({val} NOT IN ({', '.join(repr(a) for a in c.allowed)}))")
        if c.min is not None:
            own.append(f"({val} < {c.min})")
        if c.max is not None:
            own.append(f"({val} > {c.max})")
    bad = " OR ".join(own) or "FALSE"
    con.execute(f"CREATE OR REPLACE TEMP TABLE t AS SELECT file_row_number AS rid, "
                f"{', '.join(typed)}, COALESCE({bad}, FALSE) AS bad "
                f"FROM read_parquet('{path}', file_row_number = true)")
    key = ", ".join(_q(k) for k in (schema.key or cols))
    con.execute(f"CREATE OR REPLACE TEMP TABLE rejected AS "
                f"SELECT rid FROM t WHERE bad UNION "
                f"SELECT rid FROM t SEMI JOIN (SELECT {key} FROM t GROUP BY ALL "
                f"HAVING count(*) > 1) USING ({key})")
    refs = _twin_references(schema.name, cols)
    if refs:
        con.execute(f"INSERT INTO rejected {refs}")
    accepted = out / f"{schema.name}.parquet"
    con.execute(f"COPY (SELECT {', '.join(_q(c) for c in cols)} FROM t ANTI JOIN rejected "
                f"USING (rid)) TO '{accepted}' (FORMAT parquet)")
    if schema.name in ("schools", "students", "enrollments"):
        con.execute(f"CREATE OR REPLACE TEMP VIEW ok_{schema.name} AS "
                    f"SELECT * FROM '{accepted}'")
    counts = con.execute("SELECT count(*), count(*) FILTER (bad) FROM t").fetchall()[0]
    return {"rows": counts[0], "bad": counts[1]}


def _twin_references(table: str, cols: list[str]) -> str:
    if table == "attendance":
        return ("SELECT a.rid FROM t a ANTI JOIN ok_enrollments e ON e.student_id = "
                "a.student_id AND e.school_id = a.school_id AND a.date >= e.entry_date "
                "AND a.date <= COALESCE(e.exit_date, make_date(e.school_year, 6, 30))")
    refs = []
    if "student_id" in cols and table != "students":
        refs.append("SELECT rid FROM t ANTI JOIN ok_students s USING (student_id)")
    if "school_id" in cols and table != "schools":
        refs.append("SELECT rid FROM t WHERE school_id IS NOT NULL AND school_id NOT IN "
                    "(SELECT school_id FROM ok_schools)")
    return " UNION ".join(refs)


def twin(data: Path, out: Path, config_path: Path | None = None) -> None:
    """Every table of ``data`` through :func:`twin_table`, in the contract's order, on
    a connection with the resources ontrack gives its own (``config_path``'s)."""
    from ontrack import resources
    from ontrack.config import load_config
    from ontrack.tables import SCHEMAS, TABLE_ORDER

    config = load_config(config_path)
    out.mkdir(parents=True, exist_ok=True)
    con = resources.connect(config, out)  # DuckDB's share of the memory limit, threads
    con.execute("SET preserve_insertion_order = false")
    summary = {}
    for table in TABLE_ORDER:
        path = data / f"{table}.parquet"
        if path.exists():
            summary[table] = twin_table(con, SCHEMAS[table], path, out)
    print(json.dumps(summary))


def best(cmd: list[str], out: Path, repeat: int,
         env: dict[str, str] | None = None) -> tuple[float, float]:
    """Fastest wall time of ``repeat`` runs of ``cmd`` (which writes into ``out``), and
    that run's peak memory. ``out`` is removed before each run: a validation is reused
    when the data and rules are unchanged, and that is not what is measured here."""
    previous = dict(os.environ)
    os.environ.update(env or {})
    runs = []
    try:
        for _ in range(repeat):
            shutil.rmtree(out, ignore_errors=True)
            runs.append(measure(cmd))
        return min(runs)
    finally:
        os.environ.clear()
        os.environ.update(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--data", type=Path, help="an existing district (Parquet); default: synth one")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--src", type=Path, help="folder holding the ontrack package to time")
    parser.add_argument("--label", default="ontrack validate")
    parser.add_argument("--config", type=Path, help="a district YAML whose resources both run under")
    parser.add_argument("--twin", nargs=2, type=Path, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.twin:
        return twin(*args.twin, args.config)
    configured = ["--config", str(args.config.resolve())] if args.config else []
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-"))
    data = args.data or workdir / "data"
    what = f"students={args.students} years={args.years} seed=0" if args.data is None else f"data={data.name}"
    if args.data is None:
        shutil.rmtree(data, ignore_errors=True)
        secs, peak = measure([sys.executable, "-m", "ontrack", "synth", str(data), "--students",
                              str(args.students), "--years", str(args.years), "--quiet"])
        print(f"synth: {secs:.1f} s")
    env = {"PYTHONPATH": str(args.src.resolve())} if args.src else None
    out = workdir / "out"
    secs, peak = best([sys.executable, "-m", "ontrack", "validate", str(data), "--out", str(out),
                       "--quiet", *configured], out, args.repeat, env)
    print(f"{args.label}: {secs:.1f} s  peak {peak:.0f} MB")
    record(args.label, f"{what} parquet, best of {args.repeat}", secs, peak)
    twin_out = workdir / "twin"
    tsecs, tpeak = best([sys.executable, __file__, "--twin", str(data), str(twin_out), *configured],
                        twin_out, args.repeat)
    print(f"hand-written DuckDB twin: {tsecs:.1f} s  peak {tpeak:.0f} MB  (ratio {secs / tsecs:.2f})")
    record("hand-written DuckDB validation twin (types, missing, allowed, ranges, keys, "
           "references; accepted rows to Parquet)", f"{what} parquet, best of {args.repeat}",
           tsecs, tpeak)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
