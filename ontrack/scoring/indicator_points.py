"""Students' indicators as of given (date, school years) points, all points computed in
passes of bounded size (:func:`points_in_one_pass`, used by the profiles' criteria), and
what those indicators depend on (:func:`data_identity`, the key of what a run keeps).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ontrack.config import Config
from ontrack.dataset.budget import chunk_rows, sized_groups
from ontrack.indicators import indicators_as_of, student_indicators


def data_identity(out_dir: Path, config: Config, provided: Collection[str]) -> tuple:
    """What the indicators depend on: the validated files (by path, inode, size and
    modification time: a rewrite replaces the file), the config and the tables provided."""
    validated = (Path(out_dir) / "validated").resolve()
    files = tuple(sorted((p.name, st.st_ino, st.st_size, st.st_mtime_ns)
                         for p in validated.glob("*.parquet") for st in [p.stat()]))
    return str(validated), config.config_hash, frozenset(provided), files


def points_in_one_pass(con: duckdb.DuckDBPyConnection, config: Config,
                        points: Sequence[tuple[date, tuple[int, ...]]],
                        provided: set[str]) -> dict[tuple, pd.DataFrame]:
    """Each point's frame as :func:`student_indicators` (as of its date, its school
    years) gives it, all points computed in one pass (:func:`indicators_as_of`)."""
    if len(points) == 1:
        (day, years), = points
        return {(day, years): student_indicators(con, config, as_of=day, school_years=list(years),
                                                 provided=provided)}
    pairs = con.execute("SELECT DISTINCT student_id, CAST(school_year AS INTEGER) AS school_year "
                        "FROM enrollments").df()
    found = {}
    for group in _passes(points, pairs, chunk_rows(config)):
        asked = pd.concat([pairs[pairs["school_year"].isin(years)].assign(as_of_date=pd.Timestamp(day))
                           for day, years in group], ignore_index=True)
        frame = indicators_as_of(con, config, asked, provided=provided)
        for day, years in group:
            rows = frame[(frame["as_of_date"] == pd.Timestamp(day)) & frame["school_year"].isin(years)]
            found[(day, years)] = _as_read_alone(rows.reset_index(drop=True))
    return found


def _passes(points: Sequence[tuple[date, tuple[int, ...]]], pairs: pd.DataFrame,
            max_rows: int) -> list[list[tuple[date, tuple[int, ...]]]]:
    """``points`` in passes of at most ``max_rows`` asked (student, school year) rows:
    a district with many as-of dates stays within the memory limit."""
    per_year = pairs["school_year"].value_counts().to_dict()
    sizes = [sum(int(per_year.get(year, 0)) for year in set(years)) for _day, years in points]
    return sized_groups(list(points), sizes, max_rows)


def _as_read_alone(rows: pd.DataFrame) -> pd.DataFrame:
    """Text columns typed as a query of these rows alone types them: a column with no
    value at all comes back from DuckDB as objects (None), not as strings."""
    for col in rows.columns:
        if pd.api.types.is_string_dtype(rows[col]) and rows[col].isna().all():
            rows[col] = pd.Series([None] * len(rows), index=rows.index, dtype=object)
    return rows
