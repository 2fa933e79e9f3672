"""Validate a district data directory against the contract (CONTRACT §1).

``validate_directory`` reads every table with DuckDB (out of core), types each value,
checks it, and splits the rows: accepted rows go to ``OUT/validated/<table>.parquet``
(typed, the contract's columns plus a few derived ones), rejected rows to
``OUT/validation/quarantine/<table>.csv`` with the original text and the reason.
Always ``rows_in == rows_accepted + rows_quarantined`` per table (checked here, and
reported in ``OUT/validation/report.json``). A table that cannot be used at all (missing
file, unreadable, empty, missing a required column, an absurdly wide header) raises
:class:`SchemaError`.

References point to rows already accepted: an enrollment needs a known student and
school; an attendance day needs an enrollment at that school covering that date. So the
run goes in waves (:func:`waves`): every table prepared at once, then level by level
(schools; students; the tables that need only those two; attendance) each table of the
level checked in its hash partitions, then finished. A wave's jobs (:class:`Job`, run by
:func:`run_job`) are independent of each other: here they run one after the other on
the run's connection; given ``run_wave`` (the flows' Dask task runner) they run anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ontrack.config import Config, load_config
from ontrack.errors import SchemaError
from ontrack.tables import TABLE_ORDER
from ontrack.validation.partition import (
    MAX_COLUMNS,
    PartResult,
    PreparedTable,
    finish_table,
    prepare_table,
    validate_partition,
)
from ontrack.validation.report import TableReport, ValidationReport
from ontrack.validation.store import connect, pooled

Progress = Callable[[str], None]
# Runs every partition of a prepared table and returns their results in any order:
# ``run_partitions(prepared, out_dir, config, count)``. The default runs them as one wave
# with the other tables of the table's level.
RunPartitions = Callable[[PreparedTable, Path, Config, int], list[PartResult]]
# Runs a wave's jobs (independent of each other) and returns their results in order.
RunWave = Callable[[list["Job"]], list]

__all__ = [
    "Job",
    "TableReport",
    "ValidationReport",
    "connect",
    "in_process",
    "run_job",
    "validate_directory",
    "waves",
]


@dataclass(frozen=True)
class Job:
    """One unit of validation work, a small picklable value: ``prepare`` a table,
    ``check`` one partition of a prepared table, or ``finish`` a table from its parts."""

    step: str  # "prepare", "check" or "finish"
    table: str
    prepared: PreparedTable | None = None  # check, finish
    partition: tuple[int, int] = (0, 1)  # check: (index, count)
    parts: tuple[PartResult, ...] = ()  # finish
    max_columns: int = MAX_COLUMNS  # prepare


# One validation job at a time in a process. A job run as a task opens a DuckDB database
# of its own, with DuckDB's whole share of resources.memory_limit and all its threads: a
# flow's thread-pool task runner (or a Dask worker with several threads) running a wave's
# jobs at once would multiply both (9 tables of a level: 9 shares, 18 threads on 2 cores).
_ONE_AT_A_TIME = threading.Lock()


def run_job(data_dir: Path | str, out_dir: Path | str, config: Config, job: Job,
            con: duckdb.DuckDBPyConnection | None = None) -> PreparedTable | PartResult | TableReport | None:
    """Run one :class:`Job` (on ``con``, or on a connection of its own as a task; such
    tasks run one at a time per process, each DuckDB's share of the memory limit)."""
    if con is not None:
        return _run(data_dir, out_dir, config, job, con)
    with _ONE_AT_A_TIME:
        return _run(data_dir, out_dir, config, job, None)


def _run(data_dir: Path | str, out_dir: Path | str, config: Config, job: Job,
         con: duckdb.DuckDBPyConnection | None) -> PreparedTable | PartResult | TableReport | None:
    if job.step == "prepare":
        return prepare_table(data_dir, out_dir, job.table, config, job.max_columns, con)
    if job.step == "check":
        return validate_partition(job.prepared, out_dir, config, job.partition, con)
    if job.step == "finish":
        return finish_table(job.prepared, list(job.parts), out_dir, config, con)
    raise ValueError(f"a validation job's step must be prepare, check or finish. Got {job.step!r} instead.")


def parent_tables(table: str) -> tuple[str, ...]:
    """The tables whose validated files ``table``'s checks read (``parents.load_parents``)."""
    if table == "schools":
        return ()
    if table == "students":
        return ("schools",)
    if table == "attendance":
        return ("schools", "students", "enrollments")
    return ("schools", "students")


def waves(tables: list[str]) -> list[list[str]]:
    """``tables`` (in table order) by level: a table comes after every parent it has."""
    level: dict[str, int] = {}
    for table in tables:
        level[table] = max((level[p] + 1 for p in parent_tables(table) if p in level), default=0)
    return [[t for t in tables if level[t] == n] for n in range(max(level.values(), default=-1) + 1)]


def in_process(prepared: PreparedTable, out_dir: Path, config: Config, count: int,
               con: duckdb.DuckDBPyConnection | None = None) -> list[PartResult]:
    """Every partition of ``prepared``, one after the other in this process."""
    return [validate_partition(prepared, out_dir, config, (i, count), con)
            for i in range(count)]


def validate_directory(
    data_dir: Path | str,
    out_dir: Path | str,
    config: Config | None = None,
    progress: Progress | None = None,
    *,
    partitions: int | None = None,
    run_partitions: RunPartitions = in_process,
    run_wave: RunWave | None = None,
    max_columns: int | None = None,
) -> ValidationReport:
    """Validate every contract table in ``data_dir``; write accepted and rejected rows.

    ``partitions``: each table is checked in that many hash partitions of its key
    (default ``resources.validation_partitions``; the outputs are the same rows for any
    number; one is fastest on one machine). ``max_columns`` (default
    ``engine.max_columns``): a wider header is refused before it is parsed. ``run_wave``: runs each wave's jobs (default:
    here, one after the other, on one connection)."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    config = config or load_config()
    partitions = config.resources.validation_partitions if partitions is None else partitions
    max_columns = config.engine.max_columns if max_columns is None else max_columns
    say = progress or (lambda _msg: None)
    if not data_dir.is_dir():
        raise SchemaError(f"data directory {data_dir} does not exist or is not a folder.")
    if not (isinstance(partitions, int) and partitions >= 1):
        raise ValueError(f"partitions must be a whole number >= 1. Got {partitions!r} instead.")
    validated, quarantine = out_dir / "validated", out_dir / "validation" / "quarantine"
    for folder in (validated, quarantine, out_dir / "validation" / ".parts"):
        shutil.rmtree(folder, ignore_errors=True)
    for folder in (validated, quarantine):
        folder.mkdir(parents=True)
    workdir = out_dir / ".tmp" / f"validation-{os.getpid()}"
    try:
        with ExitStack() as stack:
            run = run_wave or _here(data_dir, out_dir, config,
                                    stack.enter_context(pooled(config, workdir)))
            found = found_tables(run, max_columns)
            reports = _validate(found, partitions, run, run_partitions, out_dir, config, say)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(out_dir / "validation" / ".parts", ignore_errors=True)
        _remove_if_empty(out_dir / ".tmp")
    missing = [t for t in TABLE_ORDER if t not in found]
    warnings = [w for p in found.values() for w in p.file_warnings]
    in_order = {t: reports[t] for t in found}  # the report lists tables in table order
    return write_report(data_dir, out_dir, config, in_order, missing, warnings)


def _here(data_dir: Path, out_dir: Path, config: Config, con: duckdb.DuckDBPyConnection) -> RunWave:
    """Runs a wave's jobs here, one after the other, on ``con``."""
    return lambda jobs: [run_job(data_dir, out_dir, config, job, con) for job in jobs]


def found_tables(run: RunWave, max_columns: int) -> dict[str, PreparedTable]:
    """Every table the district provides, prepared (a wave of prepare jobs)."""
    prepared = run([Job("prepare", t, max_columns=max_columns) for t in TABLE_ORDER])
    return {p.table: p for p in prepared if p is not None}


def _validate(found: dict[str, PreparedTable], partitions: int, run: RunWave,
              run_partitions: RunPartitions, out_dir: Path, config: Config,
              say: Progress) -> dict[str, TableReport]:
    """The prepared tables checked and finished, level by level."""
    reports: dict[str, TableReport] = {}
    for level in waves(list(found)):
        for table in level:
            say(f"validating {table} ({found[table].source.path.name})")
        reports.update(_level(level, found, partitions, run, run_partitions, out_dir, config))
    return reports


def _level(level: list[str], found: dict[str, PreparedTable], count: int, run: RunWave,
           run_partitions: RunPartitions, out_dir: Path, config: Config) -> dict[str, TableReport]:
    """One level's tables: a wave of every partition check, then a wave of finishes."""
    if run_partitions is in_process:
        checked = run([Job("check", t, found[t], (i, count)) for t in level for i in range(count)])
    else:
        checked = [r for t in level for r in run_partitions(found[t], out_dir, config, count)]
    finished = run([Job("finish", t, found[t], parts=tuple(r for r in checked if r.table == t))
                    for t in level])
    return dict(zip(level, finished, strict=True))


def write_report(data_dir: Path, out_dir: Path, config: Config, reports: dict[str, TableReport],
                 missing: list[str], warnings: list[str]) -> ValidationReport:
    """The run's report, written to ``OUT/validation/report.json``."""
    if "attendance" in missing and "attendance_summary" in missing:
        warnings = [*warnings, ("neither attendance nor attendance_summary is present: "
                                "attendance criteria will be unknown.")]
    result = ValidationReport(
        data_dir=str(data_dir),
        out_dir=str(out_dir),
        config_hash=config.config_hash,
        config_version=config.config_version,
        tables=reports,
        missing_tables=tuple(missing),
        warnings=tuple(warnings + [w for r in reports.values() for w in r.warnings]),
    )
    report_path = out_dir / "validation" / "report.json"
    report_path.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    return result


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # absent, or holding another stage's spill files
