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

from pathlib import Path

import duckdb

from ontrack.config import Config
from ontrack.validation.checks import defused_sql, ident, literal
from ontrack.validation.reading import SourceFile, quarantine_lines

WITHHELD = "(withheld: a name)"


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
    _load_rejected_rows(con, rejected, columns)
    rids = [r[0] for r in con.execute(
        "SELECT __order FROM rejected_rows_t ORDER BY 1").fetchall()]
    lines, malformed = quarantine_lines(source, rids, malformed, WITHHELD if withheld else None)
    malformed = sorted(malformed + list(overlong or []))
    con.execute("CREATE OR REPLACE TEMP TABLE lines_t (rid BIGINT, line BIGINT, raw_line VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE malformed_t "
                "(line BIGINT, raw_line VARCHAR, problem VARCHAR)")
    if lines:
        con.executemany("INSERT INTO lines_t VALUES (?, ?, ?)", lines)
    if malformed:
        con.executemany("INSERT INTO malformed_t VALUES (?, ?, ?)", malformed)
    cols = ", ".join(f"t.{ident(c)}" for c in columns)
    nulls = ", ".join(f"NULL AS {ident(c)}" for c in columns)
    stamp = literal(config.config_hash)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE rejected_t AS
        SELECT {cols}, l.line AS source_line, l.raw_line AS raw_line,
               t.__reason AS reason, {stamp} AS config_hash, t.__order AS __order
        FROM rejected_rows_t t LEFT JOIN lines_t l ON t.__order = l.rid
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
    errors = _error_kinds(con, len(malformed))
    con.execute("DROP TABLE rejected_rows_t; DROP TABLE lines_t; DROP TABLE rejected_t; "
                "DROP TABLE malformed_t")
    return int(n_bad), errors


def _load_rejected_rows(con: duckdb.DuckDBPyConnection, rejected: list[str],
                        columns: list[str]) -> None:
    """Table ``rejected_rows_t``: the partitions' rejected rows (none when only lines
    were malformed or overlong: then no partition wrote a file)."""
    if rejected:
        files = ", ".join(literal(p) for p in rejected)
        con.execute(f"CREATE OR REPLACE TEMP TABLE rejected_rows_t AS "
                    f"SELECT * FROM read_parquet([{files}])")
        return
    empty = ", ".join(f"CAST(NULL AS VARCHAR) AS {ident(c)}" for c in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE rejected_rows_t AS SELECT {empty}, "
                "CAST(NULL AS VARCHAR) AS __reason, CAST(NULL AS BIGINT) AS __order LIMIT 0")


def _error_kinds(con: duckdb.DuckDBPyConnection, n_malformed: int) -> dict[str, int]:
    """Rejected rows by kind of reason (a row with two reasons counts under both)."""
    rows = con.execute(
        "SELECT split_part(r, ':', 1) AS kind, count(*) FROM "
        "(SELECT unnest(string_split(reason, '; ')) AS r FROM rejected_t "
        "WHERE NOT starts_with(reason, 'malformed_line')) GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    kinds = {str(kind): int(n) for kind, n in rows}
    if n_malformed:
        kinds["malformed_line"] = n_malformed
    return kinds
