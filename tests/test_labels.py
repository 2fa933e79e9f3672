"""Labels: off-track at the end of 9th grade, and not graduating within 4 years."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ontrack.dataset.asof import data_end_date
from ontrack.dataset.cohorts import tidy_cohort
from ontrack.config import load_config
from ontrack.errors import ConfigError
from ontrack.dataset.labels import LabelPolicy, build_labels, default_label
from ontrack.validation.store import open_validated
from ontrack.validation import validate_directory

CONFIG = load_config()
FINALS = ("ela", "math", "science", "social_science", "other", "other")


def _marks(student: str, mark: str) -> str:
    return "".join(
        f"{student},H1,2021,Y,C{i},{subject},{mark},true,2021-06-04,1,{0 if mark == 'F' else 1}\n"
        for i, subject in enumerate(FINALS)
    )


DISTRICT = {
    "schools": "school_id,school_name,district_id\nM1,Middle,D1\nH1,High,D1\n",
    "students": "student_id\n" + "".join(f"{s}\n" for s in "ABCDEFGHIJK"),
    "enrollments": (
        "student_id,school_id,school_year,grade_level,entry_date\n"
        "A,M1,2020,8,2019-08-20\nA,H1,2021,9,2020-08-20\n"
        "B,M1,2020,8,2019-08-20\nB,H1,2021,9,2020-08-20\n"
        "C,M1,2020,8,2019-08-20\nC,M1,2021,8,2020-08-20\n"
        "D,M1,2020,8,2019-08-20\n"
        "E,H1,2021,9,2020-08-20\n"
        "F,H1,2024,9,2023-08-21\n"
        "G,H1,2020,9,2019-08-20\nG,H1,2021,9,2020-08-20\n"
        "H,H1,2021,9,2020-08-20\nI,H1,2021,9,2020-08-20\n"
        "J,H1,2021,9,2020-08-20\nK,H1,2021,9,2020-08-20\n"
    ),
    "course_marks": (
        "student_id,school_id,school_year,term,course_id,subject,mark,is_final,"
        "term_end_date,credits_attempted,credits_earned\n" + _marks("A", "C") + _marks("B", "F")
    ),
    "outcomes": (
        "student_id,outcome,outcome_date\n"
        "A,graduated,2024-06-05\nB,graduated,2024-08-10\nE,transferred_out,2022-02-01\n"
        "G,graduated,2024-06-05\nH,dropped_out,2022-05-01\nI,still_enrolled,2024-06-30\n"
        "K,transferred_out,2024-09-01\n"
    ),
}
ROWS = [  # student, as-of, school, school year, grade
    ("A", "2019-10-31", "M1", 2020, 8), ("B", "2019-10-31", "M1", 2020, 8),
    ("C", "2019-10-31", "M1", 2020, 8), ("D", "2019-10-31", "M1", 2020, 8),
    ("A", "2020-10-31", "H1", 2021, 9), ("B", "2020-10-31", "H1", 2021, 9),
    ("E", "2020-10-31", "H1", 2021, 9), ("F", "2023-10-31", "H1", 2024, 9),
    ("G", "2020-10-31", "H1", 2021, 9), ("H", "2020-10-31", "H1", 2021, 9),
    ("I", "2020-10-31", "H1", 2021, 9), ("J", "2020-10-31", "H1", 2021, 9),
    ("K", "2020-10-31", "H1", 2021, 9),
]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("labels")
    (root / "data").mkdir()
    for name, text in DISTRICT.items():
        (root / "data" / f"{name}.csv").write_text(text, encoding="utf-8")
    validate_directory(root / "data", root / "out", CONFIG)
    connection = open_validated(root / "out", CONFIG)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["student_id", "as_of_date", "school_id", "school_year", "grade_level"])
    return tidy_cohort(frame.assign(district_id="D1"))


def labels_of(frame: pd.DataFrame) -> dict[tuple[str, int], tuple[float, str]]:
    return {
        (sid, int(row.school_year)): (row.label, row.outcome)
        for (sid, _), row in frame.iterrows()
    }


def same(a: tuple[float, str], b: tuple[float, str]) -> bool:
    return a[1] == b[1] and (a[0] == b[0] or (np.isnan(a[0]) and np.isnan(b[0])))


def test_off_track_9(con, cohort) -> None:
    found = labels_of(build_labels(con, cohort, CONFIG, label="off_track_9", data_end=date(2025, 6, 30)))
    expected = {
        ("A", 2020): (0.0, "on_track"),  # 8th grader: 9th grade next year, 6 credits
        ("B", 2020): (1.0, "off_track"),
        ("C", 2020): (1.0, "retained_in_grade_8"),
        ("D", 2020): (np.nan, "not_enrolled_next_year"),
        ("A", 2021): (0.0, "on_track"),
        ("B", 2021): (1.0, "off_track"),
        ("E", 2021): (np.nan, "on_track_unknown"),  # no marks at all
    }
    for key, value in expected.items():
        assert same(found[key], value), (key, found[key])


def test_label_window_must_have_closed(con, cohort) -> None:
    frame = build_labels(con, cohort, CONFIG, label="off_track_9", data_end=date(2024, 3, 1))
    row = frame.loc[("F", pd.Timestamp("2023-10-31"))]
    assert np.isnan(row["label"]) and row["outcome"] == "window_open"
    assert row["window_end"] == pd.Timestamp("2024-06-30")
    # 8th graders' windows close at the end of the next school year.
    assert frame.loc[("A", pd.Timestamp("2019-10-31")), "window_end"] == pd.Timestamp("2021-06-30")


def test_not_graduated_4yr(con, cohort) -> None:
    frame = build_labels(con, cohort, CONFIG, label="not_graduated_4yr", data_end=date(2025, 6, 30))
    found = labels_of(frame)
    expected = {
        ("A", 2020): (0.0, "graduated_on_time"),  # starts 9th in 2021: deadline 2024-06-30
        ("A", 2021): (0.0, "graduated_on_time"),
        ("B", 2021): (1.0, "graduated_late"),  # a summer graduate
        ("E", 2021): (np.nan, "transferred_out"),  # excluded, not a failure
        ("G", 2021): (1.0, "graduated_late"),  # 9th grade first in 2020: deadline 2023
        ("H", 2021): (1.0, "dropped_out"),
        ("I", 2021): (1.0, "still_enrolled"),
        ("J", 2021): (np.nan, "unknown_outcome"),  # no outcome row
        ("K", 2021): (1.0, "still_enrolled_at_deadline"),  # left after the deadline
    }
    for key, value in expected.items():
        assert same(found[key], value), (key, found[key])
    assert frame.loc[("G", pd.Timestamp("2020-10-31")), "window_end"] == pd.Timestamp("2023-06-30")


@pytest.mark.parametrize(
    ("policy", "still", "unknown"),
    [
        (LabelPolicy(still_enrolled="negative"), 0.0, np.nan),
        (LabelPolicy(still_enrolled="exclude", unknown="positive"), np.nan, 1.0),
    ],
)
def test_policy_for_still_enrolled_and_unknown(con, cohort, policy, still, unknown) -> None:
    frame = build_labels(con, cohort, CONFIG, label="not_graduated_4yr", policy=policy,
                         data_end=date(2025, 6, 30))
    found = labels_of(frame)
    assert same(found[("I", 2021)], (still, "still_enrolled"))
    assert same(found[("J", 2021)], (unknown, "unknown_outcome"))


def test_retained_8th_graders_can_be_excluded(con, cohort) -> None:
    frame = build_labels(con, cohort, CONFIG, policy=LabelPolicy(retained_in_grade_8="exclude"),
                         data_end=date(2025, 6, 30))
    assert np.isnan(frame.loc[("C", pd.Timestamp("2019-10-31")), "label"])


def test_defaults_and_errors(con, cohort) -> None:
    assert data_end_date(con) == date(2024, 9, 1)  # K's outcome date is the latest
    grade8, grade9 = (CONFIG.models[n].labels for n in ("grade8", "grade9"))
    assert default_label(grade9, {"outcomes", "students"}) == "not_graduated_4yr"
    assert default_label(grade9, {"students"}) == "off_track_9"
    assert default_label(grade8, {"outcomes"}) == "off_track_9"
    with pytest.raises(ConfigError, match="label must be one of off_track_9, not_graduated_4yr"):
        build_labels(con, cohort, CONFIG, label="dropout")
    with pytest.raises(ValidationError):
        LabelPolicy(still_enrolled="maybe")


def test_labels_feed_temporal_splits(con, cohort) -> None:
    from ontrack.dataset.splits import SplitSpec, cohort_windows, temporal_splits

    labels = build_labels(con, cohort, CONFIG, data_end=date(2025, 6, 30))
    windows = cohort_windows(labels)
    assert [(w.school_year, str(w.label_window_end)) for w in windows] == [
        (2020, "2021-06-30"), (2021, "2021-06-30"), (2024, "2024-06-30")]
    (split,) = temporal_splits(windows, data_end=date(2025, 6, 30), spec=SplitSpec(n_train_years=1))
    assert (split.train_years, split.calibrate_years, split.test_years) == ((2020,), (2021,), (2024,))
    assert labels[split.mask(labels.index, "test")].index.get_level_values(0).tolist() == ["F"]
