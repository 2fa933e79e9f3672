"""The frames a run keeps (every student's indicators as of each date the impact study
and the profiles read) stay within the memory limit (issue 17, item 6): a bounded,
least-recently-used shelf, and the dates computed in passes of bounded size, with the
same frames as one unbounded pass."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ontrack.dataset.budget import BoundedFrames


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(rows)}, dtype="int64")


def test_the_least_recently_used_frame_goes_first_and_the_newest_always_stays() -> None:
    size = int(_frame(1000).memory_usage(index=True, deep=True).sum())
    shelf = BoundedFrames(2 * size)
    shelf["a"], shelf["b"] = _frame(1000), _frame(1000)
    assert shelf["a"]["x"].iloc[-1] == 999  # "a" read: now "b" is the oldest
    shelf["c"] = _frame(1000)
    assert "b" not in shelf and "a" in shelf and "c" in shelf and shelf.held_bytes == 2 * size
    shelf["huge"] = _frame(100_000)  # larger than the whole budget: kept alone
    assert len(shelf) == 1 and "huge" in shelf
    with pytest.raises(KeyError):
        shelf["a"]
    with pytest.raises(ValueError, match="max_bytes must be a whole number >= 0. Got -1 instead."):
        BoundedFrames(-1)


def test_dates_in_small_passes_and_a_small_shelf_give_the_same_frames(
        trained_grade8: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from ontrack.indicators import school_year_of
    from ontrack.scoring import indicator_points
    from ontrack.validation.store import open_validated, provided_tables

    out, config = trained_grade8["out"], trained_grade8["config"]
    days = [date(2021, 10, 31), date(2022, 1, 31), date(2022, 6, 30), date(2023, 3, 15)]
    points = [(day, (school_year_of(config.rules_for(None), day),)) for day in days]
    con = open_validated(out, config)
    try:
        have = provided_tables(con)
        indicator_points._SHARED.clear()
        whole = indicator_points.shared_indicators(out, config, points, provided=have, con=con)
        indicator_points._SHARED.clear()
        monkeypatch.setattr(indicator_points, "chunk_rows", lambda _config: 1)  # a pass per date
        monkeypatch.setattr(indicator_points, "shelf_bytes", lambda _config: 1)  # one frame kept
        passes = indicator_points._passes(points, con.execute(
            "SELECT DISTINCT student_id, CAST(school_year AS INTEGER) AS school_year FROM enrollments").df(), 1)
        small = indicator_points.shared_indicators(out, config, points, provided=have, con=con)
        again = indicator_points.shared_indicators(out, config, points[:1], provided=have, con=con)
    finally:
        con.close()
        indicator_points._SHARED.clear()
    assert [len(group) for group in passes] == [1, 1, 1, 1]
    assert all(len(whole[p]) > 0 for p in points)
    for point in points:
        pd.testing.assert_frame_equal(small[point], whole[point])
    pd.testing.assert_frame_equal(again[points[0]], whole[points[0]])  # evicted, computed again
    shelf = next(iter(indicator_points._SHARED.values()), None)
    assert shelf is None or len(shelf) <= 1
