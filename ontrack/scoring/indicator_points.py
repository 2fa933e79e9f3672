"""Every student's indicators as of given (date, school years) points, computed for the
whole district in passes of bounded size and kept for the run within the memory limit.

The impact study asks for the same checkpoints more than once; profiles compute their
own students' criteria through :func:`points_in_one_pass`. The kept frames are shared:
read them, never modify them in place.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ontrack.config import Config
from ontrack.dataset.budget import BoundedFrames, chunk_rows, shelf_bytes, sized_groups
from ontrack.indicators import indicators_as_of, student_indicators
from ontrack.validation.store import open_validated

# Data identity -> (as-of date, school years) -> every student's indicators then, within
# the memory limit (budget.BoundedFrames). One identity is kept: new validated files (or
# another config) start afresh.
_SHARED: dict[tuple, BoundedFrames] = {}


def data_identity(out_dir: Path, config: Config, provided: Collection[str]) -> tuple:
    """What the indicators depend on: the validated files (by path, inode, size and
    modification time: a rewrite replaces the file), the config and the tables provided."""
    validated = (Path(out_dir) / "validated").resolve()
    files = tuple(sorted((p.name, st.st_ino, st.st_size, st.st_mtime_ns)
                         for p in validated.glob("*.parquet") for st in [p.stat()]))
    return str(validated), config.config_hash, frozenset(provided), files


def shared_indicators(out_dir: Path | str, config: Config, points: Sequence[tuple[date, tuple[int, ...]]],
                      *, provided: Collection[str],
                      con: duckdb.DuckDBPyConnection | None = None) -> dict[tuple, pd.DataFrame]:
    """Every student's indicators as of each ``(date, school_years)`` point, computed
    once per run for the whole district and kept (the impact study asks for the same
    checkpoints more than once; profiles compute their own students' only, see
    :func:`ontrack.scoring.profile_data.warm_criteria`). ``con`` reads the validated tables (opened here when None).
    The frames are shared: read them, never modify them in place.
    """
    identity = data_identity(Path(out_dir), config, provided)
    if identity not in _SHARED:
        _SHARED.clear()
    shelf = _SHARED.setdefault(identity, BoundedFrames(shelf_bytes(config)))
    keys = list(dict.fromkeys((day, tuple(years)) for day, years in points))
    kept = {key: shelf[key] for key in keys if key in shelf}  # before new frames push them out
    fresh: dict[tuple, pd.DataFrame] = {}
    if len(kept) < len(keys):
        own = con is None
        con = open_validated(out_dir, config) if own else con
        try:
            fresh = points_in_one_pass(con, config, [k for k in keys if k not in kept], set(provided))
        finally:
            if own:
                con.close()
    for key, frame in fresh.items():
        shelf[key] = frame
    return {key: kept[key] if key in kept else fresh[key] for key in keys}


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
