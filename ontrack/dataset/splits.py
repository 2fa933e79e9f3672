"""Temporal splits: train on older cohorts, calibrate on the next, test on the newest.

In the style of dssg/triage's timechop, with one worked example carried through the
comments. The unit is a *cohort year*: the cohort rows of one school year (all its
as-of dates) share a label window, which closes on the latest ``window_end`` of its
labels (``ontrack.dataset.labels``).

Worked example (E): a grade-9 model, label ``off_track_9`` (window = the 9th-grade year
itself), data from school year 2019 to 2024, data end 2024-06-30, checkpoints Oct 31,
Jan 31, Jun 30, ``SplitSpec(n_train_years=3, n_calibrate_years=1)``.

    cohort year   as-of dates                          labels close
    2019          2018-10-31 2019-01-31 2019-06-30     2019-06-30
    ...
    2023          2022-10-31 2023-01-31 2023-06-30     2023-06-30
    2024          2023-10-31 2024-01-31 2024-06-30     2024-06-30

Rules, each checked again when a :class:`TemporalSplit` is built (a split that breaks
one cannot exist):

1. The test cohort is the newest whose labels are complete: window closed on or before
   the data end. (E): 2024 closes 2024-06-30 <= 2024-06-30, so test = 2024.
2. Every training and calibration label window closes on or before the first test
   as-of date: a model scored on 2023-10-31 can only have learned outcomes known on
   2023-10-31. (E): years closing by 2023-10-31 are 2019..2023.
3. Calibrate on the newest such years, train on the ones before: (E) calibrate = 2023,
   train = 2020, 2021, 2022. Train < calibrate < test, as years and as dates.
4. Too few eligible years is an error with the dates (``LeakageError``). (E) with label
   ``not_graduated_4yr`` instead (window: 4 years from 9th grade): the newest complete
   cohort is 2021 (closes 2024-06-30); fitting years must close by 2020-10-31, i.e. be
   2017 or older: none in the data, so no honest split exists and none is made.

With ``n_splits > 1`` earlier splits step the test cohort back a year at a time
(backtests): (E) with ``n_splits=2`` the first split tests 2023 (calibrate 2022, train
2019-2021) and the second is the one above.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from ontrack.config import SplitSpec
from ontrack.errors import LeakageError

PARTS: tuple[str, ...] = ("train", "calibrate", "test")
KINDS: tuple[str, ...] = ("deployment", "retrospective")


@dataclass(frozen=True)
class CohortWindow:
    """One cohort year: its as-of dates and when its labels' window closes."""

    school_year: int
    as_of_dates: tuple[date, ...]
    label_window_end: date


