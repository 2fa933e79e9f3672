"""Temporal splits: the worked example, errors with dates, and hypothesis properties."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ontrack.errors import LeakageError
from ontrack.dataset.splits import CohortWindow, SplitSpec, TemporalSplit, cohort_windows, temporal_splits


def windows(first: int, last: int, horizon: int = 0) -> list[CohortWindow]:
    """Cohort years with Oct 31 / Jan 31 / Jun 30 checkpoints; labels close `horizon`
    school years after the cohort year ends."""
    return [
        CohortWindow(y, (date(y - 1, 10, 31), date(y, 1, 31), date(y, 6, 30)), date(y + horizon, 6, 30))
        for y in range(first, last + 1)
    ]


def test_the_worked_example() -> None:
    (split,) = temporal_splits(windows(2019, 2024), data_end=date(2024, 6, 30))
    assert (split.train_years, split.calibrate_years, split.test_years) == ((2020, 2021, 2022), (2023,), (2024,))
    assert split.test[0] == date(2023, 10, 31)
    assert split.labels_close == date(2023, 6, 30)
    two = temporal_splits(windows(2019, 2024), data_end=date(2024, 6, 30), spec=SplitSpec(n_splits=2))
    assert [s.test_years for s in two] == [(2023,), (2024,)]
    assert two[0].train_years == (2019, 2020, 2021)


def test_a_longer_label_window_moves_everything_back() -> None:
    # Labels closing one year later (a grade-8 model predicting 9th grade).
    (split,) = temporal_splits(windows(2016, 2024, horizon=1), data_end=date(2024, 6, 30))
    # 2024's labels close 2025-06-30, after the data end: test on 2023 (first as-of
    # 2022-10-31); 2022 closes 2023-06-30, too late to learn from; 2021 closes 2022-06-30.
    assert split.test_years == (2023,)
    assert split.calibrate_years == (2021,)
    assert split.train_years == (2018, 2019, 2020)
    assert split.labels_close == date(2022, 6, 30)


@pytest.mark.parametrize(
    ("cohorts", "data_end", "spec", "message"),
    [
        (windows(2019, 2024, horizon=3), date(2024, 6, 30), SplitSpec(),
         r"temporal split for test cohort 2021 \(first as-of date 2020-10-31\) must have 4 "
         r"earlier cohort years .* close on or before 2020-10-31. Got 0 instead: none"),
        (windows(2023, 2024), date(2023, 3, 1), SplitSpec(),
         r"the test cohort must have labels complete by the data end 2023-03-01. Got 0 "
         r"complete cohort years instead \(the newest cohort, 2024, has labels closing 2024-06-30\)"),
        (windows(2019, 2024), date(2024, 6, 30), SplitSpec(n_train_years=5),
         r"must have 6 earlier cohort years \(5 training \+ 1 calibration\).* Got 5 instead: "
         r"2019 \(labels close 2019-06-30\)"),
        (windows(2022, 2024), date(2024, 6, 30), SplitSpec(n_train_years=1, n_splits=4),
         r"split.n_splits must be at most"),
    ],
)
def test_impossible_configs_fail_with_the_dates(cohorts, data_end, spec, message) -> None:
    with pytest.raises(LeakageError, match=message):
        temporal_splits(cohorts, data_end=data_end, spec=spec)


def test_a_leaky_split_cannot_be_built() -> None:
    d = date
    with pytest.raises(LeakageError, match="labels must be known by the first test as-of date 2023-10-31. Got labels closing 2024-06-30"):
        TemporalSplit((2021,), (2022,), (2024,), (d(2020, 10, 31),), (d(2021, 10, 31),),
                      (d(2023, 10, 31),), labels_close=d(2024, 6, 30))
    with pytest.raises(LeakageError, match="ordered train < calibrate < test"):
        TemporalSplit((2023,), (2022,), (2024,), (d(2022, 10, 31),), (d(2021, 10, 31),),
                      (d(2023, 10, 31),), labels_close=d(2023, 6, 30))


def test_windows_from_labels_and_masks() -> None:
    index = pd.MultiIndex.from_tuples(
        [("a", pd.Timestamp("2022-10-31")), ("b", pd.Timestamp("2023-01-31")),
         ("a", pd.Timestamp("2023-10-31")), ("c", pd.Timestamp("2023-10-31"))],
        names=["student_id", "as_of_date"],
    )
    labels = pd.DataFrame(
        {"school_year": [2023, 2023, 2024, 2024],
         "window_end": pd.to_datetime(["2023-06-30", "2023-06-30", "2024-06-30", None])},
        index=index,
    )
    found = cohort_windows(labels)
    assert found == [
        CohortWindow(2023, (date(2022, 10, 31), date(2023, 1, 31)), date(2023, 6, 30)),
        CohortWindow(2024, (date(2023, 10, 31),), date(2024, 6, 30)),
    ]
    split = TemporalSplit((2021,), (2022,), (2023,), (date(2020, 10, 31),), (date(2021, 10, 31),),
                          (date(2022, 10, 31), date(2023, 1, 31)), labels_close=date(2022, 6, 30))
    assert split.mask(index, "test").tolist() == [True, True, False, False]
    assert not split.mask(index, "train").any()


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(2005, 2015),
    n_years=st.integers(1, 12),
    horizon=st.integers(0, 4),
    end_shift=st.integers(-400, 400),
    n_train=st.one_of(st.none(), st.integers(1, 3)),
    n_cal=st.integers(1, 2),
    n_test=st.integers(1, 2),
    n_splits=st.integers(1, 3),
)
def test_splits_are_disjoint_ordered_and_closed(
    first, n_years, horizon, end_shift, n_train, n_cal, n_test, n_splits
) -> None:
    cohorts = windows(first, first + n_years - 1, horizon)
    data_end = date.fromordinal(date(first + n_years - 1, 6, 30).toordinal() + end_shift)
    spec = SplitSpec(n_train_years=n_train, n_calibrate_years=n_cal, n_test_years=n_test,
                     n_splits=n_splits)
    complete = [w for w in cohorts if w.label_window_end <= data_end]
    try:
        splits = temporal_splits(cohorts, data_end=data_end, spec=spec)
    except LeakageError:
        # Only when the oracle agrees no honest split exists.
        if len(complete) < n_test * n_splits:
            return
        for step in range(n_splits):
            stop = len(complete) - step * n_test
            test = complete[stop - n_test:stop]
            first_test = test[0].as_of_dates[0]
            fit = [w for w in cohorts if w.school_year < test[0].school_year
                   and w.label_window_end <= first_test]
            if len(fit) < (n_train or 1) + n_cal:
                return
        raise
    assert len(splits) == n_splits
    assert splits[-1].test_years == tuple(w.school_year for w in complete[-n_test:])
    for split in splits:
        parts = [set(split.train), set(split.calibrate), set(split.test)]
        assert not (parts[0] & parts[1] or parts[1] & parts[2] or parts[0] & parts[2])
        assert max(split.train) < min(split.calibrate)
        assert max(split.calibrate) < min(split.test)
        assert max(split.calibrate_years) < min(split.test_years)
        by_year = {w.school_year: w for w in cohorts}
        fitted = [by_year[y] for y in (*split.train_years, *split.calibrate_years)]
        assert all(w.label_window_end <= min(split.test) for w in fitted)
        assert all(by_year[y].label_window_end <= data_end for y in split.test_years)
        assert len(split.calibrate_years) == n_cal and len(split.test_years) == n_test
        if n_train is not None:
            assert len(split.train_years) == n_train
    tests = [s.test_years for s in splits]
    assert tests == sorted(tests) and len(set(tests)) == len(tests)
    assert np.all(np.diff([s.test_years[0] for s in splits]) == n_test)
