"""Benchmark ``ontrack import-edfi``: time and peak memory of importing Grand Bend.

    python benchmarks/bench_edfi.py                # Grand Bend, CSV and Parquet exports
    python benchmarks/bench_edfi.py --scale 100    # also x 100 (96,000 students)

``--scale N`` builds a larger Ed-Fi export by copying every student-keyed table N times
with StudentUSI offset by a million per copy (schools, courses and calendars are
shared), to show that the import streams: the attendance table alone is then about
18 million rows. Each run is a child process measured by ``measure.py``; results are
printed and appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRAND_BEND = ROOT.parent / "shared" / "data" / "edfi-grand-bend-ods"
ONTRACK = [sys.executable, "-m", "ontrack"]


def scaled_export(source: Path, dest: Path, copies: int) -> Path:
    """Write ``source`` (CSV) as Parquet, student tables copied ``copies`` times."""
    dest.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for path in sorted(source.glob("*.csv")):
        scan = f"read_csv('{path}', header = true, all_varchar = true)"
        described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
        columns = [row[0] for row in described]
        target = dest / f"{path.stem}.parquet"
        if "StudentUSI" in columns:
            query = (
                "SELECT * REPLACE (CAST(CAST(StudentUSI AS BIGINT) "
                "+ k.range * 1000000 AS VARCHAR) AS StudentUSI) "
                f"FROM {scan}, range({copies}) k"
            )
        else:
            query = f"SELECT * FROM {scan}"
        con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)")
    con.close()
    return dest


def run(label: str, source: Path, workdir: Path) -> None:
    """Import ``source`` in a child process; print and record time and peak memory."""
    out = workdir / f"out-{label.replace(' ', '-')}"
    shutil.rmtree(out, ignore_errors=True)
    secs, peak = measure([*ONTRACK, "import-edfi", str(source), str(out), "--quiet"])
    rows = sum(1 for _ in (out / "attendance.csv").open()) - 1
    print(f"import-edfi {label:<38} {secs:7.1f} s  peak {peak:6.0f} MB  "
          f"({rows:,} attendance rows)")
    record("import-edfi", f"{label} ({rows:,} attendance rows)", secs, peak)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=0, metavar="N",
                        help="also import Grand Bend copied N times (Parquet)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not (GRAND_BEND / "csv").is_dir():
        sys.exit(f"Grand Bend sample not found at {GRAND_BEND}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-edfi-"))
    run("Grand Bend 960 students, CSV", GRAND_BEND / "csv", workdir)
    run("Grand Bend 960 students, Parquet", GRAND_BEND / "parquet", workdir)
    if args.scale > 1:
        big = scaled_export(GRAND_BEND / "csv", workdir / f"x{args.scale}", args.scale)
        label = f"Grand Bend x{args.scale} ({960 * args.scale:,} students), Parquet"
        run(label, big, workdir)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
