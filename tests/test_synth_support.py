"""The synthetic district's names and supports: who is served, and that help helps.

Checked against ontrack's own indicators on the shared session district (400 students x
7 years, seed 5): mentoring follows the readiness attendance criterion as of Jan 31 at
0.92, tutoring reaches about 15% of 9th graders, and the served students' on-track rate
with support beats the same rate computed on the marks they would have had without it.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ontrack.config import Config
from ontrack.indicators import student_indicators
from ontrack.synth.names import student_names
from ontrack.synth.sink import TRUTH
from ontrack.validation import validate_directory
from ontrack.validation.store import open_validated

CONFIG = Config()
KEY = ["student_id", "school_year"]


def _school_year(day: str) -> int:
    return int(day[:4]) + (int(day[5:7]) >= 7)


@pytest.fixture(scope="module")
def validated(synthetic_district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("support") / "out"
    validate_directory(synthetic_district, out, CONFIG)
    return out


@pytest.fixture(scope="module")
def interventions(synthetic_district: Path) -> pd.DataFrame:
    frame = pd.read_parquet(synthetic_district / "interventions.parquet")
    return frame.assign(school_year=frame.start_date.map(_school_year))


def test_names_are_present_fictional_and_fixed_by_seed(synthetic_district: Path) -> None:
    students = pd.read_parquet(synthetic_district / "students.parquet")
    named = students.dropna(subset=["first_name", "last_name"])
    assert len(students) - len(named) <= 3  # the mess blanks a few
    sid = named.student_id.astype(np.int64).to_numpy()
    first, last = student_names(5, sid)
    assert first.to_pylist() == named.first_name.tolist()
    assert last.to_pylist() == named.last_name.tolist()
    other_first, other_last = student_names(6, sid)
    assert other_last.to_pylist() != last.to_pylist()
    assert other_first.to_pylist() != first.to_pylist()
    assert named.last_name.nunique() > 0.8 * len(named)
    hostile = named.last_name.str.contains("['\\-]|[^\\x00-\\x7f]", regex=True)
    assert hostile.sum() >= 5


def test_the_synth_marker_spells_the_cutoff_as_the_contract_does(
    synthetic_district: Path, validated: Path
) -> None:
    marker = json.loads((synthetic_district / "_synth.json").read_text(encoding="utf-8"))
    support = marker["interventions"]
    assert support["mentoring"]["cutoff"] == {
        "intervention_type": "mentoring",
        "variable": "readiness.attendance",
        "as_of": "01-31",
        "threshold": 0.92,
        "treated": "below",
        "outcome": "on_track_9",
    }
    assert [support[k]["assigned"] for k in ("mentoring", "tutoring", "attendance_plan")] == [
        "cutoff",
        "random",
        "need",
    ]
    report = json.loads((validated / "validation" / "report.json").read_text("utf-8"))
    assert report["warnings"] == []
    assert "_truth" not in json.dumps(report) and "_synth" not in json.dumps(report)


def _enrolled_on(enrollments: pd.DataFrame, day: str) -> set[str]:
    on = (enrollments.entry_date <= day) & (enrollments.exit_date.fillna("9999") >= day)
    return set(enrollments.student_id[on])


def test_mentoring_is_exactly_below_the_attendance_cutoff_on_jan_31(
    synthetic_district: Path, validated: Path, interventions: pd.DataFrame
) -> None:
    con = open_validated(validated, CONFIG)
    enrollments = pd.read_parquet(synthetic_district / "enrollments.parquet")
    mentoring = interventions[interventions.intervention_type == "mentoring"]
    years = sorted(mentoring.school_year.unique())
    assert len(years) >= 5
    served_total = below_total = both_total = 0
    for year in years:
        rows = mentoring[mentoring.school_year == year]
        assert rows.start_date.nunique() == 1 and rows.start_date.iloc[0] >= f"{year}-02-01"
        frame = student_indicators(con, CONFIG, as_of=date(year, 1, 31), school_years=[year])
        frame = frame[frame.indicator == "hs_readiness_8"]
        below = set(frame.student_id[frame.attendance_rate < 0.92])
        below &= _enrolled_on(enrollments[enrollments.school_year == year], rows.start_date.iloc[0])
        served = set(rows.student_id)
        served_total += len(served)
        below_total += len(below)
        both_total += len(served & below)
    assert served_total >= 20
    assert both_total >= 0.98 * served_total  # every mentee really was below 0.92
    assert both_total >= 0.98 * below_total  # everyone below 0.92 was mentored


def test_tutoring_reaches_a_random_fifteen_percent_of_ninth_graders(
    synthetic_district: Path, interventions: pd.DataFrame
) -> None:
    enrollments = pd.read_parquet(synthetic_district / "enrollments.parquet")
    ninth = enrollments[enrollments.grade_level == 9]
    tutoring = interventions[interventions.intervention_type == "tutoring"]
    eligible = 0
    for day, rows in tutoring.groupby("start_date"):
        assert day[5:7] == "10" and "10-15" <= day[5:] <= "10-21"
        year = ninth[ninth.school_year == _school_year(day)]
        on = _enrolled_on(year, day)
        assert set(rows.student_id) <= on
        eligible += len(on)
    # 15% of the ~430 eligible: a binomial share within 3.5 standard errors
    share = len(tutoring) / eligible
    assert abs(share - 0.15) < 3.5 * (0.15 * 0.85 / eligible) ** 0.5, share
    assert 0 < tutoring.end_date.isna().sum() < len(tutoring)
    plans = interventions[interventions.intervention_type == "attendance_plan"]
    assert set(plans.tier) <= {1, 2, 3} and len(set(plans.tier)) >= 2


def _on_track(out: Path) -> pd.DataFrame:
    frame = student_indicators(open_validated(out, CONFIG), CONFIG)
    frame = frame[(frame.indicator == "on_track_9") & (frame.status != "unknown")]
    return frame.set_index(KEY).status.eq("met")


def test_served_students_do_better_than_they_would_have_without_support(
    synthetic_district: Path, validated: Path, tmp_path: Path
) -> None:
    truth = pd.read_parquet(synthetic_district / TRUTH)
    marks = pd.read_parquet(synthetic_district / "course_marks.parquet")
    served = truth[KEY].drop_duplicates()
    assert len(served) >= 30
    flagged = marks.merge(served, on=KEY, how="left", indicator=True)["_merge"]
    kept = marks[(flagged == "left_only").to_numpy()]
    # the truth has the same rows as the served students' posted marks
    assert len(truth) == len(marks) - len(kept)
    # On-track reads marks and enrollments only: the copy leaves out the big tables.
    counterfactual = tmp_path / "without"
    counterfactual.mkdir()
    for table in ("schools", "students", "enrollments", "student_years"):
        name = f"{table}.parquet"
        shutil.copyfile(synthetic_district / name, counterfactual / name)
    pd.concat([kept, truth]).to_parquet(counterfactual / "course_marks.parquet", index=False)
    validate_directory(counterfactual, tmp_path / "out", CONFIG)
    with_support = _on_track(validated)
    without = _on_track(tmp_path / "out")
    pairs = served.set_index(KEY).index
    both = pairs.intersection(with_support.index).intersection(without.index)
    assert len(both) >= 30
    gain = with_support[both].astype(int) - without[both].astype(int)
    assert (gain >= 0).all()  # the same draws, lifted: nobody is made worse off
    assert gain.mean() > 0.02
