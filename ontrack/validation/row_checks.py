"""Type and check one input's rows in DuckDB: one pass over the file, then small work.

Written for tables of hundreds of millions of rows:

1. ``build_checked`` reads the numbered rows (view ``raw_t``) ONCE into the table
   ``checked_t`` (in a compressed work database in the spill folder): each column
   typed (TRY_CAST), derived columns, ``__row_reason`` (everything wrong with the row
   on its own: missing, wrong type, not allowed, out of range, multi-column rules) and
   ``ROW_ID``, the row's number in the file. The raw
   text is not kept: the few rejected rows are fetched again by number for the
   quarantine file. A partition of the table (the rows whose typed key hashes to it)
   is read the same way.
2. ``find_row_problems`` fills ``bad_t(rid, reason)`` for rows that are fine on their
   own but not in context: exact duplicates, conflicting rows for one key, references
   to unknown students or schools, attendance outside any enrollment. Keys are counted
   with one hash aggregate over ``checked_t``; only the few repeated rows are sorted;
   references are anti-joins against the parents already validated.

Accepted rows, rejected rows and error counts are then read from ``checked_t`` and
``bad_t`` (``ontrack.validation.partition``): the file is never parsed twice.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import duckdb

from ontrack.config import Config
from ontrack.resources import duckdb_limit_bytes
from ontrack.tables import TableSchema
from ontrack.validation.checks import column_reasons, ident, literal, parse_expr, typed
from ontrack.validation.reading import ROW_ID
from ontrack.validation.table_rules import rules_for_table

# A database file of its own in the spill folder: DuckDB writes a large table there
# compressed as it goes (10.7 M attendance rows: 0.73 GB as a temporary table, tens of
# MB compressed), so 200,000 students' rows neither fill memory nor spill GBs of raw
# blocks, and later scans read less (docs/validation.md).
WORK = "validation_work"
CHECKED = f"{WORK}.checked_t"


# Which kind of work database each connection has attached (True: memory): asking
# DuckDB costs a statement per table.
_ATTACHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attach_work(con: duckdb.DuckDBPyConnection, in_memory: bool = False) -> None:
    """Attach the database ``checked_t`` lives in: a new file in the connection's spill
    folder, or (``in_memory``, for a small table) memory. Kept while the next table
    wants the same kind; switched otherwise."""
    if _ATTACHED.get(con) == in_memory:
        return  # this connection attached it (nothing else detaches it)
    attached = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = ?", [WORK]).fetchall()
    if attached and (attached[0][0] is None) == in_memory:
        _ATTACHED[con] = in_memory
        return
    if attached:
        con.execute(f"DETACH {WORK}")
    if in_memory:
        con.execute(f"ATTACH ':memory:' AS {WORK}")
    else:
        folder = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
        path = str(Path(folder) / f"{WORK}.duckdb")
        Path(path).unlink(missing_ok=True)
        con.execute(f"ATTACH {literal(path)} AS {WORK}")
    _ATTACHED[con] = in_memory


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Ask DuckDB again which work database ``con`` has (it is detached for another run)."""
    _ATTACHED.pop(con, None)


def small_enough_for_memory(rows: int, columns: int, config: Config) -> bool:
    """Whether a table's typed rows fit well within DuckDB's share of the memory limit
    (an eighth of it, at 16 bytes a cell): such a table is checked in memory. The work
    file's writes and checkpoints cost about 15 ms a table, most of the time a small
    district's validation takes; a large table still goes to the compressed file."""
    return rows * max(columns, 1) * 16 <= duckdb_limit_bytes(config) // 8


def partition_key(schema: TableSchema) -> tuple[str, ...]:
    """The columns whose typed values decide a row's partition: the table's key (or
    every column of a table without one), so that rows that could be duplicates of
    each other are always checked together."""
    return schema.key or schema.column_names


def build_checked(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    columns: list[str],
    config: Config,
    district_ids: list[str],
    partition: tuple[int, int] = (0, 1),
    in_memory: bool = False,
) -> int:
    """Create table ``CHECKED`` from view ``raw_t`` (one scan); return its rows.

    ``partition`` ``(index, count)``: only the rows whose typed key hashes to ``index``
    of ``count`` (``(0, 1)``: every row). ``in_memory``: the work database is memory,
    not a file (:func:`small_enough_for_memory`)."""
    filled = ", ".join(
        f"CAST(NULL AS VARCHAR) AS {ident(c)}"
        for c in schema.column_names
        if c not in columns
    )
    base = f"SELECT *{', ' + filled if filled else ''} FROM raw_t"
    index, count = partition
    only = ""
    if count > 1:
        key = ", ".join(parse_expr(schema.column(k)) for k in partition_key(schema))
        only = f" WHERE hash({key}) % {int(count)} = {int(index)}"
    parsed = ", ".join(f"{parse_expr(c)} AS {typed(c.name)}" for c in schema.columns)
    rules = rules_for_table(schema.name, config, district_ids)
    reasons = [r for c in schema.columns for r in column_reasons(c)]
    reasons += list(rules.reasons)
    derived = "".join(f", {expr} AS {ident(name)}" for name, expr in rules.derived)
    reason_sql = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')"
    kept = [f"p.{typed(c.name)}" for c in schema.columns]
    query = (
        f"WITH b AS ({base}), p AS (SELECT *, {parsed} FROM b{only}) "
        f"SELECT p.{ROW_ID}, {', '.join(kept)}{derived}, {reason_sql} AS __row_reason "
        f"FROM p {rules.joins}"
    )
    attach_work(con, in_memory)
    rows = con.execute(f"CREATE OR REPLACE TABLE {CHECKED} AS {query}").fetchall()[0][0]
    if not in_memory:
        con.execute(f"CHECKPOINT {WORK}")  # compresses the table
    return int(rows)