@dataclass(frozen=True)
class TemporalSplit:
    """Train / calibrate / test cohort years and their as-of dates (checked)."""

    train_years: tuple[int, ...]
    calibrate_years: tuple[int, ...]
    test_years: tuple[int, ...]
    train: tuple[date, ...]
    calibrate: tuple[date, ...]
    test: tuple[date, ...]
    labels_close: date  # latest label window end of the train and calibrate cohorts
    # deployment: fitted only on labels known by the first test as-of date;
    # retrospective: fitted on older cohorts whose labels closed later (CONTRACT §3).
    kind: str = "deployment"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"split kind must be one of {', '.join(KINDS)}. Got {self.kind!r} instead.")
        for part in PARTS:
            if not getattr(self, part) and not (part == "calibrate" and not self.calibrate_years):
                raise LeakageError(
                    f"split part {part} must hold as-of dates. Got none instead."
                )
        # An empty calibration part means cross-fitted calibration inside training.
        calibrate_years = self.calibrate_years or self.train_years
        calibrate = self.calibrate or self.train
        # (E) 2020-2022 < 2023 < 2024, and 2022-06-30 < 2022-10-31 < ... < 2023-10-31.
        if not ((max(self.train_years) < min(self.calibrate_years) if self.calibrate_years else True)
                and max(calibrate_years) < min(self.test_years)):
            raise LeakageError(
                "split cohort years must be ordered train < calibrate < test. Got "
                f"train {self.train_years}, calibrate {self.calibrate_years}, test "
                f"{self.test_years} instead."
            )
        early = max(self.train) < min(self.calibrate) if self.calibrate else True
        late = max(calibrate) < min(self.test)
        if not (early and late):
            raise LeakageError(
                "split as-of dates must be ordered train < calibrate < test. Got train "
                f"up to {max(self.train)}, calibrate {min(self.calibrate)} to "
                f"{max(self.calibrate)}, test from {min(self.test)} instead."
            )
        # (E) labels of 2020-2023 close by 2023-06-30 <= 2023-10-31, first test date.
        if self.kind == "deployment" and self.labels_close > min(self.test):
            raise LeakageError(
                "training and calibration labels must be known by the first test as-of "
                f"date {min(self.test)}. Got labels closing {self.labels_close} "
                "instead."
            )

    def mask(self, index: pd.Index, part: str) -> np.ndarray:
        """Boolean mask of the rows of ``index`` (an as_of_date level) in ``part``."""
        if part not in PARTS:
            raise ValueError(
                f"part must be one of {', '.join(PARTS)}. Got {part!r} instead."
            )
        dates = pd.DatetimeIndex(index.get_level_values("as_of_date"))
        wanted = pd.DatetimeIndex([pd.Timestamp(d) for d in getattr(self, part)])
        return np.asarray(dates.isin(wanted))

    def describe(self) -> str:
        """One line, e.g. ``train 2020-2022 | calibrate 2023 | test 2024``."""
        def span(years: tuple[int, ...]) -> str:
            return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
        calibrate = span(self.calibrate_years) if self.calibrate_years else "cross-fitted"
        text = (
            f"train {span(self.train_years)} | calibrate {calibrate} "
            f"| test {span(self.test_years)} (labels close {self.labels_close})"
        )
        return text if self.kind == "deployment" else f"{text}, retrospective"


def cohort_windows(labels: pd.DataFrame) -> list[CohortWindow]:
    """Cohort years of a labels frame (``build_labels``): as-of dates, window close.

    Rows without a window (``not_applicable``) are ignored; a year's window closes on
    its rows' latest ``window_end``.
    """
    frame = pd.DataFrame(
        {
            "school_year": labels["school_year"].to_numpy(),
            "as_of_date": pd.DatetimeIndex(labels.index.get_level_values("as_of_date")),
            "window_end": pd.to_datetime(labels["window_end"]).to_numpy(),
        }
    ).dropna(subset=["window_end"])
    windows = []
    for year, rows in frame.groupby("school_year", sort=True):
        dates = tuple(sorted({d.date() for d in rows["as_of_date"]}))
        windows.append(CohortWindow(int(year), dates, rows["window_end"].max().date()))
    return windows


