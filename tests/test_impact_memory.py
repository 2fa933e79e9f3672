"""The impact study stays within the memory limit (issue 17, item 6): it computes its
own students' pre-start values only, a bounded number of rows at a time, with the same
values as the district's indicators computed as of each date; what it keeps for the
cutoffs is a bounded, least-recently-used shelf."""

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


def test_study_values_in_small_chunks_equal_each_date_computed_for_the_whole_district(
        trained_grade8: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The study computes its rows' students only, a few at a time, each as of its own
    date: the values equal those of the district's indicators computed as of each date
    alone, and a kept date is not computed again for a second question."""
    from ontrack.impact import data
    from ontrack.indicators import school_year_of, student_indicators
    from ontrack.validation.store import open_validated, provided_tables

    out, config = trained_grade8["out"], trained_grade8["config"]
    days = [date(2022, 1, 31), date(2023, 3, 15), date(2024, 1, 31)]
    con = open_validated(out, config)
    try:
        have = provided_tables(con)
        years = [school_year_of(config.rules_for(None), d) for d in days]
        students = [s for year in years for s in con.execute(
            "SELECT DISTINCT student_id FROM enrollments WHERE school_year = ? ORDER BY 1 LIMIT 25",
            [year]).df()["student_id"]]
        rows = pd.DataFrame({"student_id": [s for s in students for _ in days], "district_id": None})
        dates = pd.Series([pd.Timestamp(d) for _ in students for d in days], index=rows.index)
        dates.iloc[::7] = pd.NaT  # a row with no checkpoint before its start: unknown
        truth = {d: data.wide_values(student_indicators(
            con, config, as_of=d, school_years=[y], provided=have)).set_index("student_id")
            for d, y in zip(days, years, strict=True)}
        runs: list[int] = []
        counted = data.indicators_as_of

        def counting(*args: object, **kwargs: object) -> pd.DataFrame:
            runs.append(len(args[2]))
            return counted(*args, **kwargs)

        monkeypatch.setattr(data, "indicators_as_of", counting)
        monkeypatch.setattr(data, "chunk_rows", lambda _config: 25)
        cache: dict = {}
        found = data.values_as_of(con, config, rows, dates, cache)
        asked = len(runs)
        again = data.values_as_of(con, config, rows.iloc[:30], dates.iloc[:30], cache)
    finally:
        con.close()
    assert asked == -(-int(dates.notna().sum()) // 25) and max(runs) == 25, "25 rows at a time"
    assert len(runs) == asked, "every date asked again was kept: nothing computed twice"
    pd.testing.assert_frame_equal(again, found.iloc[:30])
    assert (found.loc[dates.isna(), "rule_status"] == "unknown").all()
    assert found.loc[dates.isna()].drop(columns="rule_status").isna().all().all()
    compared = 0
    for i in rows.index[dates.notna()]:
        day, student = dates[i].date(), rows.at[i, "student_id"]
        expected = truth[day].loc[student] if student in truth[day].index else None
        if expected is None:
            assert found.at[i, "rule_status"] == "unknown"
            continue
        for column in found.columns:
            want, got = expected[column], found.at[i, column]
            assert (pd.isna(want) and pd.isna(got)) or want == got, (student, day, column)
        compared += 1
    assert compared > 100, "most asked students were enrolled on their date"