def drop_checked(con: duckdb.DuckDBPyConnection, in_memory: bool = False) -> None:
    """Remove what :func:`build_checked` and :func:`find_row_problems` created (and
    give a work file its space back)."""
    con.execute(f"DROP TABLE IF EXISTS {CHECKED}; DROP TABLE IF EXISTS bad_t")
    if not in_memory:
        con.execute(f"CHECKPOINT {WORK}")


def find_row_problems(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> None:
    """Create ``bad_t(rid, reason)``: one row per rejected-in-context row of checked_t
    (only rows without a reason of their own: ``partition`` relies on it).

    Keys seen more than once are found with one hash aggregate over every row (only the
    key is hashed, not the reasons); only those rows are then compared in full, in the
    one statement that also finds the references to unknown rows (none: no such work)."""
    names = _dup_names(schema)
    repeated = con.execute(
        "CREATE OR REPLACE TEMP TABLE repeated AS SELECT hash({key_typed}) AS kh "
        "FROM {checked} GROUP BY 1 HAVING count(*) > 1".format(**names)).fetchall()[0][0]
    found = _references(schema)
    dup_rows = ""
    if repeated:
        found.insert(0, _duplicates(schema))
        dup_rows = (
            "dup_rows AS MATERIALIZED (SELECT {rid} AS rid, {key_typed}, "
            "hash({all_typed}) AS __h FROM {checked} WHERE __row_reason IS NULL AND "
            "hash({key_typed}) IN (SELECT kh FROM repeated)), ").format(**names)
    if not found:
        con.execute("CREATE OR REPLACE TEMP TABLE bad_t (rid BIGINT, reason VARCHAR); "
                    "DROP TABLE repeated")
        return
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE bad_t AS WITH {dup_rows}"
        f"bad_raw(rid, reason) AS ({' UNION ALL '.join(found)}) "
        "SELECT rid, string_agg(reason, '; ' ORDER BY reason) AS reason FROM bad_raw "
        "GROUP BY rid; DROP TABLE repeated"
    )


def _dup_names(schema: TableSchema) -> dict[str, str]:
    key = schema.key or schema.column_names
    return {"key_typed": ", ".join(typed(k) for k in key), "checked": CHECKED, "rid": ROW_ID,
            "all_typed": ", ".join(typed(c) for c in schema.column_names)}


def _duplicates(schema: TableSchema) -> str:
    """Exact copies beyond the first, and every version of a key with conflicting rows
    (a query over ``dup_rows``: the rows whose key is repeated)."""
    key_typed = _dup_names(schema)["key_typed"]
    key_names = ", ".join(schema.key or schema.column_names)
    return f"""
        SELECT rid, CASE WHEN rn > 1
            THEN 'duplicate_row: an identical row appears earlier in the file'
            ELSE 'duplicate_key: other rows have the same {key_names} with different values'
            END AS reason
        FROM (
            SELECT rid, rn, min(__h) OVER (PARTITION BY {key_typed}) AS lo,
                   max(__h) OVER (PARTITION BY {key_typed}) AS hi
            FROM dup_rows JOIN (
                SELECT rid, __h,
                       row_number() OVER (PARTITION BY {key_typed}, __h ORDER BY rid) AS rn
                FROM dup_rows
            ) ranked USING (rid, __h)
        ) versions
        WHERE rn > 1 OR lo <> hi"""


def _references(schema: TableSchema) -> list[str]:
    """Queries of the rows naming a student or school that was not accepted."""
    names = schema.column_names
    if schema.name == "attendance":
        return [_attendance_coverage()]
    found = []
    if "student_id" in names and schema.name != "students":
        found.append(
            f"SELECT {ROW_ID}, 'unknown_reference[student_id]: ' || "
            f"__student_id || ' is not in students' FROM {CHECKED} WHERE __row_reason IS "
            "NULL AND __student_id NOT IN (SELECT student_id FROM ok_students)"
        )
    if "school_id" in names and schema.name != "schools":
        found.append(
            f"SELECT {ROW_ID}, 'unknown_reference[school_id]: ' || "
            f"__school_id || ' is not in schools' FROM {CHECKED} WHERE __row_reason IS "
            "NULL AND __school_id IS NOT NULL AND __school_id NOT IN "
            "(SELECT school_id FROM ok_schools)"
        )
    return found


def _attendance_coverage() -> str:
    """An attendance day needs an enrollment of that student at that school covering it.

    A spell with no exit date runs to the end of its school year. An anti-join on
    (student, school) with the date range as a join condition keeps this one hash join.
    """
    return f"""
        SELECT a.{ROW_ID}, 'no_enrollment[date]: no enrollment of this student at this '
                        || 'school covers ' || CAST(a.__date AS VARCHAR)
        FROM {CHECKED} a
        ANTI JOIN (
            SELECT student_id, school_id, entry_date,
                   COALESCE(exit_date, __year_end) AS last_day
            FROM ok_enrollments
        ) e
          ON e.student_id = a.__student_id AND e.school_id = a.__school_id
         AND a.__date >= e.entry_date AND a.__date <= e.last_day
        WHERE a.__row_reason IS NULL"""
