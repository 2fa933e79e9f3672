"""Type and check one input's rows in DuckDB: a few passes over the file, no copy of it.

Written for tables of hundreds of millions of rows:

1. ``build_checked`` defines the typed rows of the numbered rows (view ``raw_t``):
   each column typed (TRY_CAST), derived columns, ``__row_reason`` (everything wrong
   with the row on its own: missing, wrong type, not allowed, out of range,
   multi-column rules) and ``ROW_ID``, the row's number in the file. A small table is
   copied into memory (``checked_t``, scanned again for free); a large one stays a
   view over the file (:data:`STREAMED`), read again by each of the two passes below
   (typing a dictionary-encoded Parquet column costs far less than writing a typed
   copy of 100 M rows and reading it back). A partition of the table (the rows whose
   typed key hashes to it) is read the same way.
2. ``find_row_problems`` fills ``flags(rid, own, r0, ...)`` in one pass: the rows with
   a reason of their own and the references to unknown students or schools or
   attendance outside any enrollment (``r0``...); and ``bad_t(rid, reason)``: the rows
   fine on their own but not in context (those references, exact duplicates,
   conflicting rows for one key). Keys are first tested cheaply (a bitmap of days per
   student and year, when the key has a student and a date; else one hash aggregate of
   the key); only the rows of repeated keys (or students) are then compared in full.

Accepted rows (every row not flagged), rejected rows and error counts are then read
from these (``ontrack.validation.partition``).
"""

from __future__ import annotations

import weakref

import duckdb

from ontrack.config import Config
from ontrack.resources import duckdb_limit_bytes
from ontrack.tables import TableSchema
from ontrack.validation.checks import column_reasons, ident, literal, parse_expr, typed
from ontrack.validation.reading import ROW_ID
from ontrack.validation.table_rules import rules_for_table

# The in-memory database a small table's typed rows are copied into (``checked_t``);
# a large table is never copied (:data:`STREAMED`).
WORK = "validation_work"
CHECKED = f"{WORK}.checked_t"
# A large table's typed rows: a view over the file, read by each pass.
STREAMED = "checked_v"
# The typed key columns of a large table's rows (the duplicate test reads only these).
STREAMED_KEYS = "checked_keys"


def checked_relation(in_memory: bool) -> str:
    """Where :func:`build_checked` put the typed rows: ``checked_t`` in memory, or the
    view over the file (a large table)."""
    return CHECKED if in_memory else STREAMED


