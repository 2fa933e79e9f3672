"""Build the typed view of one input and find the rows to reject, in DuckDB.

Two steps, written for tables of tens of millions of rows:

1. ``build_typed`` defines the view ``typed_t`` over a Parquet file (the input, or a
   CSV's one-pass copy of its text): the raw text of every column (kept for the
   quarantine file), its typed twin ``__col``, derived columns, ``__row_reason`` —
   everything wrong with the row on its own — and ``ROW_ID``, the row's number in that
   file. Nothing of the table's size is held: each check reads the file again.
2. ``find_row_problems`` fills ``bad_t(rid, reason)`` for rows that are fine on their
   own but not in context: exact duplicates, conflicting rows for one key, references
   to unknown students or schools, attendance outside any enrollment. Only the few
   suspicious rows are ever sorted or joined row by row; the bulk is checked with
   hash aggregates and anti-joins.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from ontrack.validation.checks import column_reasons, ident, literal, parse_expr, typed
from ontrack.config import Config
from ontrack.validation.reading import ROW_ID
from ontrack.validation.table_rules import rules_for_table
from ontrack.tables import TableSchema


def build_typed(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    columns: list[str],
    config: Config,
    district_ids: list[str],
    *,
    numbered: bool = False,
) -> None:
    """Create view ``typed_t`` from view ``raw_t``: raw text, typed twins, row reasons,
    and ``ROW_ID`` naming each row.

    ``numbered``: ``raw_t`` already numbers its rows (a Parquet file). Otherwise (a CSV,
    or a Parquet file with its own ``file_row_number`` column) the file is scanned once
    into a compressed Parquet copy of its text in DuckDB's temporary directory (for a
    CSV that scan also collects its malformed lines), and ``raw_t`` is pointed at it. Either way ``typed_t`` stays a view and every check streams
    over a file: nothing of the table's size is held in memory.
    """
    if not numbered:
        _copy_text(con, schema.name, columns)
    filled = ", ".join(
        f"CAST(NULL AS VARCHAR) AS {ident(c)}"
        for c in schema.column_names
        if c not in columns
    )
    base = f"SELECT *{', ' + filled if filled else ''} FROM raw_t"
    parsed = ", ".join(f"{parse_expr(c)} AS {typed(c.name)}" for c in schema.columns)
    rules = rules_for_table(schema.name, config, district_ids)
    reasons = [r for c in schema.columns for r in column_reasons(c)]
    reasons += list(rules.reasons)
    derived = "".join(f", {expr} AS {ident(name)}" for name, expr in rules.derived)
    reason_sql = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')"
    query = (
        f"WITH b AS ({base}), p AS (SELECT *, {parsed} FROM b) "
        f"SELECT p.*{derived}, {reason_sql} AS __row_reason FROM p {rules.joins}"
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW typed_t AS {query}")


def _copy_text(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    """Scan ``raw_t`` once into a Parquet file and point ``raw_t`` at it, numbered.

    The copy's columns are positional (``c0``, ``c1``, ...) so that no file column can
    clash with ``file_row_number``.
    """
    folder = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    copy = str(Path(folder or tempfile.gettempdir()) / f"ontrack_{table}_text.parquet")
    positional = ", ".join(f"{ident(c)} AS c{i}" for i, c in enumerate(columns))
    con.execute(f"COPY (SELECT {positional} FROM raw_t) TO {literal(copy)} (FORMAT parquet)")
    named = ", ".join(f"c{i} AS {ident(c)}" for i, c in enumerate(columns))
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW raw_t AS SELECT {named}, file_row_number AS {ROW_ID} "
        f"FROM read_parquet({literal(copy)}, file_row_number = true)"
    )


def drop_typed(con: duckdb.DuckDBPyConnection) -> None:
    """Remove what :func:`build_typed` and :func:`find_row_problems` created."""
    con.execute("DROP VIEW IF EXISTS typed_t; DROP TABLE IF EXISTS bad_t")


def find_row_problems(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> None:
    """Create ``bad_t(rid, reason)``: one row per rejected-in-context row of typed_t."""
    con.execute("CREATE OR REPLACE TEMP TABLE bad_raw (rid BIGINT, reason VARCHAR)")
    _duplicates(con, schema)
    _references(con, schema)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE bad_t AS SELECT rid, "
        "string_agg(reason, '; ' ORDER BY reason) AS reason FROM bad_raw GROUP BY rid"
    )
    con.execute("DROP TABLE bad_raw")


def _duplicates(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> None:
    """Exact copies beyond the first, and every version of a key with conflicting rows.

    Keys seen more than once are found with one hash aggregate; only those rows are
    then compared in full.
    """
    key = schema.key or schema.column_names
    key_typed = ", ".join(typed(k) for k in key)
    all_typed = ", ".join(typed(c) for c in schema.column_names)
    key_names = ", ".join(key)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dup_rows AS
        WITH repeated AS (  -- over every row: only the key is parsed, not the reasons
            SELECT hash({key_typed}) AS kh FROM typed_t GROUP BY 1 HAVING count(*) > 1
        )
        SELECT {ROW_ID} AS rid, {key_typed}, hash({all_typed}) AS __h FROM typed_t
        WHERE __row_reason IS NULL AND hash({key_typed}) IN (SELECT kh FROM repeated)
        """
    )
    con.execute(
        f"""
        INSERT INTO bad_raw
        WITH ranked AS (
            SELECT rid, __h,
                   row_number() OVER (PARTITION BY {key_typed}, __h ORDER BY rid) AS rn
            FROM dup_rows
        ), versions AS (
            SELECT rid, rn, min(__h) OVER (PARTITION BY {key_typed}) AS lo,
                   max(__h) OVER (PARTITION BY {key_typed}) AS hi
            FROM dup_rows JOIN ranked USING (rid, __h)
        )
        SELECT rid, CASE WHEN rn > 1
            THEN 'duplicate_row: an identical row appears earlier in the file'
            ELSE 'duplicate_key: other rows have the same {key_names} with different values'
            END
        FROM versions WHERE rn > 1 OR lo <> hi
        """
    )
    con.execute("DROP TABLE dup_rows")


