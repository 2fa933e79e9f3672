"""Open an Ed-Fi ODS table export as DuckDB views, without loading it into memory.

An export is a folder with one file per ODS table, in any of three layouts:
``Student.csv``, ``Student.parquet`` or ``Student/*.parquet`` (the layout of the Ed-Fi
parquet exports made by Open Education Analytics). The tables may also sit one level
down, in subfolders named ``csv/`` or ``parquet/`` (how exports are often shipped); a
table directly in the folder wins over a nested copy. Table names match case-insensitively
and may carry an ``edfi.`` / ``edfi_`` schema prefix.

Every table becomes a view whose columns are all VARCHAR, so CSV and Parquet exports
behave the same: identifiers keep their leading zeros, and the mapping SQL casts
explicitly (``edfi_date``, ``edfi_num``, ``edfi_bool``) where it needs a type. Integer
identifiers that a CSV writer turned into floats (``918.0``) are normalised back to
``918``, because descriptor and key joins compare them as text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ontrack.errors import SchemaError

_PREFIXES = ("edfi.", "edfi_")
_ID_SUFFIXES = ("id", "usi", "year", "sequence", "identifier")

MISSING_TABLE = (
    "Ed-Fi export {source}: required table {table} not found. Expected a file "
    "{table}.csv or {table}.parquet, or a folder {table}/ holding .parquet files."
)


@dataclass(frozen=True)
class SourceTable:
    """One ODS table found in the export: its files and their format."""

    name: str
    paths: tuple[Path, ...]
    kind: str  # "csv" or "parquet"


def _table_key(name: str) -> str:
    """Canonical lookup key for a table name: lower case, schema prefix removed."""
    key = name.lower()
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


# Subfolders that hold tables rather than being one (a table's Parquet parts).
FORMAT_FOLDERS = ("csv", "parquet")


def discover_tables(root: Path) -> dict[str, SourceTable]:
    """Map table key -> files for every CSV/Parquet table under ``root``: directly in
    it, or in its ``csv/`` and ``parquet/`` subfolders (a table directly in ``root``
    wins over a nested one).

    When both a CSV and a Parquet copy of a table exist, the Parquet one wins: it is
    typed and faster to scan.
    """
    if not root.is_dir():
        raise SchemaError(
            f"Ed-Fi export {root} must be a folder of ODS tables (Table.csv, "
            "Table.parquet or Table/*.parquet, directly or in a csv/ or parquet/ "
            "subfolder). Got no such folder."
        )
    entries = sorted(root.iterdir())
    found = _tables_in(e for e in entries if e.name.lower() not in FORMAT_FOLDERS)
    nested: dict[str, SourceTable] = {}
    for folder in (e for e in entries if e.is_dir() and e.name.lower() in FORMAT_FOLDERS):
        for key, table in _tables_in(sorted(folder.iterdir())).items():
            if key not in nested or table.kind == "parquet":
                nested[key] = table
    return {**nested, **found}


def _tables_in(entries: Iterable[Path]) -> dict[str, SourceTable]:
    """The tables among the entries of one folder (a Parquet copy wins over a CSV)."""
    found: dict[str, SourceTable] = {}
    for entry in entries:
        table = _table_from_entry(entry)
        if table is None:
            continue
        key = _table_key(table.name)
        if key in found and found[key].kind == "parquet":
            continue
        found[key] = table
    return found


def _table_from_entry(entry: Path) -> SourceTable | None:
    """The table an entry of the export folder holds, or None if it holds none."""
    if entry.is_file() and entry.suffix.lower() == ".csv":
        return SourceTable(entry.stem, (entry,), "csv")
    if entry.is_file() and entry.suffix.lower() == ".parquet":
        return SourceTable(entry.stem, (entry,), "parquet")
    if entry.is_dir():
        parts = tuple(sorted(p for p in entry.glob("*.parquet") if p.is_file()))
        if parts:
            return SourceTable(entry.name, parts, "parquet")
    return None


def _quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def _view_name(key: str) -> str:
    """The raw view for a table key (identifier-safe)."""
    return "edfi_raw_" + re.sub(r"[^a-z0-9_]", "_", key)


def register_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Typed casts used by every mapping query (NULL when a value does not parse)."""
    con.execute(
        "CREATE OR REPLACE MACRO edfi_date(x) AS "
        "TRY_CAST(TRY_CAST(x AS TIMESTAMP) AS DATE)"
    )
    con.execute("CREATE OR REPLACE MACRO edfi_num(x) AS TRY_CAST(x AS DOUBLE)")
    con.execute(
        "CREATE OR REPLACE MACRO edfi_int(x) AS "
        "TRY_CAST(TRY_CAST(x AS DOUBLE) AS INTEGER)"
    )
    con.execute(
        "CREATE OR REPLACE MACRO edfi_bool(x) AS CASE "
        "WHEN lower(trim(x)) IN ('true', 't', '1', 'yes', 'y') THEN true "
        "WHEN lower(trim(x)) IN ('false', 'f', '0', 'no', 'n') THEN false END"
    )
    # The school year (ending year) a date belongs to, years running Jul 1 - Jun 30.
    con.execute(
        "CREATE OR REPLACE MACRO edfi_year_of(d) AS "
        "CAST(year(d) + CASE WHEN month(d) >= 7 THEN 1 ELSE 0 END AS INTEGER)"
    )


