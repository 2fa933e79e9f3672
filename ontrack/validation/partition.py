"""Validate one table, whole or in partitions: the unit of work of the validation stage.

Three steps, each a plain function of picklable values (a Dask task can run any of them;
single-process validation runs the very same functions one after the other):

1. :func:`prepare_table` finds and sniffs the file, refuses an unusable header, and
   makes the rows readable by number (a Parquet file as it is; a CSV copied once into a
   numbered Parquet text copy under ``OUT/validation/.parts/<table>/``, its malformed
   lines collected). Returns a :class:`PreparedTable`.
2. :func:`validate_partition` checks partition ``(index, count)``: the rows whose typed
   key hashes to ``index`` (every row when ``count`` is 1). Rows that may duplicate each
   other share a key, hence a partition, so uniqueness is decided locally; references
   are anti-joins against the parents already validated (``OUT/validated``). It writes
   the partition's accepted rows and its rejected rows (as read, with reasons) next to
   the text copy and returns a :class:`PartResult`.
3. :func:`finish_table` gathers the parts: ``OUT/validated/<table>.parquet``, the
   quarantine CSV (in input order, with line numbers) and the table's report.

:func:`validate_table` runs the three in this process. Tables must be finished in
``TABLE_ORDER``: a table's partitions read its parents' validated files.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from ontrack.config import Config
from ontrack.errors import SchemaError
from ontrack.tables import NAME_COLUMNS, SCHEMAS, TableSchema
from ontrack.validation.checks import ident, literal, typed
from ontrack.validation.parents import load_parents
from ontrack.validation.quarantine import WITHHELD, write_quarantine
from ontrack.validation.reading import (
    ROW_ID,
    TOO_LONG,
    SourceFile,
    clean_column_name,
    collect_rejects,
    find_table_file,
    header_columns,
    overlong_lines,
    parquet_columns,
    raw_select,
    sniff_csv,
)
from ontrack.validation.report import TableReport
from ontrack.validation.row_checks import (
    build_checked,
    checked_relation,
    drop_checked,
    find_row_problems,
    small_enough_for_memory,
)
from ontrack.validation.store import pooled

# Wider than any district extract (the contract has at most 12 columns per table): a
# header beyond it is refused before DuckDB is asked to read it.
MAX_COLUMNS = 2_000


@dataclass(frozen=True)
class PreparedTable:
    """A table ready to be validated in partitions: where its numbered rows are."""

    table: str
    source: SourceFile
    columns: tuple[str, ...]  # the file's columns, cleaned names, in file order
    rows_path: str  # numbered Parquet every partition reads
    read_columns: tuple[str, ...]  # rows_path's column for each file column
    copied: bool  # rows_path is a text copy (already trimmed text)
    malformed: tuple[tuple[int, str, str], ...]  # CSV lines that could not be split
    rows_in: int
    parts_dir: str
    file_warnings: tuple[str, ...] = ()  # about finding the file (both CSV and Parquet)
    overlong: tuple[tuple[int, str, str], ...] = ()  # CSV lines over the limit, by physical line


@dataclass(frozen=True)
class PartResult:
    """What one partition wrote: its accepted and rejected rows."""

    table: str
    index: int
    count: int
    rows: int
    accepted: int
    accepted_path: str
    rejected_path: str  # "" when the partition rejected no row (no file written)


def parts_dir(out_dir: Path | str, table: str) -> Path:
    """Where a table's text copy and partition outputs live until it is finished."""
    return Path(out_dir) / "validation" / ".parts" / table


def _workdir(out_dir: Path | str, name: str) -> Path:
    return Path(out_dir) / ".tmp" / f"validation-{name}-{os.getpid()}"


