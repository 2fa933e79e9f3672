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
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ontrack import __version__
from ontrack.checks import (
    calendar_rows,
    column_reasons,
    ident,
    literal,
    mark_map_rows,
    parse_expr,
    typed,
)
from ontrack.config import Config, load_config
from ontrack.errors import SchemaError
from ontrack.reading import SourceFile, find_table_file, header_columns, load_raw, sniff_csv
from ontrack.table_rules import rules_for_table
from ontrack.tables import SCHEMAS, TABLE_ORDER, TableSchema

Progress = Callable[[str], None]
PARENT_TABLES = ("schools", "students", "enrollments")


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
    malformed = load_raw(con, source, columns, "raw_t")
    if source.format == "csv" and source.encoding == "utf-8" and any(
        "INVALID ENCODING" in m[2] for m in malformed
    ):
        source = SourceFile(
            schema.name,
            path,
            "csv",
            "latin-1",
            source.delimiter,
            (*source.warnings, f"{schema.name}: {path.name} is not UTF-8; read as Latin-1."),
        )
        malformed = load_raw(con, source, columns, "raw_t")
    parsed_rows = con.execute("SELECT count(*) FROM raw_t").fetchall()[0][0]
    rows_in = parsed_rows + len(malformed)
    if rows_in == 0 and schema.required:
        raise SchemaError(
            f"table {schema.name} ({path}): the file has a header but no rows; "
            f"{schema.name} is required. Expected one row per {schema.description}"
        )
    ignored = tuple(c for c in columns if c not in schema.column_names)
    absent_optional = tuple(c for c in schema.column_names if c not in columns)
    _build_typed(con, schema, columns, config)
    _build_checked(con, schema)
    accepted = _write_accepted(con, schema, validated)
    n_bad = _write_quarantine(con, schema, columns, malformed, quarantine, config)
    errors = _error_kinds(con, malformed)
    if rows_in != accepted + n_bad:  # pragma: no cover - a bug, never a data problem
        raise AssertionError(f"{schema.name}: {rows_in} in != {accepted} + {n_bad}")
    warns = list(source.warnings)
    if ignored:
        warns.append(f"{schema.name}: ignored unknown column(s) {', '.join(ignored)}.")
    con.execute("DROP TABLE IF EXISTS raw_t; DROP TABLE IF EXISTS typed_t")
    return TableReport(
        table=schema.name,
        file=str(path),
        format=source.format,
        rows_in=rows_in,
        rows_accepted=accepted,
        rows_quarantined=n_bad,
        errors=errors,
        ignored_columns=ignored,
        missing_optional_columns=absent_optional,
        warnings=tuple(warns),
    )


def _build_typed(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, columns: list[str], config: Config
) -> None:
    """raw text + typed twins (``__col``) + the row-level reason ``__row_reason``."""
    filled = ", ".join(
        f"CAST(NULL AS VARCHAR) AS {ident(c)}" for c in schema.column_names if c not in columns
    )
    base = f"SELECT *{', ' + filled if filled else ''} FROM raw_t"
    parsed = ", ".join(f"{parse_expr(c)} AS {typed(c.name)}" for c in schema.columns)
    districts = _district_ids(con) if schema.name != "schools" else []
    rules = rules_for_table(schema.name, config, districts)
    reasons = [r for c in schema.columns for r in column_reasons(c)]
    reasons += list(rules.reasons)
    derived = "".join(f", {expr} AS {ident(name)}" for name, expr in rules.derived)
    reason_sql = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')" if reasons else "NULL"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE typed_t AS "
        f"WITH b AS ({base}), p AS (SELECT *, {parsed} FROM b) "
        f"SELECT p.*{derived}, {reason_sql} AS __row_reason FROM p {rules.joins}"
    )


