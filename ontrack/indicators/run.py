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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

import duckdb
import pandas as pd

from ontrack.config import Config
from ontrack.errors import OnTrackError
from ontrack.indicators.by_year import YearPart, indicator_years, year_part, years_part
from ontrack.indicators.rates import finish_rates, lowest_groups
from ontrack.indicators.rules import INDICATOR_GRADES
from ontrack.paths import clear_marker, remove_left_by_dead_runs, write_marker
from ontrack.resources import connect
from ontrack.validation import ValidationReport, validate_directory
from ontrack.validation.checks import defused_sql, literal

Progress = Callable[[str], None]
SUMMARY_GRADES: tuple[int, ...] = (8, 9)
# Written next to report.json by run_indicators: the rules the tables were validated with.
FINGERPRINT_FILE = "rules_fingerprint.txt"
# Validated tables up to this size are computed in one pass over all their years (one
# connection, one set of statements) instead of one part per year; larger ones per year,
# which bounds the memory a part holds. The files written are the same either way.
ONE_PASS_BYTES = 64 * 2**20
_SUMMARY_COLUMNS = ("district_id", "indicator", "grade_level", "n", "rate", "suppressed")


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


def must_reuse(out_dir: Path, config: Config) -> None:
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
    The school years are computed one after the other (:mod:`ontrack.indicators.by_year`),
    the same parts a flow sends to a Dask cluster, then combined.
    """
    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)
    report = _validated(data_dir, out_dir, config, say, reuse_validated)
    years = indicator_years(out_dir, config)
    for year in years:
        say(f"computing student indicators of {year}" + (f" as of {as_of}" if as_of else ""))
    parts = compute_years(out_dir, config, years, as_of)
    return combine_years(out_dir, config, parts, as_of=as_of, validation=report, progress=say)


def compute_years(out_dir: Path, config: Config, years: list[int | None],
                  as_of: date | None = None) -> list[YearPart]:
    """The years' parts computed in this process: a district whose validated tables fit
    in :data:`ONE_PASS_BYTES` in one pass on one connection (``years_part``), else one
    part per school year (``year_part``, what a flow's task runner gets one by one).
    The same files and summaries either way."""
    if None not in years and _validated_bytes(Path(out_dir)) <= ONE_PASS_BYTES:
        return [years_part(out_dir, config, [y for y in years if y is not None], as_of)]
    return [year_part(out_dir, config, year, as_of) for year in years]


def _validated_bytes(out_dir: Path) -> int:
    """Size of the validated tables on disk: whether the years can be computed together."""
    return sum(p.stat().st_size for p in (out_dir / "validated").glob("*.parquet"))


def combine_years(out_dir: Path | str, config: Config, parts: list[YearPart], *,
                  as_of: date | None = None, validation: ValidationReport | None = None,
                  progress: Progress | None = None) -> IndicatorsResult:
    """Write the four files from the school years' parts (in any order: sorted here).

    Every file is written under a temporary name and all are moved into place together
    at the end. The completion marker (``_complete.json``: config hash, each file's
    SHA-256) is withdrawn just before the first move and written after the last, so a
    run killed while moving leaves no marker and a stage reusing the folder refuses it.
    """
    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)
    parts = sorted(parts, key=lambda p: -1 if p.school_year is None else p.school_year)
    folder = out_dir / "indicators"
    folder.mkdir(parents=True, exist_ok=True)
    remove_left_by_dead_runs(folder, r"\.[^.]+\.(?P<pid>\d+)\.tmp\.csv")  # a killed run's
    paths = {n: folder / f"{n}.csv" for n in ("students", "rates", "suppression", "lowest_group")}
    with_rows = [p for p in parts if p.rows]
    latest = with_rows[-1].school_year if with_rows else None
    say("suppressing small groups and writing the indicator files")
    cells = pd.concat([p.cells for p in parts], ignore_index=True)
    rates, log = finish_rates(cells, config)
    pending = {n: p.with_name(f".{p.stem}.{os.getpid()}.tmp.csv") for n, p in paths.items()}
    try:
        _concatenate([Path(p.rows_file) for p in parts], pending["students"])
        con = connect(config, out_dir)  # one connection for the three files
        try:
            for name, frame in (("rates", rates), ("suppression", log),
                                ("lowest_group", lowest_groups(rates, config))):
                write_csv(_stamp(frame, config, as_of), pending[name], con=con)
        finally:
            con.close()
        _publish(folder, pending, paths, config)
    finally:
        for temporary in pending.values():
            temporary.unlink(missing_ok=True)
    for part in parts:
        Path(part.rows_file).unlink(missing_ok=True)
    return IndicatorsResult(
        out_dir=out_dir, students_path=paths["students"], rates_path=paths["rates"],
        suppression_path=paths["suppression"], lowest_group_path=paths["lowest_group"],
        n_rows=sum(p.rows for p in parts), n_rates=len(rates),
        n_suppressed=int(rates["suppressed"].sum()), latest_year=latest,
        config_hash=config.config_hash, config_version=config.config_version, as_of=as_of,
        district_rates=_district_rates(rates, latest),
        unknowns=with_rows[-1].unknowns if with_rows else parts[0].unknowns,
        validation=validation,
    )


def _publish(folder: Path, pending: dict[str, Path], paths: dict[str, Path], config: Config) -> None:
    """Move the written files into place, the marker withdrawn first and written last."""
    _test_pause("before")
    clear_marker(folder)
    for index, (name, path) in enumerate(paths.items()):
        os.replace(pending[name], path)
        if index == 0:
            _test_pause("between")
    write_marker(folder, "indicators", config.config_hash, [p.name for p in paths.values()])


def _test_pause(step: str) -> None:
    """Test hook: ``ONTRACK_TEST_INDICATORS_PAUSE=STEP:SECONDS`` waits at ``STEP``
    ("before" the first move, "between" the first and second); unset, nothing."""
    wanted, _, seconds = os.environ.get("ONTRACK_TEST_INDICATORS_PAUSE", "").partition(":")
    if wanted == step and seconds:
        time.sleep(float(seconds))


def _validated(
    data_dir: Path | str, out_dir: Path, config: Config, say: Progress, reuse: bool
) -> ValidationReport | None:
    """Validate ``data_dir`` into ``out_dir`` (and stamp the rules it was validated
    with); with ``reuse``, check that the tables already there may be reused."""
    if reuse:
        must_reuse(out_dir, config)
        return None
    report = validate_directory(data_dir, out_dir, config, progress=say)
    fingerprint = out_dir / "validation" / FINGERPRINT_FILE
    fingerprint.write_text(rules_fingerprint(config) + "\n", encoding="utf-8")
    return report


def _concatenate(sources: list[Path], target: Path) -> None:
    """Write the years' rows one after the other into ``target``: the first file whole,
    the others without their header line; in the kernel where it can (``sendfile``)."""
    with target.open("wb") as out:
        for index, source in enumerate(sources):
            with source.open("rb") as chunk:
                if index:
                    chunk.readline()  # the header, written once
                _copy_rest(chunk, out, source.stat().st_size)


def _copy_rest(chunk: BinaryIO, out: BinaryIO, size: int) -> None:
    done = chunk.tell()
    sendfile = getattr(os, "sendfile", None)
    out.flush()
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


def write_csv(frame: pd.DataFrame, path: Path, config: Config | None = None,
              out_dir: Path | None = None, *, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Write ``frame`` byte for byte as ``frame.to_csv(path, index=False)``, via DuckDB.

    DuckDB's writer is several times faster than pandas' on the rate tables, and its
    quoting (fields holding a comma, quote or line break) is the same. ``con``: an open
    connection to write with (a new one costs about as much as a small file), else one
    is opened and closed here.
    """
    own = con is None
    if con is None:
        con = connect(config or Config(), out_dir)  # spills under OUT/.tmp when given
    try:
        con.register("frame_in", frame)
        cols = ", ".join(_as_text(str(n), d) for n, d in frame.dtypes.items())
        con.execute(
            f"COPY (SELECT {cols} FROM frame_in) TO {literal(str(path))} "
            "(FORMAT CSV, HEADER, DELIMITER ',')"
        )
    finally:
        con.unregister("frame_in")
        if own:
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
