"""``import_edfi``: an Ed-Fi ODS table export -> a CONTRACT §1 data directory.

The steps run in dependency order on one in-memory DuckDB connection whose views read
the export's files directly (nothing is loaded into pandas): descriptors are resolved
through the mapping, instructional days are derived, enrollments are staged, and then
each contract table is written with ``COPY ... TO`` so even a large attendance table
streams to disk.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from ontrack.edfi import attendance, events, mappings, marks
from ontrack.edfi.context import ImportContext
from ontrack.edfi.descriptors import create_resolution_table
from ontrack.edfi.mapping_file import load_mapping
from ontrack.edfi.reader import EdfiSource
from ontrack.edfi.report import EdfiImportReport
from ontrack.errors import SchemaError

REQUIRED_TABLES = ("Student", "School", "StudentSchoolAssociation", "Descriptor")
REQUIRED_COLUMNS = {
    "Student": ("StudentUSI",),
    "School": ("SchoolId",),
    "StudentSchoolAssociation": ("StudentUSI", "SchoolId", "EntryDate",
                                 "EntryGradeLevelDescriptorId"),
    "Descriptor": ("DescriptorId", "Namespace", "CodeValue"),
}
OPTIONAL_STEPS = (
    ("attendance", "StudentSchoolAttendanceEvent", attendance.write_attendance),
    ("course_marks", "CourseTranscript", marks.write_course_marks),
    ("discipline", "DisciplineAction", events.write_discipline),
    ("assessments", "StudentAssessment", events.write_assessments),
)
REPORT_FILE = "edfi_import_report.json"
SPILL = ".spill"  # DuckDB's spill folder inside dest while an import runs


def import_edfi(
    source: Path,
    dest: Path,
    *,
    school_year: int | None = None,
    mapping_file: Path | None = None,
    progress: Callable[[str], None] | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> EdfiImportReport:
    """Read an Ed-Fi ODS export and write a contract data directory.

    Parameters
    ----------
    source : folder with one file per ODS table (``Table.csv``, ``Table.parquet`` or
        ``Table/*.parquet``). Student, School, StudentSchoolAssociation and Descriptor
        are required; every other table is optional.
    dest : output folder (created if needed): ``<table>.csv``, ``edfi_import_report.json``.
    school_year : import only this Ed-Fi SchoolYear (2011 = 2010-11); default every year.
    mapping_file : a district's descriptor mapping, merged over ``descriptor_map.yaml``.
    progress : called with a short message at each step; ``memory_limit`` (e.g. ``"2GB"``;
        DuckDB spills beyond it, inside ``dest``) and ``threads`` (default: all cores).

    Returns the :class:`EdfiImportReport` (rows, unmapped descriptors, rejections, notes).
    Raises SchemaError for a missing required table or column, ConfigError for a bad mapping.

    >>> import_edfi(Path("no/such/export"), Path("out"))
    Traceback (most recent call last):
    ...
    ontrack.errors.SchemaError: Ed-Fi export no/such/export must be a folder of ...
    """
    started = time.perf_counter()
    mapping = load_mapping(mapping_file)
    con = _connect(memory_limit, threads)
    try:
        src = EdfiSource(Path(source), con)
        _check_required(src)
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(dest / SPILL)])  # not .tmp of the cwd
        ctx = ImportContext(con, src, mapping, dest, school_year, progress)
        try:
            _run_steps(ctx)
            ctx.say("counting unmapped descriptor values")
            ctx.collect_unmapped()
        except duckdb.Error as err:
            raise SchemaError(_read_error(src, ctx.step, err)) from None
    finally:
        con.close()
        shutil.rmtree(Path(dest) / SPILL, ignore_errors=True)
    report = EdfiImportReport(
        source=Path(source), dest=dest, school_year=school_year,
        mapping_files=mapping.sources, rows_written=ctx.log.rows_written,
        rows_read=dict(sorted(ctx.log.rows_read.items())),
        unmapped=tuple(ctx.log.unmapped),
        rejections=tuple(ctx.log.rejections), notes=tuple(ctx.log.notes),
        seconds=round(time.perf_counter() - started, 3),
    )
    report.write_json(dest / REPORT_FILE)
    return report


def _connect(memory_limit: str | None, threads: int | None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the import's memory limit and threads."""
    con = duckdb.connect()
    if memory_limit:
        limit = memory_limit.replace("'", "''")
        con.execute(f"SET memory_limit = '{limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con

def _read_error(src: EdfiSource, step: str, err: duckdb.Error) -> str:
    """A message for a file DuckDB could not read, without the offending row.

    DuckDB quotes the bad line of a CSV in its message; only its first line (the kind
    of error and the line number) is kept, because the row may hold student data.
    """
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (
        f"Ed-Fi export {src.root}: a table could not be read while {step} ({first}). "
        "Every file must be a CSV with a header row and the same number of fields "
        "on every line, or a Parquet file."
    )


def _check_required(src: EdfiSource) -> None:
    """SchemaError naming the missing required table or column, if any."""
    src.require(REQUIRED_TABLES)
    for table, columns in REQUIRED_COLUMNS.items():
        missing = [c for c in columns if not src.has_column(table, c)]
        if missing:
            raise SchemaError(
                f"Ed-Fi export {src.root}: table {table} ({src.file_label(table)}) "
                f"must have columns {', '.join(columns)}. "
                f"Missing: {', '.join(missing)}."
            )


def _run_steps(ctx: ImportContext) -> None:
    """Every mapping step, in dependency order."""
    ctx.say("resolving descriptors through the mapping")
    descriptors = ctx.rel("Descriptor", ["DescriptorId", "Namespace", "CodeValue"])
    create_resolution_table(ctx.con, descriptors, ctx.mapping)
    ctx.stage_ids()
    attendance.build_calendar(ctx)
    mappings.write_schools(ctx)
    mappings.write_students(ctx)
    ctx.say("staging enrollments")
    mappings.stage_enrollments(ctx)
    mappings.write_enrollments(ctx)
    mappings.write_student_years(ctx)
    for table, needed, step in OPTIONAL_STEPS:
        if table == "course_marks" and ctx.src.has("Grade"):
            step(ctx)
        elif ctx.src.has(needed):
            step(ctx)
        else:
            ctx.log.note(
                f"{table}: the export has no {needed} table; {table}.csv not written."
            )
    ctx.log.note(
        "outcomes: not imported. The contract's outcomes (graduated, dropped out, ...) "
        "need multi-year records; no outcomes.csv was written."
    )