@contextmanager
def _connection(con: duckdb.DuckDBPyConnection | None, config: Config, out_dir: Path | str,
                name: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's connection (a single-process run shares one: opening one costs
    ~11 ms), or one of this step's own (an idle one of this process when there is one),
    given back and its spill folder removed after."""
    if con is not None:
        yield con
        return
    workdir = _workdir(out_dir, name)
    try:
        with pooled(config, workdir) as own:
            yield own
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def prepare_table(
    data_dir: Path | str,
    out_dir: Path | str,
    table: str,
    config: Config,
    max_columns: int = MAX_COLUMNS,
    con: duckdb.DuckDBPyConnection | None = None,
) -> PreparedTable | None:
    """Find ``table`` in ``data_dir`` and make its rows readable by number; ``None`` when
    an optional table is absent. Raises :class:`SchemaError` for an unusable file.
    ``con``: a connection to use (default: one of its own)."""
    schema = SCHEMAS[table]
    path, warnings = find_table_file(Path(data_dir), table)
    if path is None:
        if schema.required:
            raise SchemaError(
                f"table {table} is required but {data_dir} has neither "
                f"{table}.csv nor {table}.parquet."
            )
        return None
    source = SourceFile(table, path, "parquet") if path.suffix == ".parquet" else replace(
        sniff_csv(path, table), max_line_bytes=config.engine.max_line_bytes)
    _check_width(table, path, len(source.header), max_columns)
    folder = parts_dir(out_dir, table)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with _connection(con, config, out_dir, table) as db:
        originals = parquet_columns(db, source) if source.format == "parquet" else None
        columns = ([clean_column_name(n) for n in originals] if originals is not None
                   else header_columns(db, source))
        _check_width(table, path, len(columns), max_columns)
        _check_header(schema, source, columns)
        source, rows_path, read_columns, copied, malformed, rows_in = _numbered_rows(
            db, source, columns, folder, originals)
    overlong: list[tuple[int, str, str]] = []
    if source.format == "csv":
        reported = [m for m in malformed if m[2].startswith(TOO_LONG)]
        malformed = [m for m in malformed if not m[2].startswith(TOO_LONG)]
        overlong = overlong_lines(source, rows_in + len(malformed) + len(reported) + 1,
                                  bool(reported))
        if len(overlong) < len(reported):  # a record over the limit across quoted line breaks
            malformed, overlong = sorted(malformed + reported), []
    rows_in += len(malformed) + len(overlong)
    if rows_in == 0 and schema.required:
        raise SchemaError(
            f"table {table} ({path}): the file has a header but no rows; "
            f"{table} is required. Expected {schema.description.lower()}"
        )
    return PreparedTable(table, source, tuple(columns), rows_path, tuple(read_columns), copied,
                         tuple(malformed), int(rows_in), str(folder), tuple(warnings),
                         tuple(overlong))


def _check_width(table: str, path: Path, width: int, max_columns: int) -> None:
    if width > max_columns:
        raise SchemaError(
            f"table {table} ({path}): the header must name at most {max_columns:,} "
            f"columns. Got {width:,} instead."
        )


def _check_header(schema: TableSchema, source: SourceFile, columns: list[str]) -> None:
    duplicated = sorted(c for c, n in Counter(columns).items() if n > 1)
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


def _numbered_rows(
    con: duckdb.DuckDBPyConnection, source: SourceFile, columns: list[str], folder: Path,
    originals: list[str] | None,
) -> tuple[SourceFile, str, list[str], bool, list[tuple[int, str, str]], int]:
    """``(source as read, rows_path, read_columns, copied, malformed, rows)``.

    A Parquet file (``originals``: its column names as written) numbers its rows itself
    (``file_row_number``). A CSV (or a Parquet file with a column of that name) is
    scanned once, in file order, into a Parquet copy of its trimmed text with positional
    columns; a CSV that is not UTF-8 is read again as Latin-1."""
    select, numbered = raw_select(source, columns, originals)
    if numbered:
        rows = con.execute(
            f"SELECT count(*) FROM read_parquet({literal(str(source.path))})").fetchall()[0][0]
        return source, str(source.path), list(originals or []), False, [], int(rows)
    copy = str(folder / "text.parquet")
    rows, malformed = _copy_text(con, source, columns, select, copy)
    if source.format == "csv" and source.encoding == "utf-8" and any(
        "INVALID ENCODING" in m[2] for m in malformed
    ):
        note = f"{source.table}: {source.path.name} is not UTF-8; read as Latin-1."
        source = replace(source, encoding="latin-1", warnings=(*source.warnings, note))
        rows, malformed = _copy_text(con, source, columns, raw_select(source, columns)[0], copy)
    return source, copy, [f"c{i}" for i in range(len(columns))], True, malformed, rows


def _copy_text(con: duckdb.DuckDBPyConnection, source: SourceFile, columns: list[str],
               select: str, copy: str) -> tuple[int, list[tuple[int, str, str]]]:
    """Rows of ``select`` (the file as text) copied to ``copy`` in file order: how many,
    and the CSV's malformed lines."""
    positional = ", ".join(f"{ident(c)} AS c{i}" for i, c in enumerate(columns))
    con.execute("SET preserve_insertion_order = true")  # row number = record ordinal
    try:
        rows = con.execute(f"COPY (SELECT {positional} FROM ({select})) TO {literal(copy)} "
                           "(FORMAT parquet)").fetchall()[0][0]
    except duckdb.Error as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SchemaError(
            f"table {source.table} ({source.path}): cannot be read: {first}") from None
    finally:
        con.execute("SET preserve_insertion_order = false")
    return int(rows), collect_rejects(con, source)