def temporal_splits(
    windows: Iterable[CohortWindow], *, data_end: date, spec: SplitSpec | None = None
) -> list[TemporalSplit]:
    """Splits of the cohort years, oldest test cohort first (see the module example).

    Parameters
    ----------
    windows : one per cohort year (:func:`cohort_windows`).
    data_end : the date the data runs to; later label windows are not complete.
    spec : years per part and number of splits (``n_splits`` None: one). Every split
        must have exactly the configured years; :func:`rolling_splits` is the flexible
        rolling origin that training uses.

    Examples
    --------
    >>> years = [CohortWindow(y, (date(y - 1, 10, 31), date(y, 1, 31)), date(y, 6, 30))
    ...          for y in range(2019, 2025)]
    >>> temporal_splits(years, data_end=date(2024, 6, 30))[0].describe()
    'train 2020-2022 | calibrate 2023 | test 2024 (labels close 2023-06-30)'
    >>> five = SplitSpec(n_train_years=5)
    >>> temporal_splits(years, data_end=date(2024, 6, 30), spec=five)
    Traceback (most recent call last):
    ...
    ontrack.errors.LeakageError: temporal split for test cohort 2024 (first as-of date 2023-10-31) must have 6 earlier cohort years (5 training + 1 calibration) whose labels close on or before 2023-10-31. Got 5 instead: 2019 (labels close 2019-06-30), 2020 (labels close 2020-06-30), 2021 (labels close 2021-06-30), 2022 (labels close 2022-06-30), 2023 (labels close 2023-06-30).
    """
    spec = spec or SplitSpec()
    ordered = sorted(windows, key=lambda w: w.school_year)
    # Rule 1. (E) every year closes by 2024-06-30; the newest, 2024, is the test.
    complete = [w for w in ordered if w.label_window_end <= data_end]
    if len(complete) < spec.n_test_years:
        newest = (
            f"the newest cohort, {ordered[-1].school_year}, has labels closing "
            f"{ordered[-1].label_window_end}" if ordered else "there are no cohorts"
        )
        raise LeakageError(
            f"the test cohort must have labels complete by the data end {data_end}. "
            f"Got {len(complete)} complete cohort years instead ({newest})."
        )
    splits = []
    n_splits = spec.n_splits or 1
    for step in range(n_splits - 1, -1, -1):
        stop = len(complete) - step * spec.n_test_years
        test = complete[max(stop - spec.n_test_years, 0):stop]
        if len(test) < spec.n_test_years:
            raise LeakageError(
                f"split.n_splits must be at most the complete cohort years allow. Got "
                f"{n_splits} splits of {spec.n_test_years} test years with only "
                f"{len(complete)} complete years instead."
            )
        splits.append(_one_split(ordered, test, spec))
    return splits


def _one_split(
    ordered: Sequence[CohortWindow], test: Sequence[CohortWindow], spec: SplitSpec
) -> TemporalSplit:
    first_test = min(d for w in test for d in w.as_of_dates)
    # Rule 2. (E) first test as-of 2023-10-31: 2019..2023 closed by then.
    eligible = [
        w for w in ordered
        if w.school_year < test[0].school_year and w.label_window_end <= first_test
    ]
    n_train = spec.n_train_years or max(len(eligible) - spec.n_calibrate_years, 1)
    needed = n_train + spec.n_calibrate_years
    if len(eligible) < needed:
        found = ", ".join(
            f"{w.school_year} (labels close {w.label_window_end})" for w in eligible
        ) or "none"
        raise LeakageError(
            f"temporal split for test cohort {test[0].school_year} (first as-of date "
            f"{first_test}) must have {needed} earlier cohort years ({n_train} "
            f"training + {spec.n_calibrate_years} calibration) whose labels close on "
            f"or before {first_test}. Got {len(eligible)} instead: {found}."
        )
    # Rule 3. (E) calibrate = 2023, train = 2020-2022.
    calibrate = eligible[-spec.n_calibrate_years:]
    train = eligible[-needed:-spec.n_calibrate_years]
    return _build(train, calibrate, test, "deployment")