# The connections that attached the in-memory work database: asking DuckDB costs a
# statement per table.
_ATTACHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attach_work(con: duckdb.DuckDBPyConnection) -> None:
    """Attach the in-memory database a small table's ``checked_t`` lives in (kept for
    the next table; a work file another run left attached is detached first)."""
    if _ATTACHED.get(con):
        return  # this connection attached it (nothing else detaches it)
    attached = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = ?", [WORK]).fetchall()
    if attached and attached[0][0] is not None:
        con.execute(f"DETACH {WORK}")
    if not attached or attached[0][0] is not None:
        con.execute(f"ATTACH ':memory:' AS {WORK}")
    _ATTACHED[con] = True


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Ask DuckDB again which work database ``con`` has (it is detached for another run)."""
    _ATTACHED.pop(con, None)


def small_enough_for_memory(rows: int, columns: int, config: Config) -> bool:
    """Whether a table's typed rows fit well within DuckDB's share of the memory limit
    (an eighth of it, at 16 bytes a cell): such a table is copied into memory once and
    checked there. A larger one is read from its file by each pass (``build_checked``)."""
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
    """Define the typed rows of view ``raw_t`` (:func:`checked_relation`); return how
    many there are.

    ``partition`` ``(index, count)``: only the rows whose typed key hashes to ``index``
    of ``count`` (``(0, 1)``: every row). ``in_memory``: copy them into memory (one
    scan; :func:`small_enough_for_memory`); else they stay a view over the file, with
    a second view of their typed key alone."""
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
    if in_memory:
        attach_work(con)
        return int(con.execute(f"CREATE OR REPLACE TABLE {CHECKED} AS {query}").fetchall()[0][0])
    keys = ", ".join(f"{parse_expr(schema.column(k))} AS {typed(k)}" for k in partition_key(schema))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {STREAMED} AS {query}; "
                f"CREATE OR REPLACE TEMP VIEW {STREAMED_KEYS} AS SELECT {keys} FROM ({base}) b{only}")
    return int(con.execute(f"SELECT count(*) FROM ({base}) b{only}").fetchall()[0][0])


def drop_checked(con: duckdb.DuckDBPyConnection, in_memory: bool = False) -> None:
    """Remove what :func:`build_checked` and :func:`find_row_problems` created."""
    made = (f"DROP TABLE IF EXISTS {CHECKED}" if in_memory else
            f"DROP VIEW IF EXISTS {STREAMED}; DROP VIEW IF EXISTS {STREAMED_KEYS}")
    con.execute(f"{made}; DROP TABLE IF EXISTS bad_t; DROP TABLE IF EXISTS flags")


def find_row_problems(con: duckdb.DuckDBPyConnection, schema: TableSchema,
                      in_memory: bool = True) -> None:
    """Create ``flags`` and ``bad_t`` (module docstring) over the typed rows
    :func:`build_checked` made (a row with a reason of its own is never in ``bad_t``:
    ``partition`` relies on it).

    One pass finds the rows with reasons of their own and the references to unknown
    rows; the keys are tested on their own columns first, and only the rows of keys
    that may repeat are then compared in full."""
    rel = checked_relation(in_memory)
    names = {**_dup_names(schema), "checked": rel}
    repeats = _may_repeat(con, schema, CHECKED if in_memory else STREAMED_KEYS)
    refs = _flag_pass(con, schema, rel)
    found = [f"SELECT rid, r{i} FROM flags WHERE r{i} IS NOT NULL" for i in range(refs)]
    dup_rows = ""
    if repeats:
        found.insert(0, _duplicates(schema))
        dup_rows = (
            "dup_rows AS MATERIALIZED (SELECT {rid} AS rid, {key_typed}, "
            "hash({all_typed}) AS __h FROM {checked} WHERE __row_reason IS NULL AND "
            "{repeats}), ").format(**names, repeats=repeats)
    if not found:
        con.execute("CREATE OR REPLACE TEMP TABLE bad_t (rid BIGINT, reason VARCHAR)")
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE bad_t AS WITH {dup_rows}"
            f"bad_raw(rid, reason) AS ({' UNION ALL '.join(found)}) "
            "SELECT rid, string_agg(reason, '; ' ORDER BY reason) AS reason FROM bad_raw "
            "GROUP BY rid")
    con.execute("DROP TABLE IF EXISTS repeated")


# At most this many repeated keys (or students) are written into the comparison's SQL
# as constants: DuckDB then filters the rows as it reads them, before typing them all.
INLINE_REPEATS = 4096
# Whether a key with a student and a date is tested with bitmaps of days (else, as any
# other key, with a hash aggregate: the tests compare the two).
DAY_BITMAPS = True


def _may_repeat(con: duckdb.DuckDBPyConnection, schema: TableSchema, keys: str) -> str:
    """A condition on a typed row that holds for every row whose key is repeated in
    relation ``keys`` (and for few others); "" when no key is repeated.

    A key with a student and a date: a bitmap of days per student and year (a small
    aggregate, one group per student and year) shows which students have some day
    twice; only their rows are compared in full. Any other key: one hash aggregate of
    the key."""
    key = schema.key or schema.column_names
    dates = [k for k in key if schema.column(k).type == "date"]
    if DAY_BITMAPS and "student_id" in key and dates:
        student, day = typed("student_id"), typed(dates[0])
        column, query = student, (
            f"SELECT DISTINCT {student} FROM (SELECT {student}, count(*) AS n, "
            f"bit_count(bitstring_agg(dayofyear({day}), 1, 366)) AS days FROM {keys} "
            f"WHERE {day} IS NOT NULL GROUP BY {student}, year({day})) WHERE n > days")
    else:
        column = f"hash({_dup_names(schema)['key_typed']})"
        query = f"SELECT {column} FROM {keys} GROUP BY 1 HAVING count(*) > 1"
    found = con.execute(f"CREATE OR REPLACE TEMP TABLE repeated AS {query}").fetchall()[0][0]
    if not found:
        return ""
    if found > INLINE_REPEATS:
        return f"{column} IN (SELECT * FROM repeated)"
    values = [r[0] for r in con.execute("SELECT * FROM repeated").fetchall()]
    shown = (literal(v) if isinstance(v, str) else str(int(v)) for v in values)
    return f"{column} IN ({', '.join(shown)})"


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


def _flag_pass(con: duckdb.DuckDBPyConnection, schema: TableSchema, rel: str) -> int:
    """Table ``flags(rid, own, r0, ...)`` in one pass over ``rel``: every row with a
    reason of its own (``own``) or naming a student or school that was not accepted, or
    (attendance) outside every enrollment (``r0``...; only for rows without ``own``).
    Returns how many ``r`` columns there are."""
    if schema.name == "attendance":
        con.execute(f"CREATE OR REPLACE TEMP TABLE flags AS {_attendance_coverage(rel)}")
        return 1
    refs = _references(schema)
    columns = "".join(f", CASE WHEN __row_reason IS NULL AND {cond} THEN {reason} END AS r{i}"
                      for i, (cond, reason) in enumerate(refs))
    flagged = " OR ".join(["own IS NOT NULL", *(f"r{i} IS NOT NULL" for i in range(len(refs)))])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE flags AS SELECT * FROM (SELECT {ROW_ID} AS rid, "
        f"__row_reason AS own{columns} FROM {rel}) WHERE {flagged}")
    return len(refs)


def _references(schema: TableSchema) -> list[tuple[str, str]]:
    """``(condition, reason)`` of a row naming a student or school that was not accepted."""
    names = schema.column_names
    found = []
    if "student_id" in names and schema.name != "students":
        found.append((
            "__student_id NOT IN (SELECT student_id FROM ok_students)",
            "'unknown_reference[student_id]: ' || __student_id || ' is not in students'",
        ))
    if "school_id" in names and schema.name != "schools":
        found.append((
            "__school_id IS NOT NULL AND __school_id NOT IN (SELECT school_id FROM ok_schools)",
            "'unknown_reference[school_id]: ' || __school_id || ' is not in schools'",
        ))
    return found


def _attendance_coverage(rel: str) -> str:
    """The rows of ``rel`` with a reason of their own or outside every enrollment: an
    attendance day needs an enrollment of that student at that school covering it.

    A spell with no exit date runs to the end of its school year. An anti-join on
    (student, school) with the date range as a join condition keeps this one hash join;
    a row with a reason of its own matches no enrollment, so the same join keeps it."""
    return f"""
        SELECT a.{ROW_ID} AS rid, a.__row_reason AS own,
               CASE WHEN a.__row_reason IS NULL THEN
                   'no_enrollment[date]: no enrollment of this student at this '
                   || 'school covers ' || CAST(a.__date AS VARCHAR) END AS r0
        FROM {rel} a
        ANTI JOIN (
            SELECT student_id, school_id, entry_date,
                   COALESCE(exit_date, __year_end) AS last_day
            FROM ok_enrollments
        ) e
          ON e.student_id = a.__student_id AND e.school_id = a.__school_id
         AND a.__date >= e.entry_date AND a.__date <= e.last_day
         AND a.__row_reason IS NULL"""
