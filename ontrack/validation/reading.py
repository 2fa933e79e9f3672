"""Find and read one contract table from CSV or Parquet into DuckDB, as text.

Every value is read as text first so that nothing is lost before validation: IDs keep
their leading zeros, a bad date stays visible in the quarantine file, and typing happens
in one place (``ontrack.validation``). CSV files may be UTF-8 with or without a BOM, or
Latin-1 (detected, with a warning); the delimiter (comma, semicolon, tab or pipe) is
sniffed from the header. Malformed lines are kept as rejected rows, never dropped.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from ontrack.errors import SchemaError

SNIFF_BYTES = 4 << 20
# The column naming each input row in the checks (its rejections, the rows accepted).
ROW_ID = "__rid"
DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class SourceFile:
    """Where a table lives and how to read it."""

    table: str
    path: Path
    format: str  # "csv" or "parquet"
    encoding: str = "utf-8"
    delimiter: str = ","
    warnings: tuple[str, ...] = field(default=())
    header: tuple[str, ...] = field(default=())
    max_line_bytes: int = 128 << 20  # engine.max_line_bytes: a longer CSV line is quarantined


def find_table_file(data_dir: Path, table: str) -> tuple[Path | None, list[str]]:
    """The file for ``table`` in ``data_dir`` (parquet preferred), plus warnings."""
    warnings: list[str] = []
    parquet = data_dir / f"{table}.parquet"
    csv_path = data_dir / f"{table}.csv"
    if parquet.exists() and csv_path.exists():
        warnings.append(
            f"{table}: both {csv_path.name} and {parquet.name} exist; using {parquet.name}."
        )
    for candidate in (parquet, csv_path):
        if candidate.exists():
            return candidate, warnings
    return None, warnings


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def sniff_csv(path: Path, table: str) -> SourceFile:
    """Detect encoding and delimiter from the first bytes of a CSV file."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip(b"\xef\xbb\xbf \r\n\t"):
        raise SchemaError(
            f"table {table} ({path}): the file is empty. Expected a header row "
            "naming the columns, then one row per record."
        )
    warnings: list[str] = []
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=len(head) < SNIFF_BYTES)
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "latin-1"
        warnings.append(
            f"{table}: {path.name} is not UTF-8; read as Latin-1. Save it as UTF-8 to "
            "silence this warning."
        )
    text = head.decode(encoding, errors="replace").lstrip("\ufeff").lstrip("ï»¿")
    header = text.splitlines()[0] if text else ""
    counts = {d: header.count(d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        delimiter = ","
    if delimiter != ",":
        name = {"\t": "tab", ";": "semicolon", "|": "pipe"}[delimiter]
        warnings.append(f"{table}: {path.name} is {name}-delimited; read accordingly.")
    names = next(csv.reader(io.StringIO(header), delimiter=delimiter), [])
    return SourceFile(
        table, path, "csv", encoding, delimiter, tuple(warnings), tuple(names)
    )


def header_columns(con: duckdb.DuckDBPyConnection, source: SourceFile) -> list[str]:
    """Column names as found in the file (BOM and surrounding spaces removed)."""
    if source.format == "csv":
        return [clean_column_name(n) for n in source.header]
    return [clean_column_name(n) for n in parquet_columns(con, source)]


def parquet_columns(con: duckdb.DuckDBPyConnection, source: SourceFile) -> list[str]:
    """A Parquet file's column names as written (one DESCRIBE; ask once per file)."""
    sql = f"DESCRIBE SELECT * FROM read_parquet({_quote(source.path)})"
    try:
        return [row[0] for row in con.execute(sql).fetchall()]
    except duckdb.Error as err:
        raise SchemaError(
            f"table {source.table} ({source.path}): cannot be read as "
            f"{source.format.upper()}: {_first_line(err)}"
        ) from None


def clean_column_name(name: str) -> str:
    """Header names compare case-insensitively, without BOM or stray spaces."""
    return name.replace("\ufeff", "").replace("ï»¿", "").strip().lower()


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def raw_select(source: SourceFile, file_columns: list[str],
               originals: list[str] | None = None) -> tuple[str, bool]:
    """A query of every file column as trimmed text, and whether its rows carry a
    stable row number (``ROW_ID``). ``originals``: a Parquet file's column names as
    written (:func:`parquet_columns`).

    A Parquet file numbers its rows (``file_row_number``), so the query can be read
    several times and still name the same rows. A CSV has no such number (nor has a
    Parquet file with a column of that name): ``partition.prepare_table`` then scans
    it once into a numbered Parquet copy, and for a CSV the lines that cannot be split
    into the header's columns are collected by that scan (fetch them with
    :func:`collect_rejects`)."""
    numbered = False
    if source.format == "parquet":
        reader = f"read_parquet({_quote(source.path)})"
        originals = list(originals or [])
        if "file_row_number" not in originals and ROW_ID not in file_columns:
            reader = f"read_parquet({_quote(source.path)}, file_row_number = true)"
            numbered = True
    else:
        originals = [f"c{i}" for i in range(len(source.header))]
        reader = _csv_reader_with_columns(source, originals)
    select = ", ".join(
        f"NULLIF(trim(CAST({_ident(orig)} AS VARCHAR)), '') AS {_ident(clean)}"
        for orig, clean in zip(originals, file_columns, strict=True)
    )
    if numbered:
        select += f", file_row_number AS {ROW_ID}"
    return f"SELECT {select} FROM {reader}", numbered


def collect_rejects(
    con: duckdb.DuckDBPyConnection, source: SourceFile
) -> list[tuple[int, str, str]]:
    """Malformed CSV lines seen by the last scan, as ``(line, raw_text, problem)``."""
    if source.format != "csv":
        return []
    rows = con.execute(
        f"SELECT line, csv_line, error_type || ': ' || error_message "
        f"FROM rejects_{source.table} ORDER BY line"
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS rejects_{source.table}; "
                f"DROP TABLE IF EXISTS rejects_scan_{source.table}")
    # Several problems on one line are one rejected row.
    seen: dict[int, tuple[int, str, str]] = {}
    for line, text, problem in rows:
        if line not in seen:
            seen[int(line)] = (int(line), str(text), str(problem))
    return list(seen.values())


def overlong_lines(source: SourceFile, records: int, reported: bool) -> list[tuple[int, str, str]]:
    """Physical lines of a CSV of ``source.max_line_bytes`` or more, as ``(line, "",
    problem)`` (the text is withheld: it is the over-long line).

    DuckDB drops such a line, reporting it or not depending on where it falls in its
    read buffer, so they are counted here instead, for rows in = accepted + quarantined.
    ``records``: the lines DuckDB saw (header, rows and other malformed lines);
    ``reported``: DuckDB reported an over-long line. A file no longer than the limit,
    or whose line count matches ``records`` with nothing reported, needs no scan; else
    one pass over the bytes finds them (about 1.6 s per GB).
    """
    limit = source.max_line_bytes
    size = source.path.stat().st_size
    if size <= limit or (not reported and _physical_lines(source.path) == records):
        return []
    found: list[tuple[int, str, str]] = []
    lines, last_break, offset = 0, -1, 0
    with source.path.open("rb") as handle:
        for block in iter(lambda: handle.read(SCAN_BYTES), b""):
            breaks = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + offset
            if breaks.size:
                starts = np.concatenate(([last_break + 1], breaks[:-1] + 1))
                for index in np.flatnonzero(breaks - starts >= limit):  # as DuckDB counts
                    found.append((lines + int(index) + 1, int(breaks[index] - starts[index])))
                lines, last_break = lines + breaks.size, int(breaks[-1])
            offset += len(block)
    if size - (last_break + 1) >= limit:  # the last line, without a line break
        found.append((lines + 1, size - last_break - 1))
    return [(line, "", f"{TOO_LONG}: the line is {length:,} bytes, engine.max_line_bytes "
                       + f"is {limit:,}") for line, length in found]


def _physical_lines(path: Path) -> int:
    """Lines in a file, a last line without a line break included."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(SCAN_BYTES), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


MAX_LINE_BYTES = 128 << 20
MIN_BUFFER_BYTES = 32 << 20  # DuckDB's read buffer, however small the line limit
TOO_LONG = "LINE SIZE OVER MAXIMUM"  # DuckDB's reject type for a line over max_line_size
SCAN_BYTES = 64 << 20


def _csv_reader_with_columns(source: SourceFile, originals: list[str]) -> str:
    delim = source.delimiter.replace("'", "''")
    columns = ", ".join(
        "'" + c.replace("'", "''") + "': 'VARCHAR'" for c in originals
    )
    options = [
        "header = true",
        f"delim = '{delim}'",
        "quote = '\"'",
        "escape = '\"'",
        f"encoding = '{source.encoding}'",
        f"columns = {{{columns}}}",
        "auto_detect = false",
        "ignore_errors = true",
        # A line longer than max_line_size is rejected, or skipped without a word when
        # it does not fit DuckDB's read buffer (measured: which one depends on where the
        # line falls in the buffer): over-long lines are taken from overlong_lines()
        # instead. The default limit, 128 MiB, reads a 60 MB free-text cell; the buffer
        # holds a whole line, which a Latin-1 file needs.
        f"max_line_size = {source.max_line_bytes}",
        f"buffer_size = {max(source.max_line_bytes, MIN_BUFFER_BYTES)}",
        "store_rejects = true",
        f"rejects_table = 'rejects_{source.table}'",
        f"rejects_scan = 'rejects_scan_{source.table}'",
    ]
    return f"read_csv({_quote(source.path)}, {', '.join(options)})"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


Located = dict[int, tuple[int, str]]


def locate_csv_lines(
    source: SourceFile, rows: Iterable[int], malformed: Iterable[int]
) -> tuple[Located, Located]:
    """Where rows of a CSV are in the file: ``(by_row, by_malformed)``.

    ``rows`` are 0-based ordinals among the well-formed data records (the numbering of
    the CSV's text copy, see ``row_checks.build_typed``); ``malformed`` are DuckDB's
    line numbers of the rejected lines, which count a quoted field's line breaks as
    none. Each maps to ``(line, text)``: the 1-based physical line where the record
    starts, as an editor shows it, and the record's text. The file is read once, as
    far as the last row asked for; blank lines are no records, as for DuckDB.
    """
    wanted, bad = set(rows), set(malformed)
    by_row: Located = {}
    by_bad: Located = {}
    last_row, last_bad = max(wanted, default=-1), max(bad, default=0)
    ordinal = -1
    for logical, physical, text in _records(source):
        if logical == 1 or not text.strip():
            continue  # the header, a blank line
        if logical in bad:
            by_bad[logical] = (physical, text)
        else:
            ordinal += 1
            if ordinal in wanted:
                by_row[ordinal] = (physical, text)
        if ordinal >= last_row and logical >= last_bad:
            break
    return by_row, by_bad


def _records(source: SourceFile) -> Iterator[tuple[int, int, str]]:
    """``(logical line, first physical line, text)`` of every line of a CSV, a quoted
    line break joining physical lines into one logical line."""
    logical, physical = 0, 0
    parts: list[str] = []
    start = 1
    with source.path.open(encoding=source.encoding, errors="replace", newline="") as handle:
        for line in handle:
            physical += 1
            if not parts:
                start = physical
            parts.append(line)
            if "".join(parts).count('"') % 2:
                continue  # inside a quoted field: the record goes on
            logical += 1
            yield logical, start, "".join(parts).rstrip("\r\n").lstrip("\ufeff")
            parts = []
    if parts:
        yield logical + 1, start, "".join(parts).rstrip("\r\n")


def quarantine_lines(
    source: SourceFile | None,
    rids: list[int],
    malformed: list[tuple[int, str, str]],
    withheld: str | None = None,
) -> tuple[list[tuple[int, int, str]], list[tuple[int, str, str]]]:
    """``(rid, line, text)`` for rejected rows and ``(line, text, problem)`` for
    malformed lines, with lines as a person finds them in the file: a CSV's physical
    line and text, a Parquet file's 1-based row and no text. ``withheld`` replaces
    every non-empty text (a table with students' names)."""
    if source is None or source.format != "csv":
        return [(rid, rid + 1, "") for rid in rids], malformed
    by_row, by_bad = locate_csv_lines(source, rids, (line for line, _t, _p in malformed))
    hide = (lambda text: withheld if text else text) if withheld else (lambda text: text)
    rows = [(rid, by_row[rid][0], hide(by_row[rid][1])) for rid in rids if rid in by_row]
    bad = [(*by_bad.get(line, (line, text)), problem) for line, text, problem in malformed]
    return rows, [(line, hide(text), problem) for line, text, problem in bad]
