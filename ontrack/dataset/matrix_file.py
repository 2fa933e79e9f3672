"""The feature matrix file, ``OUT/features/<model>/matrix.parquet``, written from the
feature parts one row group at a time (the parts never all in memory at once): the same
file pandas would write for the parts concatenated and put in cohort order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ontrack.paths import write_atomically

ROW_GROUP_ROWS = 1024 * 1024  # pyarrow's default row group: the file pandas would write


def write_matrix(target: Path, files: list[str], index: pd.MultiIndex,
                 names: list[str]) -> dict[str, int]:
    """Write the rows of the part ``files`` in the order of the cohort ``index`` with the
    columns ``names``: the same file as ``pd.concat(parts).reindex(index)[names]
    .to_parquet(target)`` (a cohort row no part holds is all missing), built one row
    group at a time from Arrow columns. Returns each column's count of missing values.

    The parts are in cohort order within themselves but cut by checkpoint and student
    bucket, so their rows interleave in the cohort's (student, date) order."""
    source = _source_rows(files, index)
    schema = _matrix_schema(files[0] if files else None, index, names)
    missing = dict.fromkeys(names, 0)

    def write(path: Path) -> None:
        parts = [pq.ParquetFile(f) for f in files]
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(0, max(len(index), 1), ROW_GROUP_ROWS):
                chunk = _row_group(parts, index, source, start, schema, names)
                for name in names:
                    column = chunk.column(name)
                    missing[name] += column.null_count + _nan_count(column)
                writer.write_table(chunk)
                del chunk

    write_atomically(target, write)
    return missing


def _source_rows(files: list[str], index: pd.MultiIndex) -> np.ndarray:
    """For each cohort row, its row in the parts laid end to end (-1: in no part). Reads
    only the parts' key columns."""
    source = np.full(len(index), -1, dtype=np.int64)
    offset = 0
    for file in files:
        keys = pq.read_table(file, columns=list(index.names))
        at = index.get_indexer(pd.MultiIndex.from_arrays(
            [keys.column(name).to_pandas() for name in index.names], names=index.names))
        found = at >= 0
        if (source[at[found]] >= 0).any() or len(np.unique(at[found])) < found.sum():
            raise ValueError(f"Feature parts must hold each cohort row at most once. "
                             f"Got a row twice in {Path(file).name} instead.")
        source[at[found]] = offset + np.flatnonzero(found)
        offset += keys.num_rows
    return source


def _matrix_schema(first: str | None, index: pd.MultiIndex, names: list[str]) -> pa.Schema:
    """The Arrow schema (with pandas' metadata) pandas would write for the matrix: that of
    one part row reindexed on the cohort's first row, as the whole matrix is."""
    if first is None:
        sample = pd.DataFrame({name: pd.Series(dtype="float64") for name in names}, index=index[:0])
    else:
        part = pq.ParquetFile(first)
        batch = next(part.iter_batches(batch_size=1), None)
        table = pa.Table.from_batches([batch]) if batch is not None else part.schema_arrow.empty_table()
        sample = table.to_pandas()
    sample = sample.reindex(index[:1])[names]
    return pa.Table.from_pandas(sample).schema


def _row_group(parts: list[pq.ParquetFile], index: pd.MultiIndex, source: np.ndarray, start: int,
               schema: pa.Schema, names: list[str]) -> pa.Table:
    """The matrix's rows ``start`` to ``start + ROW_GROUP_ROWS`` in cohort order: each
    feature read one column at a time from every part, then taken into place."""
    rows = source[start:start + ROW_GROUP_ROWS]
    take = pa.array(rows, mask=rows < 0)
    columns = []
    for name in names:
        pieces = [part.read(columns=[name]).column(name) for part in parts]
        whole = pa.chunked_array([c for p in pieces for c in p.chunks], type=schema.field(name).type)
        columns.append(whole.take(take))
        del pieces, whole
    keys = index[start:start + ROW_GROUP_ROWS].to_frame(index=False)
    for level in index.names:
        columns.append(pa.array(keys[level], type=schema.field(level).type))
    return pa.Table.from_arrays(columns, schema=schema)


def _nan_count(column: pa.ChunkedArray) -> int:
    """Values of a float column that are NaN rather than null."""
    if not pa.types.is_floating(column.type):
        return 0
    return int(pc.sum(pc.is_nan(column)).as_py() or 0)
