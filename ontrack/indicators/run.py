"""``run_indicators``: validate, compute, and write ``OUT/indicators/`` (CONTRACT §4).

Files written (each row stamped with ``config_hash`` and ``config_version``, and with
``as_of_date`` when computed as of a checkpoint):

- ``students.csv``: one row per student x school year x indicator (``OUTPUT_COLUMNS``);
- ``rates.csv``: suppressed rates by district/school x grade x group x year x indicator;
- ``suppression.csv``: every withheld rate cell and why;
- ``lowest_group.csv``: the lowest-performing racial/ethnic group per unit and indicator.

The student table is written by DuckDB straight from the query (never held in pandas),
so memory stays flat for large districts; only the aggregated cells reach pandas.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ontrack.validation.checks import literal
from ontrack.config import Config
from ontrack.errors import OnTrackError
from ontrack.indicators.rates import (
    finish_rates,
    lowest_groups,
    rate_cells_sql,
)
from ontrack.indicators.rules import (
    FLAGS_TABLE,
    INDICATOR_GRADES,
    OUTPUT_COLUMNS,
    build_students,
    drop_work_tables,
)
from ontrack.validation.checks import defused_sql
from ontrack.validation.store import open_validated
from ontrack.validation import ValidationReport, validate_directory

Progress = Callable[[str], None]
SUMMARY_GRADES: tuple[int, ...] = (8, 9)
# Written next to report.json by run_indicators: the rules the tables were validated with.
FINGERPRINT_FILE = "rules_fingerprint.txt"
_SUMMARY_COLUMNS = ("district_id", "indicator", "grade_level", "n", "rate", "suppressed")

# Columns of students.csv holding the district's own text (IDs): defused for spreadsheets.
DATA_TEXT_COLUMNS: tuple[str, ...] = ("student_id", "district_id", "school_id")


@dataclass(frozen=True)
class IndicatorsResult:
    """What ``run_indicators`` wrote, and the numbers its summary prints."""

    out_dir: Path
    students_path: Path
    rates_path: Path
    suppression_path: Path
    lowest_group_path: Path
    n_rows: int
    n_rates: int
    n_suppressed: int
    latest_year: int | None
    config_hash: str
    config_version: int
    as_of: date | None = None
    district_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    unknowns: pd.DataFrame = field(default_factory=pd.DataFrame)
    validation: ValidationReport | None = None


def rules_fingerprint(config: Config) -> str:
    """Hash of the config parts that shape validated tables (calendars, mark scales).

    Engine, reporting and tracking settings do not change what validation writes, so
    validated tables can be reused under a config that differs only in those.
    """
    parts = config.model_dump(mode="json", include={"rules", "districts"})
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _check_reusable(out_dir: Path, config: Config) -> None:
    """Refuse to reuse ``OUT/validated`` made under different rules."""
    report = out_dir / "validation" / "report.json"
    if not report.exists():
        raise OnTrackError(
            f"{report} does not exist: run `ontrack validate DATA --out {out_dir}` first, "
            "or leave out --reuse-validated."
        )
    stamped = json.loads(report.read_text(encoding="utf-8")).get("config_hash")
    marker = out_dir / "validation" / FINGERPRINT_FILE
    recorded = marker.read_text(encoding="utf-8").strip() if marker.exists() else None
    if stamped != config.config_hash and recorded != rules_fingerprint(config):
        raise OnTrackError(
            f"{out_dir}/validated was made with config {stamped}, whose rules (calendars, "
            f"mark scales) may differ from config {config.config_hash}: validate again "
            "(leave out --reuse-validated)."
        )


def _stamp(frame: pd.DataFrame, config: Config, as_of: date | None) -> pd.DataFrame:
    frame = frame.copy()
    frame["as_of_date"] = as_of.isoformat() if as_of else pd.NA
    frame["config_hash"] = config.config_hash
    frame["config_version"] = config.config_version
    return frame


def run_indicators(
    data_dir: Path | str,
    out_dir: Path | str,
    config: Config,
    progress: Progress | None = None,
    *,
    as_of: date | None = None,
    reuse_validated: bool = False,
) -> IndicatorsResult:
    """Validate ``data_dir`` into ``out_dir``, compute every indicator, write the files.

    With ``reuse_validated`` the tables already in ``OUT/validated`` are used (they must
    have been validated with the same config), which skips re-reading the raw files.
    """
    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)
    report = _validated(data_dir, out_dir, config, say, reuse_validated)
    folder = out_dir / "indicators"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {n: folder / f"{n}.csv" for n in ("students", "rates", "suppression", "lowest_group")}
    con = open_validated(out_dir, config)
    try:
        say("computing student indicators" + (f" as of {as_of}" if as_of else ""))
        table = build_students(con, config, as_of=as_of)
        n_rows, latest = con.execute(
            f"SELECT count(*), max(school_year) FROM {table}"
        ).fetchall()[0]
        unknowns = _unknown_reasons(con, table, latest)
        say("aggregating rates by school, grade and group")
        cells = con.execute(rate_cells_sql(FLAGS_TABLE)).df()
        say("writing students.csv and suppressing small groups")
        rates = _write_outputs(con, table, cells, paths, config, as_of)
    finally:
        drop_work_tables(con)
        con.close()
    return IndicatorsResult(
        out_dir=out_dir,
        students_path=paths["students"],
        rates_path=paths["rates"],
        suppression_path=paths["suppression"],
        lowest_group_path=paths["lowest_group"],
        n_rows=int(n_rows),
        n_rates=len(rates),
        n_suppressed=int(rates["suppressed"].sum()),
        latest_year=None if latest is None else int(latest),
        config_hash=config.config_hash,
        config_version=config.config_version,
        as_of=as_of,
        district_rates=_district_rates(rates, latest),
        unknowns=unknowns,
        validation=report,
    )


def _write_outputs(con: duckdb.DuckDBPyConnection, table: str, cells: pd.DataFrame,
                   paths: dict[str, Path], config: Config, as_of: date | None) -> pd.DataFrame:
    """Write the four files and return the suppressed rates.

    DuckDB writes students.csv in a second thread (it releases the GIL) while this one
    suppresses the rates in Python: the two overlap instead of queueing. Every file is
    written under a temporary name and all are moved into place together at the end, so
    a killed run leaves the previous run's four files, never a half-written or mixed set.
    """
    pending = {n: p.with_name(f".{p.stem}.{os.getpid()}.tmp.csv") for n, p in paths.items()}
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            writing = pool.submit(_write_students, con, table, pending["students"], config, as_of)
            rates, log = finish_rates(cells, config)
            lowest = lowest_groups(rates, config)
            for name, frame in (("rates", rates), ("suppression", log), ("lowest_group", lowest)):
                write_csv(_stamp(frame, config, as_of), pending[name])
            writing.result()
        for name, path in paths.items():
            os.replace(pending[name], path)
    finally:
        for temporary in pending.values():
            temporary.unlink(missing_ok=True)
    return rates


def _validated(
    data_dir: Path | str, out_dir: Path, config: Config, say: Progress, reuse: bool
) -> ValidationReport | None:
    """Validate ``data_dir`` into ``out_dir`` (and stamp the rules it was validated
    with); with ``reuse``, check that the tables already there may be reused."""
    if reuse:
        _check_reusable(out_dir, config)
        return None
    report = validate_directory(data_dir, out_dir, config, progress=say)
    fingerprint = out_dir / "validation" / FINGERPRINT_FILE
    fingerprint.write_text(rules_fingerprint(config) + "\n", encoding="utf-8")
    return report


def _unknown_reasons(con: duckdb.DuckDBPyConnection, table: str, latest: int | None) -> pd.DataFrame:
    """How often each criterion was unknown, per indicator, in the latest school year."""
    return con.execute(
        f"SELECT indicator, trim(reason) AS reason, count(*) AS n FROM ("
        f"  SELECT indicator, unnest(string_split(unknown_criteria, ';')) AS reason"
        f"  FROM {table} WHERE status = 'unknown' AND school_year = ?"
        f") GROUP BY ALL ORDER BY indicator, n DESC, reason",
        [latest],
    ).df()


def _write_students(
    con: duckdb.DuckDBPyConnection,
    table: str,
    path: Path,
    config: Config,
    as_of: date | None,
) -> None:
    """Write the long student table sorted by year, student and indicator.

    One school year at a time, appended to one file: sorting a year needs a fraction
    of the memory of sorting everything, and the order stays deterministic.
    """
    cols = ", ".join(
        f"{defused_sql(c)} AS {c}" if c in DATA_TEXT_COLUMNS else c
        for c in OUTPUT_COLUMNS if c != "as_of_date"
    )
    stamps = (
        f"{literal(as_of.isoformat()) if as_of else 'NULL'} AS as_of_date, "
        f"{literal(config.config_hash)} AS config_hash, "
        f"{int(config.config_version)} AS config_version"
    )
    years = [
        row[0]
        for row in con.execute(f"SELECT DISTINCT school_year FROM {table} ORDER BY 1").fetchall()
    ]
    part = path.with_suffix(".part.csv")
    for i, year in enumerate(years or [None]):
        where = "FALSE" if year is None else f"school_year = {int(year)}"
        con.execute(
            f"COPY (SELECT {cols}, {stamps} FROM {table} WHERE {where} "
            f"ORDER BY student_id, indicator) TO {literal(str(path if i == 0 else part))} "
            f"(HEADER {'true' if i == 0 else 'false'}, DELIMITER ',')"
        )
        if i > 0:
            _append(part, path)
    part.unlink(missing_ok=True)


def _append(src: Path, dst: Path) -> None:
    """Append file ``src`` to ``dst``, in the kernel where it can (no copy through Python)."""
    sendfile = getattr(os, "sendfile", None)
    with src.open("rb") as chunk, dst.open("ab") as out:
        done, size = 0, src.stat().st_size
        try:
            while sendfile and done < size:
                sent = sendfile(out.fileno(), chunk.fileno(), done, size - done)
                if not sent:
                    break
                done += sent
        except OSError:  # sendfile to a regular file is not supported here
            pass
        chunk.seek(done)
        shutil.copyfileobj(chunk, out)


def _as_text(name: str, dtype: object) -> str:
    """SQL giving column ``name`` the text pandas' ``to_csv`` writes for it.

    Booleans are ``True``/``False``; NaN, NA and empty strings are empty fields.
    Integers and floats need nothing: DuckDB prints the same shortest round-trip digits.
    """
    col = '"' + name.replace('"', '""') + '"'
    if pd.api.types.is_bool_dtype(dtype):
        text = f"CASE WHEN {col} THEN 'True' WHEN NOT {col} THEN 'False' END"
    elif pd.api.types.is_float_dtype(dtype):
        text = f"CASE WHEN NOT isnan({col}) THEN CAST({col} AS VARCHAR) END"
    elif pd.api.types.is_numeric_dtype(dtype):
        text = f"CAST({col} AS VARCHAR)"
    else:
        text = defused_sql(f"NULLIF(CAST({col} AS VARCHAR), '')")
    return f"{text} AS {col}"


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` byte for byte as ``frame.to_csv(path, index=False)``, via DuckDB.

    DuckDB's writer is several times faster than pandas' on the rate tables, and its
    quoting (fields holding a comma, quote or line break) is the same.
    """
    con = duckdb.connect()
    try:
        con.register("frame_in", frame)
        cols = ", ".join(_as_text(str(n), d) for n, d in frame.dtypes.items())
        con.execute(
            f"COPY (SELECT {cols} FROM frame_in) TO {literal(str(path))} "
            "(HEADER, DELIMITER ',')"
        )
    finally:
        con.close()


def _district_rates(rates: pd.DataFrame, latest: int | None) -> pd.DataFrame:
    """All-students district rates of the latest year, for the grades ontrack is about."""
    if latest is None or rates.empty:
        return pd.DataFrame(columns=list(_SUMMARY_COLUMNS))
    keep = (
        (rates["school_year"] == latest)
        & (rates["level"] == "district")
        & (rates["group_type"] == "all")
        & rates["grade_level"].isin(SUMMARY_GRADES)
    )
    picked = rates[keep]
    wanted = picked["indicator"].map(INDICATOR_GRADES)
    picked = picked[wanted.isna() | (wanted == picked["grade_level"])]
    return picked[list(_SUMMARY_COLUMNS)].reset_index(drop=True)
