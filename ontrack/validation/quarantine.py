"""The quarantine file of one table and its error counts, from its partitions' rejects.

``OUT/validation/quarantine/<table>.csv`` holds every rejected row as it came, with the
reason, in input order, each with its ``source_line`` (the 1-based line in a CSV, the
1-based row of a Parquet file) and ``raw_line`` (the CSV line's text; empty for
Parquet), then the CSV's malformed lines. Students' names show only whether they were
filled: names never reach an error or a log, and the student ID is enough to find the
row; so is the line number, whose text is then withheld too. Every text cell a
spreadsheet would run as a formula is written as text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb

from ontrack.config import Config
from ontrack.validation.checks import defused_sql, ident, literal
from ontrack.validation.reading import SourceFile, quarantine_lines

WITHHELD = "(withheld: a name)"


# Names the quarantine file adds next to the file's columns: a file column of one of these
# names takes DuckDB's renaming (``reason_1``), found by asking DuckDB.
_ADDED = frozenset({"source_line", "raw_line", "reason", "config_hash", "__order", "__reason"})
# Rows of literal values per INSERT: one statement for a few rows, bounded text for many.
_CHUNK = 2_000


def write_quarantine(
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    columns: list[str],
    rejected: list[str],
    malformed: list[tuple[int, str, str]],
    target: Path,
    config: Config,
    withheld: tuple[str, ...] = (),
    overlong: list[tuple[int, str, str]] | None = None,
) -> tuple[int, dict[str, int]]:
    """Write ``target`` from the partitions' ``rejected`` Parquet files (none when only
    lines were malformed), the ``malformed`` lines and the ``overlong`` ones (already by
    physical line, text withheld); return ``(rows quarantined, errors by kind)``."""
    found: list[tuple[int, str]] = []
    if rejected:
        found = [(int(o), str(r)) for o, r in con.execute(
            f"SELECT __order, __reason FROM read_parquet([{_files(rejected)}]) "
            "ORDER BY 1").fetchall()]
    lines, malformed = quarantine_lines(source, [o for o, _r in found], malformed,
                                        WITHHELD if withheld else None)
    malformed = sorted(malformed + list(overlong or []))
    n_bad = len(found) + len(malformed)  # each rejected row has one line at most
    if n_bad:  # the input's order (rows, then malformed lines): the same every run
        _write_file(con, columns, rejected, lines, malformed, target, config)
    return n_bad, _error_kinds([r for _o, r in found], len(malformed))


def _write_file(con: duckdb.DuckDBPyConnection, columns: list[str], rejected: list[str],
                lines: list[tuple[int, int, str]], malformed: list[tuple[int, str, str]],
                target: Path, config: Config) -> None:
    """One COPY of the rejected rows (with their lines) and the malformed lines."""
    con.execute("CREATE OR REPLACE TEMP TABLE lines_t (rid BIGINT, line BIGINT, raw_line VARCHAR); "
                "CREATE OR REPLACE TEMP TABLE malformed_t "
                "(line BIGINT, raw_line VARCHAR, problem VARCHAR)")
    _insert(con, "lines_t", lines)
    _insert(con, "malformed_t", malformed)
    cols = ", ".join(f"t.{ident(c)}" for c in columns)
    nulls = ", ".join(f"NULL AS {ident(c)}" for c in columns)
    stamp = literal(config.config_hash)
    query = (
        f"SELECT {cols}, l.line AS source_line, l.raw_line AS raw_line, "
        f"t.__reason AS reason, {stamp} AS config_hash, t.__order AS __order "
        f"FROM {_rejected_rows(rejected, columns)} t LEFT JOIN lines_t l ON t.__order = l.rid "
        f"UNION ALL SELECT {nulls}, line, raw_line, 'malformed_line: ' || problem, {stamp}, NULL "
        "FROM malformed_t")
    if _ADDED.isdisjoint(c.lower() for c in columns):
        # Every file column is text (read as text, names withheld as text), so is every
        # added column but the line number.
        kinds = [(c, "VARCHAR") for c in columns]
        kinds += [("source_line", "BIGINT"), ("raw_line", "VARCHAR"), ("reason", "VARCHAR"),
                  ("config_hash", "VARCHAR")]
    else:
        kinds = [(str(n), str(k)) for n, k, *_rest in
                 con.execute(f"DESCRIBE SELECT * FROM ({query})").fetchall()]
    shown = ", ".join(  # text as a spreadsheet shows it, never as a formula it runs
        f"{defused_sql(ident(n))} AS {ident(n)}" if kind == "VARCHAR" else ident(n)
        for n, kind in kinds if n != "__order")
    con.execute(
        f"COPY (SELECT {shown} FROM ({query}) ORDER BY __order NULLS LAST, source_line) "
        f"TO {literal(str(target))} (HEADER, DELIMITER ',')"
    )
    con.execute("DROP TABLE lines_t; DROP TABLE malformed_t")


def _files(paths: list[str]) -> str:
    return ", ".join(literal(p) for p in paths)


def _rejected_rows(rejected: list[str], columns: list[str]) -> str:
    """The partitions' rejected rows as a subquery (no rows when no partition wrote a
    file: only lines were malformed or overlong)."""
    if rejected:
        return f"read_parquet([{_files(rejected)}])"
    empty = ", ".join(f"CAST(NULL AS VARCHAR) AS {ident(c)}" for c in columns)
    return (f"(SELECT {empty}, CAST(NULL AS VARCHAR) AS __reason, "
            "CAST(NULL AS BIGINT) AS __order LIMIT 0)")


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Literal rows, a chunk per INSERT (``executemany`` costs a statement per row)."""
    for at in range(0, len(rows), _CHUNK):
        chunk = rows[at:at + _CHUNK]
        if any(isinstance(v, str) and "\0" in v for row in chunk for v in row):
            marks = ", ".join("?" for _v in chunk[0])  # a NUL ends the SQL text: parameters
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", chunk)
            continue
        values = ", ".join("(" + ", ".join(_value(v) for v in row) + ")" for row in chunk)
        con.execute(f"INSERT INTO {table} VALUES {values}")


def _value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(int(value))
    return literal(value)


def _error_kinds(reasons: list[str], n_malformed: int) -> dict[str, int]:
    """Rejected rows by kind of reason (a row with two reasons counts under both), most
    frequent first."""
    counts = Counter(part.split(":", 1)[0] for reason in reasons for part in reason.split("; "))
    kinds = {kind: n for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
    if n_malformed:
        kinds["malformed_line"] = n_malformed
    return kinds
