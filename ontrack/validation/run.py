"""Validate a district data directory against the contract (CONTRACT §1).

``validate_directory`` reads every table with DuckDB (out of core), types each value,
checks it, and splits the rows: accepted rows go to ``OUT/validated/<table>.parquet``
(typed, the contract's columns plus a few derived ones), rejected rows to
``OUT/validation/quarantine/<table>.csv`` with the original text and the reason.
Always ``rows_in == rows_accepted + rows_quarantined`` per table (checked here, and
reported in ``OUT/validation/report.json``). A table that cannot be used at all (missing
file, unreadable, empty, missing a required column) raises :class:`SchemaError`.

Checks run in table order so that references point to rows already accepted: an
enrollment needs a known student and school; an attendance day needs an enrollment at
that school covering that date.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ontrack import __version__
from ontrack.validation.checks import calendar_rows, defused_sql, ident, literal, mark_map_rows, typed
from ontrack.config import Config, load_config
from ontrack.errors import SchemaError
from ontrack.validation.reading import (
    ROW_ID,
    SourceFile,
    collect_rejects,
    find_table_file,
    header_columns,
    load_raw,
    quarantine_lines,
    sniff_csv,
)
from ontrack.validation.row_checks import build_typed, drop_typed, find_row_problems
from ontrack.tables import NAME_COLUMNS, SCHEMAS, TABLE_ORDER, TableSchema

Progress = Callable[[str], None]
PARENT_TABLES = ("schools", "students", "enrollments")
WITHHELD = "(withheld: a name)"


@dataclass(frozen=True)
class TableReport:
    """What happened to one table: rows in, accepted, quarantined and why."""

    table: str
    file: str
    format: str
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    errors: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    missing_optional_columns: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one data directory."""

    data_dir: str
    out_dir: str
    config_hash: str
    config_version: int
    tables: dict[str, TableReport]
    missing_tables: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def validated_dir(self) -> Path:
        """Where the accepted, typed tables were written."""
        return Path(self.out_dir) / "validated"

    def to_json(self) -> dict:
        """The report as written to ``OUT/validation/report.json``."""
        payload = asdict(self)
        payload["ontrack_version"] = __version__
        payload["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return payload


def connect(config: Config, workdir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the configured memory limit, spilling to ``workdir``."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    con.execute(f"SET memory_limit = {literal(config.engine.memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    if config.engine.threads:
        con.execute(f"SET threads = {int(config.engine.threads)}")
    if workdir is None:  # never spill into the caller's working directory
        workdir = Path(tempfile.gettempdir()) / f"ontrack-duckdb-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = {literal(str(workdir))}")
    return con


def validate_directory(
    data_dir: Path | str,
    out_dir: Path | str,
    config: Config | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """Validate every contract table in ``data_dir``; write accepted and rejected rows."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    config = config or load_config()
    say = progress or (lambda _msg: None)
    if not data_dir.is_dir():
        raise SchemaError(f"data directory {data_dir} does not exist or is not a folder.")
    validated, quarantine = out_dir / "validated", out_dir / "validation" / "quarantine"
    for folder in (validated, quarantine):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    tmp = out_dir / ".tmp"
    con = connect(config, tmp)
    reports: dict[str, TableReport] = {}
    missing: list[str] = []
    warnings: list[str] = []
    try:
        for table in TABLE_ORDER:
            schema = SCHEMAS[table]
            path, found_warnings = find_table_file(data_dir, table)
            warnings += found_warnings
            if path is None:
                if schema.required:
                    raise SchemaError(
                        f"table {table} is required but {data_dir} has neither "
                        f"{table}.csv nor {table}.parquet."
                    )
                missing.append(table)
                continue
            say(f"validating {table} ({path.name})")
            report = _validate_table(con, schema, path, config, validated, quarantine)
            reports[table] = report
            if table == "schools":
                _build_calendars(con, config)
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if "attendance" in missing and "attendance_summary" in missing:
        warnings.append(
            "neither attendance nor attendance_summary is present: attendance "
            "criteria will be unknown."
        )
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


def _source_for(schema: TableSchema, path: Path) -> SourceFile:
    if path.suffix == ".parquet":
        return SourceFile(schema.name, path, "parquet")
    return sniff_csv(path, schema.name)


def _check_header(schema: TableSchema, source: SourceFile, columns: list[str]) -> None:
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise SchemaError(
            f"table {schema.name} ({source.path}): column names must be unique. "
            f"Got {', '.join(duplicated)} more than once."
        )
    absent = [c for c in schema.required_columns if c not in columns]
    if absent:
        raise SchemaError(
            f"table {schema.name} ({source.path}): missing required column"
            f"{'s' if len(absent) > 1 else ''} {', '.join(absent)}.\n"
            f"  expected (required): {', '.join(schema.required_columns)}\n"
            f"  found:               {', '.join(columns) or '(no columns)'}\n"
            f"  missing:             {', '.join(absent)}"
        )


def _validate_table(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    path: Path,
    config: Config,
    validated: Path,
    quarantine: Path,
) -> TableReport:
    source = _source_for(schema, path)
    columns = header_columns(con, source)
    _check_header(schema, source, columns)
    districts = _district_ids(con) if schema.name != "schools" else []
    source, malformed = _read_rows(con, schema, source, columns, config, districts)
    # raw_t is a Parquet file (the input, or a CSV's copy): counted from its metadata.
    rows_in = con.execute("SELECT count(*) FROM raw_t").fetchall()[0][0] + len(malformed)
    if rows_in == 0 and schema.required:
        raise SchemaError(
            f"table {schema.name} ({path}): the file has a header but no rows; "
            f"{schema.name} is required. Expected {schema.description.lower()}"
        )
    find_row_problems(con, schema)
    accepted = _write_accepted(con, schema, validated)
    n_bad = _write_quarantine(con, columns, malformed, quarantine / f"{schema.name}.csv", config,
                              withheld=tuple(c for c in columns if c in NAME_COLUMNS),
                              source=source)
    errors = _error_kinds(con, malformed)
    if rows_in != accepted + n_bad:  # pragma: no cover - a bug, never a data problem
        raise AssertionError(f"{schema.name}: {rows_in} in != {accepted} + {n_bad}")
    drop_typed(con)
    con.execute("DROP VIEW IF EXISTS raw_t")
    ignored = tuple(c for c in columns if c not in schema.column_names)
    warns = list(source.warnings)
    if ignored:
        warns.append(f"{schema.name}: ignored unknown column(s) {', '.join(ignored)}.")
    return TableReport(
        table=schema.name,
        file=str(path),
        format=source.format,
        rows_in=rows_in,
        rows_accepted=accepted,
        rows_quarantined=n_bad,
        errors=errors,
        ignored_columns=ignored,
        missing_optional_columns=tuple(c for c in schema.column_names if c not in columns),
        warnings=tuple(warns),
    )


def _read_rows(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    source: SourceFile,
    columns: list[str],
    config: Config,
    districts: list[str],
) -> tuple[SourceFile, list[tuple[int, str, str]]]:
    """Build ``typed_t`` from the file; return the source as read (a CSV that is not
    UTF-8 is read again as Latin-1) and its malformed lines.

    A CSV's text copy keeps the file's order (``preserve_insertion_order`` on for that
    one scan), so its row numbers are the records' ordinals and a quarantined row can
    name its line in the file."""
    if source.format == "csv":
        con.execute("SET preserve_insertion_order = true")
    try:
        numbered = load_raw(con, source, columns, "raw_t")
        build_typed(con, schema, columns, config, districts, numbered=numbered)
        malformed = collect_rejects(con, source)
        if source.format == "csv" and source.encoding == "utf-8" and any(
            "INVALID ENCODING" in m[2] for m in malformed
        ):
            note = f"{schema.name}: {source.path.name} is not UTF-8; read as Latin-1."
            source = replace(source, encoding="latin-1", warnings=(*source.warnings, note))
            numbered = load_raw(con, source, columns, "raw_t")
            build_typed(con, schema, columns, config, districts, numbered=numbered)
            malformed = collect_rejects(con, source)
    finally:
        con.execute("SET preserve_insertion_order = false")
    return source, malformed


ACCEPTED_ROWS = (
    f"FROM typed_t WHERE __row_reason IS NULL AND {ROW_ID} NOT IN (SELECT rid FROM bad_t)"
)


def _write_accepted(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, validated: Path
) -> int:
    select = ", ".join(
        [f"{typed(c.name)} AS {ident(c.name)}" for c in schema.columns]
        + [ident(d.name) for d in schema.derived]
    )
    target = validated / f"{schema.name}.parquet"
    if schema.name in PARENT_TABLES:
        extra = ", __year_end" if schema.name == "enrollments" else ""
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE ok_{schema.name} AS "
            f"SELECT {select}{extra} {ACCEPTED_ROWS}"
        )
        plain = ", ".join(ident(c) for c in (*schema.column_names, *(d.name for d in schema.derived)))
        source = f"SELECT {plain} FROM ok_{schema.name}"
    else:
        source = f"SELECT {select} {ACCEPTED_ROWS}"
    # Row order is left to the threads (preserve_insertion_order is off): these files
    # are the later stages' input, not a report, and every output built from them is
    # ordered on its own key. Sorting them by ROW_ID cost +27% CPU and +0.3 GB peak
    # at 20k students with memory_limit 700MB (docs/indicators.md, reproducible outputs).
    con.execute(f"COPY ({source}) TO {literal(str(target))} (FORMAT parquet)")
    return con.execute(
        f"SELECT count(*) FROM read_parquet({literal(str(target))})"
    ).fetchall()[0][0]


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    malformed: list[tuple[int, str, str]],
    target: Path,
    config: Config,
    withheld: tuple[str, ...] = (),
    source: SourceFile | None = None,
) -> int:
    """Rejected rows as they came, with the reason, in input order, each with its
    ``source_line`` (the 1-based line in a CSV, the 1-based row of a Parquet file) and
    ``raw_line`` (the CSV line's text; empty for Parquet). The ``withheld`` columns
    (students' names) show only whether they were filled: names never reach an error
    or log, and the student ID is enough to find the row; so is the line number, whose
    text is then withheld too."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejected_rows_t AS SELECT t.*, "
        "COALESCE(t.__row_reason, b.reason) AS __reason FROM typed_t t "
        f"LEFT JOIN bad_t b ON t.{ROW_ID} = b.rid "
        "WHERE t.__row_reason IS NOT NULL OR b.rid IS NOT NULL"
    )
    rids = [r[0] for r in con.execute(f"SELECT {ROW_ID} FROM rejected_rows_t").fetchall()]
    lines, malformed = quarantine_lines(source, rids, malformed, WITHHELD if withheld else None)
    con.execute("CREATE OR REPLACE TEMP TABLE lines_t (rid BIGINT, line BIGINT, raw_line VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE malformed_t "
                "(line BIGINT, raw_line VARCHAR, problem VARCHAR)")
    if lines:
        con.executemany("INSERT INTO lines_t VALUES (?, ?, ?)", lines)
    if malformed:
        con.executemany("INSERT INTO malformed_t VALUES (?, ?, ?)", malformed)
    cols = ", ".join(
        f"CASE WHEN t.{ident(c)} IS NULL THEN NULL ELSE {literal(WITHHELD)} END AS {ident(c)}"
        if c in withheld else f"t.{ident(c)}" for c in columns)
    nulls = ", ".join(f"NULL AS {ident(c)}" for c in columns)
    stamp = literal(config.config_hash)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE rejected_t AS
        SELECT {cols}, l.line AS source_line, l.raw_line AS raw_line,
               t.__reason AS reason, {stamp} AS config_hash, t.{ROW_ID} AS __order
        FROM rejected_rows_t t LEFT JOIN lines_t l ON t.{ROW_ID} = l.rid
        UNION ALL
        SELECT {nulls}, line, raw_line, 'malformed_line: ' || problem, {stamp}, NULL
        FROM malformed_t"""
    )
    n_bad = con.execute("SELECT count(*) FROM rejected_t").fetchall()[0][0]
    if n_bad:  # the input's order (rows, then malformed lines): the same every run
        kinds = con.execute("SELECT column_name, column_type FROM (DESCRIBE rejected_t)").fetchall()
        shown = ", ".join(  # text as a spreadsheet shows it, never as a formula it runs
            f"{defused_sql(ident(n))} AS {ident(n)}" if kind == "VARCHAR" else ident(n)
            for n, kind in kinds if n != "__order")
        con.execute(
            f"COPY (SELECT {shown} FROM rejected_t "
            "ORDER BY __order NULLS LAST, source_line) "
            f"TO {literal(str(target))} (HEADER, DELIMITER ',')"
        )
    con.execute("DROP TABLE rejected_rows_t; DROP TABLE lines_t")
    return int(n_bad)


def _error_kinds(
    con: duckdb.DuckDBPyConnection, malformed: list[tuple[int, str, str]]
) -> dict[str, int]:
    rows = con.execute(
        "SELECT split_part(r, ':', 1) AS kind, count(*) FROM "
        "(SELECT unnest(string_split(reason, '; ')) AS r FROM rejected_t "
        "WHERE NOT starts_with(reason, 'malformed_line')) GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    kinds = {str(kind): int(n) for kind, n in rows}
    if malformed:
        kinds["malformed_line"] = len(malformed)
    con.execute("DROP TABLE IF EXISTS rejected_t; DROP TABLE IF EXISTS malformed_t")
    return kinds


def _district_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    try:
        rows = con.execute("SELECT DISTINCT district_id FROM ok_schools ORDER BY 1").fetchall()
    except duckdb.CatalogException:
        return []
    return [r[0] for r in rows]


def _build_calendars(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Per-school calendars and per-district mark scales, from the accepted schools."""
    districts = _district_ids(con)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE district_start "
        "(district_id VARCHAR, start_month INTEGER, start_day INTEGER)"
    )
    rows = calendar_rows(config, districts)
    if rows:
        con.executemany("INSERT INTO district_start VALUES (?, ?, ?)", rows)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE school_calendar AS SELECT s.school_id, s.district_id, "
        "d.start_month, d.start_day FROM ok_schools s JOIN district_start d USING (district_id)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE mark_map "
        "(district_id VARCHAR, mark VARCHAR, letter VARCHAR, points DOUBLE)"
    )
    con.executemany("INSERT INTO mark_map VALUES (?, ?, ?, ?)", mark_map_rows(config, districts))