def _build_checked(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> None:
    """Add duplicate and reference reasons; ``__reason`` is NULL for accepted rows."""
    all_typed = ", ".join(typed(c.name) for c in schema.columns)
    key = schema.key or tuple(c.name for c in schema.columns)
    key_typed = ", ".join(typed(k) for k in key)
    key_names = ", ".join(key)
    refs = _reference_reasons(schema)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE checked_t AS
        WITH d AS (
            SELECT *, row_number() OVER (PARTITION BY (__row_reason IS NULL), {all_typed}) AS __rn,
                   hash({all_typed}) AS __h
            FROM typed_t
        ), k AS (
            SELECT *,
              CASE WHEN __row_reason IS NULL AND __rn > 1
                   THEN 'duplicate_row: an identical row appears earlier in the file' END AS __dup,
              CASE WHEN __row_reason IS NULL AND __rn = 1
                        AND min(__h) OVER w <> max(__h) OVER w
                   THEN 'duplicate_key: other rows have the same {key_names} with different values'
              END AS __conflict
            FROM d
            WINDOW w AS (PARTITION BY (__row_reason IS NULL AND __rn = 1), {key_typed})
        )
        SELECT k.*, NULLIF(concat_ws('; ', __row_reason, __dup, __conflict{refs}), '') AS __reason
        FROM k
        """
    )


def _reference_reasons(schema: TableSchema) -> str:
    names = schema.column_names
    parts = []
    if schema.name == "attendance":
        parts.append(
            "CASE WHEN __row_reason IS NULL AND NOT EXISTS (SELECT 1 FROM ok_enrollments e "
            "WHERE e.student_id = k.__student_id AND e.school_id = k.__school_id AND "
            "k.__date BETWEEN e.entry_date AND COALESCE(e.exit_date, e.__year_end)) "
            "THEN 'no_enrollment[date]: no enrollment of this student at this school "
            "covers ' || CAST(k.__date AS VARCHAR) END"
        )
        return "".join(f", {p}" for p in parts)
    if "student_id" in names and schema.name != "students":
        parts.append(
            "CASE WHEN __row_reason IS NULL AND k.__student_id NOT IN "
            "(SELECT student_id FROM ok_students) THEN "
            "'unknown_reference[student_id]: ' || k.__student_id || ' is not in students' END"
        )
    if "school_id" in names and schema.name != "schools":
        parts.append(
            "CASE WHEN __row_reason IS NULL AND k.__school_id NOT IN "
            "(SELECT school_id FROM ok_schools) THEN "
            "'unknown_reference[school_id]: ' || k.__school_id || ' is not in schools' END"
        )
    return "".join(f", {p}" for p in parts)


def _write_accepted(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, validated: Path
) -> int:
    rules_cols = [d.name for d in schema.derived]
    select = ", ".join(
        [f"{typed(c.name)} AS {ident(c.name)}" for c in schema.columns]
        + [ident(n) for n in rules_cols]
    )
    target = validated / f"{schema.name}.parquet"
    con.execute(
        f"COPY (SELECT {select} FROM checked_t WHERE __reason IS NULL) "
        f"TO {literal(str(target))} (FORMAT parquet)"
    )
    if schema.name in PARENT_TABLES:
        extra = ", __year_end" if schema.name == "enrollments" else ""
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE ok_{schema.name} AS "
            f"SELECT {select}{extra} FROM checked_t WHERE __reason IS NULL"
        )
    return con.execute("SELECT count(*) FROM checked_t WHERE __reason IS NULL").fetchall()[0][0]


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    columns: list[str],
    malformed: list[tuple[int, str, str]],
    quarantine: Path,
    config: Config,
) -> int:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE malformed_t (line BIGINT, raw_line VARCHAR, problem VARCHAR)"
    )
    if malformed:
        con.executemany("INSERT INTO malformed_t VALUES (?, ?, ?)", malformed)
    n_bad = con.execute(
        "SELECT (SELECT count(*) FROM checked_t WHERE __reason IS NOT NULL) + "
        "(SELECT count(*) FROM malformed_t)"
    ).fetchall()[0][0]
    if n_bad == 0:
        return 0
    file_cols = ", ".join(ident(c) for c in columns)
    nulls = ", ".join(f"NULL AS {ident(c)}" for c in columns)
    stamp = literal(config.config_hash)
    target = quarantine / f"{schema.name}.csv"
    con.execute(
        f"COPY (SELECT {file_cols}, NULL AS source_line, NULL AS raw_line, __reason AS reason, "
        f"{stamp} AS config_hash FROM checked_t WHERE __reason IS NOT NULL "
        f"UNION ALL SELECT {nulls}, line AS source_line, raw_line, "
        f"'malformed_line: ' || problem AS reason, {stamp} AS config_hash FROM malformed_t) "
        f"TO {literal(str(target))} (HEADER, DELIMITER ',')"
    )
    return int(n_bad)


def _error_kinds(
    con: duckdb.DuckDBPyConnection, malformed: list[tuple[int, str, str]]
) -> dict[str, int]:
    rows = con.execute(
        "SELECT split_part(r, ':', 1) AS kind, count(*) FROM "
        "(SELECT unnest(string_split(__reason, '; ')) AS r FROM checked_t "
        "WHERE __reason IS NOT NULL) GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    kinds = {str(kind): int(n) for kind, n in rows}
    if malformed:
        kinds["malformed_line"] = len(malformed)
    con.execute("DROP TABLE IF EXISTS checked_t; DROP TABLE IF EXISTS malformed_t")
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
