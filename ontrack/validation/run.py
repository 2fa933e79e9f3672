"""Validate a district data directory against the contract (CONTRACT §1).

``validate_directory`` reads every table with DuckDB (out of core), types each value,
checks it, and splits the rows: accepted rows go to ``OUT/validated/<table>.parquet``
(typed, the contract's columns plus a few derived ones), rejected rows to
``OUT/validation/quarantine/<table>.csv`` with the original text and the reason.
Always ``rows_in == rows_accepted + rows_quarantined`` per table (checked here, and
reported in ``OUT/validation/report.json``). A table that cannot be used at all (missing
file, unreadable, empty, missing a required column, an absurdly wide header) raises
:class:`SchemaError`.

Tables are validated in table order so that references point to rows already accepted:
an enrollment needs a known student and school; an attendance day needs an enrollment
at that school covering that date. Each table is one pass over its file, optionally in
hash partitions run by any executor (``ontrack.validation.partition``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
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
from ontrack.validation.store import connect

Progress = Callable[[str], None]
# Runs every partition of a prepared table and returns their results in any order:
# ``run_partitions(prepared, out_dir, config, count)``. The default runs them here, one
# after the other, on the run's connection; a Dask executor submits
# ``validate_partition(prepared, out_dir, config, (i, count))`` for each instead.
RunPartitions = Callable[[PreparedTable, Path, Config, int], list[PartResult]]

__all__ = ["TableReport", "ValidationReport", "connect", "validate_directory", "in_process"]


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
    partitions: int = 1,
    run_partitions: RunPartitions = in_process,
    max_columns: int = MAX_COLUMNS,
) -> ValidationReport:
    """Validate every contract table in ``data_dir``; write accepted and rejected rows.

    ``partitions``: each table is checked in that many hash partitions of its key (the
    outputs are the same rows for any number; one is fastest on one machine)."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    config = config or load_config()
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
    reports: dict[str, TableReport] = {}
    missing: list[str] = []
    warnings: list[str] = []
    workdir = out_dir / ".tmp" / f"validation-{os.getpid()}"
    con = connect(config, workdir)  # one for the run's own steps: opening one costs ~20 ms
    try:
        for table in TABLE_ORDER:
            prepared = prepare_table(data_dir, out_dir, table, config, max_columns, con)
            if prepared is None:
                missing.append(table)
                continue
            warnings += prepared.file_warnings
            say(f"validating {table} ({prepared.source.path.name})")
            if run_partitions is in_process:
                parts = in_process(prepared, out_dir, config, partitions, con)
            else:
                parts = run_partitions(prepared, out_dir, config, partitions)
            reports[table] = finish_table(prepared, parts, out_dir, config, con)
    finally:
        con.close()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(out_dir / "validation" / ".parts", ignore_errors=True)
        _remove_if_empty(out_dir / ".tmp")
    return write_report(data_dir, out_dir, config, reports, missing, warnings)


def write_report(data_dir: Path, out_dir: Path, config: Config, reports: dict[str, TableReport],
                 missing: list[str], warnings: list[str]) -> ValidationReport:
    """The run's report, written to ``OUT/validation/report.json``."""
    if "attendance" in missing and "attendance_summary" in missing:
        warnings = [*warnings, "neither attendance nor attendance_summary is present: "
                    "attendance criteria will be unknown."]
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