def _raw_view(con: duckdb.DuckDBPyConnection, prepared: PreparedTable) -> None:
    """View ``raw_t``: every file column as trimmed text, and ``ROW_ID``."""
    if prepared.copied:
        cols = [f"{ident(r)} AS {ident(c)}" for r, c in zip(prepared.read_columns, prepared.columns)]
    else:
        cols = [f"NULLIF(trim(CAST({ident(r)} AS VARCHAR)), '') AS {ident(c)}"
                for r, c in zip(prepared.read_columns, prepared.columns)]
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW raw_t AS SELECT {', '.join(cols)}, "
        f"file_row_number AS {ROW_ID} "
        f"FROM read_parquet({literal(prepared.rows_path)}, file_row_number = true)"
    )


def validate_partition(
    prepared: PreparedTable,
    out_dir: Path | str,
    config: Config,
    partition: tuple[int, int] = (0, 1),
    con: duckdb.DuckDBPyConnection | None = None,
) -> PartResult:
    """Check partition ``(index, count)`` of a prepared table; write its accepted rows
    and its rejected rows (names withheld) under the table's parts folder. ``con``: a
    connection to use (default: one of its own, as a task on a cluster needs)."""
    index, count = partition
    if not (isinstance(count, int) and count >= 1 and 0 <= index < count):
        raise ValueError(f"partition must be (index, count) with 0 <= index < count. "
                         f"Got {partition!r} instead.")
    schema = SCHEMAS[prepared.table]
    folder = Path(prepared.parts_dir)
    with _connection(con, config, out_dir, f"{prepared.table}-{index}") as db:
        districts = load_parents(db, Path(out_dir), config, prepared.table)
        _raw_view(db, prepared)
        small = small_enough_for_memory(prepared.rows_in // count, len(schema.columns), config)
        rows = build_checked(db, schema, list(prepared.columns), config, districts, partition,
                             in_memory=small)
        find_row_problems(db, schema, small)
        accepted_path = str(folder / f"accepted-{index}-of-{count}.parquet")
        rejected_path = str(folder / f"rejected-{index}-of-{count}.parquet")
        db.execute(  # bad_t holds rows without a reason of their own (row_checks)
            "CREATE OR REPLACE TEMP TABLE rejected_ids AS SELECT rid, own AS reason "
            "FROM flags WHERE own IS NOT NULL UNION ALL SELECT rid, reason FROM bad_t")
        accepted = _write_accepted(db, schema, accepted_path, checked_relation(small))
        if accepted == rows:  # every row is either accepted or rejected
            rejected_path = ""
        else:
            _write_rejected(db, list(prepared.columns), rejected_path)
        db.execute("DROP TABLE rejected_ids")
        drop_checked(db, small)
    return PartResult(prepared.table, index, count, rows, accepted, accepted_path, rejected_path)


def _write_accepted(con: duckdb.DuckDBPyConnection, schema: TableSchema, target: str,
                    checked: str) -> int:
    """The typed rows (relation ``checked``) not in ``rejected_ids`` (no reason of
    their own nor in context): the contract's columns and the derived ones. Row order
    is left to the threads: every output built from these files is ordered on its own
    key (docs/validation.md)."""
    select = ", ".join([f"c.{typed(c.name)} AS {ident(c.name)}" for c in schema.columns]
                       + [f"c.{ident(d.name)}" for d in schema.derived])
    query = f"SELECT {select} FROM {checked} c ANTI JOIN rejected_ids b ON c.{ROW_ID} = b.rid"
    return int(con.execute(
        f"COPY ({query}) TO {literal(target)} (FORMAT parquet)").fetchall()[0][0])


def _write_rejected(con: duckdb.DuckDBPyConnection, columns: list[str], target: str) -> None:
    """Rejected rows as read (students' names only as filled or not), the reason and the
    row's number (``__order``), for the rows of ``rejected_ids``. Their text is read
    again from the file by row number: the scan skips every row group without a
    rejected row. Called when there are some (the rows the partition did not accept)."""
    cols = ", ".join(
        f"CASE WHEN r.{ident(c)} IS NULL THEN NULL ELSE {literal(WITHHELD)} END AS {ident(c)}"
        if c in NAME_COLUMNS else f"r.{ident(c)}" for c in columns)
    query = (f"SELECT {cols}, x.reason AS __reason, x.rid AS __order "
             f"FROM (SELECT * FROM raw_t WHERE {ROW_ID} IN (SELECT rid FROM rejected_ids)) r "
             f"JOIN rejected_ids x ON r.{ROW_ID} = x.rid")
    con.execute(f"COPY ({query}) TO {literal(target)} (FORMAT parquet)")


def finish_table(
    prepared: PreparedTable, parts: list[PartResult], out_dir: Path | str, config: Config,
    con: duckdb.DuckDBPyConnection | None = None,
) -> TableReport:
    """Gather a table's partitions into ``OUT/validated/<table>.parquet`` and its
    quarantine CSV; return the table's report (rows in = accepted + quarantined)."""
    counts = {p.count for p in parts}
    if len(counts) != 1 or sorted(p.index for p in parts) != list(range(len(parts))) \
            or counts != {len(parts)}:
        raise ValueError(f"parts must be every partition of {prepared.table} once. Got "
                         f"{sorted((p.index, p.count) for p in parts)} instead.")
    schema = SCHEMAS[prepared.table]
    out = Path(out_dir)
    target = out / "validated" / f"{prepared.table}.parquet"
    with _connection(con, config, out_dir, prepared.table) as db:
        _gather_accepted(db, [p.accepted_path for p in parts], target)
        withheld = tuple(c for c in prepared.columns if c in NAME_COLUMNS)
        rejected = [p.rejected_path for p in parts if p.rejected_path]
        n_bad, errors = 0, {}
        if rejected or prepared.malformed or prepared.overlong:  # else: nothing to write
            n_bad, errors = write_quarantine(
                db, prepared.source, list(prepared.columns), rejected, list(prepared.malformed),
                out / "validation" / "quarantine" / f"{prepared.table}.csv",
                config, withheld, overlong=list(prepared.overlong))
    shutil.rmtree(prepared.parts_dir, ignore_errors=True)
    accepted = sum(p.accepted for p in parts)
    if prepared.rows_in != accepted + n_bad:  # pragma: no cover - a bug, never a data problem
        raise AssertionError(f"{prepared.table}: {prepared.rows_in} in != {accepted} + {n_bad}")
    ignored = tuple(c for c in prepared.columns if c not in schema.column_names)
    warns = list(prepared.source.warnings)
    if ignored:
        warns.append(f"{prepared.table}: ignored unknown column(s) {', '.join(ignored)}.")
    return TableReport(
        table=prepared.table, file=str(prepared.source.path), format=prepared.source.format,
        rows_in=prepared.rows_in, rows_accepted=accepted, rows_quarantined=n_bad,
        errors=errors, ignored_columns=ignored,
        missing_optional_columns=tuple(c for c in schema.column_names
                                       if c not in prepared.columns),
        warnings=tuple(warns),
    )


def _gather_accepted(con: duckdb.DuckDBPyConnection, paths: list[str], target: Path) -> None:
    """One partition's file is moved into place; several are concatenated (atomic)."""
    if len(paths) == 1:
        os.replace(paths[0], target)
        return
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    files = ", ".join(literal(p) for p in paths)
    con.execute(f"COPY (SELECT * FROM read_parquet([{files}])) TO {literal(str(staging))} "
                "(FORMAT parquet)")
    os.replace(staging, target)


def validate_table(
    prepared: PreparedTable, out_dir: Path | str, config: Config, partitions: int = 1,
    con: duckdb.DuckDBPyConnection | None = None,
) -> TableReport:
    """Validate a prepared table in this process, in ``partitions`` partitions."""
    parts = [validate_partition(prepared, out_dir, config, (i, partitions), con)
             for i in range(partitions)]
    return finish_table(prepared, parts, out_dir, config, con)