def _csv_header(path: Path) -> tuple[list[str], str]:
    """Column names and delimiter of a CSV file, read from its first line."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first = handle.readline()
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    names = next(csv.reader([first], delimiter=delimiter), [])
    if not names or any(not n.strip() for n in names):
        raise SchemaError(
            f"Ed-Fi export file {path} must start with a header row of column names."
        )
    return [n.strip() for n in names], delimiter


def _csv_reader(paths: tuple[Path, ...], files: str) -> str:
    """read_csv over ``paths`` with the header's columns, all VARCHAR, no sniffing.

    Declaring the columns up front skips DuckDB's type sniffer (the slow part of
    opening many small tables) and keeps every value as text.
    """
    names, delimiter = _csv_header(paths[0])
    columns = "{" + ", ".join(f"{_literal(n)}: 'VARCHAR'" for n in names) + "}"
    return (
        f"read_csv({files}, header = true, auto_detect = false, columns = {columns}, "
        f"delim = {_literal(delimiter)}, quote = '\"', escape = '\"', "
        "null_padding = true)"
    )


class EdfiSource:
    """An Ed-Fi export opened on a DuckDB connection, one lazily created view per table.

    Parameters
    ----------
    root : Path
        Folder holding the ODS tables.
    con : duckdb.DuckDBPyConnection
        Connection on which the views are created.
    """

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection) -> None:
        self.root = root
        self.con = con
        self.tables = discover_tables(root)
        self._columns: dict[str, tuple[str, ...]] = {}
        self._rows: dict[str, int] = {}
        register_macros(con)

    def has(self, table: str) -> bool:
        """Whether the export holds ``table`` (even if it has no rows)."""
        return _table_key(table) in self.tables

    def require(self, tables: Iterable[str]) -> None:
        """Raise SchemaError naming the first required table that is absent."""
        for table in tables:
            if not self.has(table):
                message = MISSING_TABLE.format(source=self.root, table=table)
                nested = [d.name for d in sorted(self.root.iterdir())
                          if d.is_dir() and _table_key(table) in discover_tables(d)]
                if nested:
                    message += f" It is in the subfolder {nested[0]}/: pass that one."
                raise SchemaError(message)

    def file_label(self, table: str) -> str:
        """The file or folder a table was read from, for messages."""
        found = self.tables[_table_key(table)]
        first = found.paths[0]
        if first.stem != found.name:  # a folder of parquet parts
            return f"{first.parent.name}/"
        return first.name

    def _view(self, table: str) -> str:
        """Create (once) and return the raw all-VARCHAR view of ``table``."""
        key = _table_key(table)
        view = _view_name(key)
        if key in self._columns:
            return view
        found = self.tables[key]
        files = "[" + ", ".join(_literal(str(p)) for p in found.paths) + "]"
        if found.kind == "csv":
            reader = _csv_reader(found.paths, files)
        else:
            reader = f"read_parquet({files}, union_by_name = true)"
        try:
            self.con.execute(
                f"CREATE OR REPLACE VIEW {view} AS "
                f"SELECT COLUMNS(*)::VARCHAR FROM {reader}"
            )
            described = self.con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
        except duckdb.Error as err:
            raise self._unreadable(table, err) from None
        self._columns[key] = tuple(str(row[0]) for row in described)
        return view

    def columns(self, table: str) -> tuple[str, ...]:
        """Column names of ``table`` as spelled in the export (empty if absent)."""
        if not self.has(table):
            return ()
        self._view(table)
        return self._columns[_table_key(table)]

    def has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` exists and has ``column`` (case-insensitive)."""
        return column.lower() in {c.lower() for c in self.columns(table)}

    def row_count(self, table: str) -> int:
        """Number of rows in ``table`` (0 if absent); counted once, then cached."""
        if not self.has(table):
            return 0
        key = _table_key(table)
        if key not in self._rows:
            view = self._view(table)
            try:
                row = self.con.execute(f"SELECT count(*) FROM {view}").fetchall()[0]
            except duckdb.Error as err:
                raise self._unreadable(table, err) from None
            self._rows[key] = int(row[0])
        return self._rows[key]

    def _unreadable(self, table: str, err: duckdb.Error) -> SchemaError:
        """SchemaError for a file DuckDB cannot read, without the offending row.

        DuckDB quotes the bad line of a CSV in its message; only the first line (the
        kind of error and the line number) is kept, as the row may hold student data.
        """
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        return SchemaError(
            f"Ed-Fi export {self.root}: table {table} ({self.file_label(table)}) "
            f"cannot be read: {first}. Expected a CSV file with a header row and the "
            "same number of fields on every line, or Parquet files."
        )

    def relation(self, table: str, columns: Sequence[str]) -> str:
        """A subquery over ``table`` exposing exactly ``columns`` (as named here).

        Missing columns, and every column of a missing table, read as NULL, so mapping
        SQL can be written once for exports that omit optional Ed-Fi columns. Values
        are trimmed, empty strings become NULL, and integer-looking identifiers lose a
        float suffix (``"918.0"`` -> ``"918"``).
        """
        if not self.has(table):
            nulls = ", ".join(f"NULL::VARCHAR AS {_quote(c)}" for c in columns)
            return f"(SELECT {nulls} WHERE false)"
        view = self._view(table)
        present = {c.lower(): c for c in self._columns[_table_key(table)]}
        exprs = []
        for column in columns:
            actual = present.get(column.lower())
            if actual is None:
                exprs.append(f"NULL::VARCHAR AS {_quote(column)}")
                continue
            value = f"nullif(trim({_quote(actual)}), '')"
            if column.lower().endswith(_ID_SUFFIXES):
                value = f"regexp_replace({value}, '^(-?[0-9]+)\\.0+$', '\\1')"
            exprs.append(f"{value} AS {_quote(column)}")
        return f"(SELECT {', '.join(exprs)} FROM {view})"