def _references(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> None:
    names = schema.column_names
    if schema.name == "attendance":
        _attendance_coverage(con)
        return
    if "student_id" in names and schema.name != "students":
        con.execute(
            f"INSERT INTO bad_raw SELECT {ROW_ID}, 'unknown_reference[student_id]: ' || "
            "__student_id || ' is not in students' FROM typed_t WHERE __row_reason IS "
            "NULL AND __student_id NOT IN (SELECT student_id FROM ok_students)"
        )
    if "school_id" in names and schema.name != "schools":
        con.execute(
            f"INSERT INTO bad_raw SELECT {ROW_ID}, 'unknown_reference[school_id]: ' || "
            "__school_id || ' is not in schools' FROM typed_t WHERE __row_reason IS "
            "NULL AND __school_id IS NOT NULL AND __school_id NOT IN "
            "(SELECT school_id FROM ok_schools)"
        )


def _attendance_coverage(con: duckdb.DuckDBPyConnection) -> None:
    """An attendance day needs an enrollment of that student at that school covering it.

    A spell with no exit date runs to the end of its school year. An anti-join on
    (student, school) with the date range as a join condition keeps this one hash join.
    """
    con.execute(
        f"""
        INSERT INTO bad_raw
        SELECT a.{ROW_ID}, 'no_enrollment[date]: no enrollment of this student at this '
                        || 'school covers ' || CAST(a.__date AS VARCHAR)
        FROM typed_t a
        ANTI JOIN (
            SELECT student_id, school_id, entry_date,
                   COALESCE(exit_date, __year_end) AS last_day
            FROM ok_enrollments
        ) e
          ON e.student_id = a.__student_id AND e.school_id = a.__school_id
         AND a.__date >= e.entry_date AND a.__date <= e.last_day
        WHERE a.__row_reason IS NULL
        """
    )