def rolling_splits(
    windows: Iterable[CohortWindow], *, data_end: date, spec: SplitSpec | None = None
) -> tuple[list[TemporalSplit], str | None]:
    """Every out-of-time split the data allows (rolling origin), oldest test first, and
    the reason when they had to be retrospective (None for deployment splits).

    Each complete cohort, newest first, becomes a test cohort while an older cohort
    can train for it; up to ``spec.n_splits`` of them. Each fold trains on up to
    ``n_train_years`` cohorts and calibrates on the next ``n_calibrate_years``; with
    fewer eligible cohorts it trains on what there is, and with a single one the
    calibration is cross-fitted inside it (an empty calibration part).

    ``spec.kind``: ``deployment`` fits only on labels closed by the test's first as-of
    date and raises ``LeakageError`` when no such fold exists; ``retrospective`` fits
    on any older complete cohort; ``auto`` tries deployment, then retrospective.

    Examples
    --------
    >>> grad = [CohortWindow(y, (date(y - 1, 10, 31),), date(y + 4, 6, 30)) for y in (2015, 2016)]
    >>> folds, why = rolling_splits(grad, data_end=date(2021, 6, 30))
    >>> [f.describe() for f in folds]
    ['train 2015 | calibrate cross-fitted | test 2016 (labels close 2019-06-30), retrospective']
    """
    spec = spec or SplitSpec()
    ordered = sorted(windows, key=lambda w: w.school_year)
    complete = [w for w in ordered if w.label_window_end <= data_end]
    if not complete:
        newest = (f"the newest cohort, {ordered[-1].school_year}, has labels closing "
                  f"{ordered[-1].label_window_end}") if ordered else "there are no cohorts"
        raise LeakageError(
            f"the test cohort must have labels complete by the data end {data_end}. "
            f"Got no complete cohort year instead ({newest})."
        )
    if spec.kind == "retrospective":
        why = "split.kind = retrospective in the config"
    else:
        deployment = _folds(ordered, complete, spec, "deployment")
        if deployment:
            return deployment, None
        why = _no_deployment_reason(ordered, complete)
        if spec.kind == "deployment":
            raise LeakageError(
                f"a deployment split must exist (split.kind = deployment). Got none instead: {why}."
            )
    retrospective = _folds(ordered, complete, spec, "retrospective")
    if not retrospective:
        raise LeakageError(
            "a retrospective split must have at least two cohort years with complete labels "
            f"(one to train, a newer one to test). Got {len(complete)} instead: "
            + ", ".join(f"{w.school_year} (labels close {w.label_window_end})" for w in complete)
        )
    return retrospective, why


def _folds(ordered: Sequence[CohortWindow], complete: Sequence[CohortWindow], spec: SplitSpec,
           kind: str) -> list[TemporalSplit]:
    folds: list[TemporalSplit] = []
    for test_end in range(len(complete), 0, -spec.n_test_years):
        test = complete[max(test_end - spec.n_test_years, 0):test_end]
        first_test = min(d for w in test for d in w.as_of_dates)
        eligible = [
            w for w in complete
            if w.school_year < test[0].school_year
            and (kind == "retrospective" or w.label_window_end <= first_test)
        ]
        if not eligible or (spec.n_splits is not None and len(folds) >= spec.n_splits):
            break
        n_cal = spec.n_calibrate_years if len(eligible) > spec.n_calibrate_years else 0
        n_train = min(spec.n_train_years or len(eligible), len(eligible) - n_cal)
        fit = eligible[len(eligible) - n_cal - n_train:]
        folds.append(_build(fit[:n_train], fit[n_train:], test, kind))
    return folds[::-1]


def _build(train: Sequence[CohortWindow], calibrate: Sequence[CohortWindow],
           test: Sequence[CohortWindow], kind: str) -> TemporalSplit:
    def dates(part: Sequence[CohortWindow]) -> tuple[date, ...]:
        return tuple(sorted(d for w in part for d in w.as_of_dates))

    return TemporalSplit(
        train_years=tuple(w.school_year for w in train),
        calibrate_years=tuple(w.school_year for w in calibrate),
        test_years=tuple(w.school_year for w in test),
        train=dates(train), calibrate=dates(calibrate), test=dates(test),
        labels_close=max(w.label_window_end for w in (*train, *calibrate)),
        kind=kind,
    )


def _no_deployment_reason(ordered: Sequence[CohortWindow], complete: Sequence[CohortWindow]) -> str:
    newest = complete[-1]
    first_test = min(newest.as_of_dates)
    return (
        f"no cohort older than the newest labelled one, {newest.school_year}, has labels "
        f"closed by its first as-of date {first_test} (the oldest cohort, "
        f"{ordered[0].school_year}, closes {ordered[0].label_window_end}); a model deployed "
        "then could not have learned from any outcome"
    )
