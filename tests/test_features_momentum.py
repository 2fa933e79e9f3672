"""Momentum features (features/momentum.py) on the hand-built district, counted by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from feature_district import JAN31, JUN30, OCT31, TABLES, build_matrix, shared_matrix

from ontrack.features import FEATURES


@pytest.fixture
def matrix() -> pd.DataFrame:
    return shared_matrix()[1]


def at(matrix: pd.DataFrame, student: str, day, column: str) -> float:
    return float(matrix.loc[(student, pd.Timestamp(day)), column])


def test_momentum_features_are_registered_with_roster_metadata() -> None:
    names = {"attendance_recent_vs_earlier", "attendance_change_from_last_year",
             "gpa_change_from_last_year", "marks_change_ytd", "d_or_f_ela_math_ytd",
             "readiness_criteria_not_met_ytd"}
    specs = {f.name: f for f in FEATURES if f.module == "ontrack.features.momentum"}
    assert set(specs) == names
    for spec in specs.values():
        assert spec.malleable and spec.risk_when in ("low", "high") and spec.healthy == 0.0
        assert "{" in spec.reason


def test_recent_attendance_against_earlier_this_year(matrix: pd.DataFrame) -> None:
    # Oct 31: 52 school days so far. The last 30 hold S1's five October Mondays
    # absent (25/30); the 22 days before them were all attended.
    assert at(matrix, "S1", OCT31, "attendance_recent_vs_earlier") == pytest.approx(25 / 30 - 1)
    # S2: absent every day at H2 in late January (17 of 29 enrolled days), never before.
    assert at(matrix, "S2", JAN31, "attendance_recent_vs_earlier") == pytest.approx(17 / 29 - 1)
    assert at(matrix, "S5", JAN31, "attendance_recent_vs_earlier") == 0
    assert math.isnan(at(matrix, "S4", JAN31, "attendance_recent_vs_earlier"))  # summaries only


def test_changes_against_last_year(matrix: pd.DataFrame) -> None:
    # S1 attended every day of 8th grade and 47 of 52 days so far in 9th.
    assert at(matrix, "S1", OCT31, "attendance_change_from_last_year") == pytest.approx(47 / 52 - 1)
    # GPA: Q1 marks 2.5 (Oct 31), S1 finals 9.3/4 (Jan 31), against 8th grade's official 2.8.
    assert at(matrix, "S1", OCT31, "gpa_change_from_last_year") == pytest.approx(2.5 - 2.8)
    assert at(matrix, "S1", JAN31, "gpa_change_from_last_year") == pytest.approx(9.3 / 4 - 2.8)
    for column in ("attendance_change_from_last_year", "gpa_change_from_last_year"):
        assert math.isnan(at(matrix, "S3", JAN31, column))  # no records either year


def test_marks_change_within_the_year(matrix: pd.DataFrame) -> None:
    assert math.isnan(at(matrix, "S1", OCT31, "marks_change_ytd"))  # one report card so far
    assert at(matrix, "S1", JAN31, "marks_change_ytd") == pytest.approx(9.3 / 4 - 2.5)
    # Jun 30: the latest posting is the Q3 algebra C (2.0); the first still Q1's 2.5.
    assert at(matrix, "S1", JUN30, "marks_change_ytd") == pytest.approx(2.0 - 2.5)


@pytest.fixture(scope="module")
def grade8(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The district with 8th-grade marks for S6: Q1 D in ELA, F in math, D in science,
    and a B final in ELA at the end of the year."""
    marks = TABLES["course_marks"] + (
        "S6,M1,2024,Q1,ENG8,ela,D,false,2023-10-20,,\n"
        "S6,M1,2024,Q1,MATH8,math,F,false,2023-10-20,,\n"
        "S6,M1,2024,Q1,SCI8,science,D,false,2023-10-20,,\n"
        "S6,M1,2024,Y,ENG8,ela,B,true,2024-06-07,1,1\n"
    )
    root = Path(tmp_path_factory.mktemp("momentum"))
    con, _, matrix = build_matrix(root, model="grade8", course_marks=marks)
    con.close()
    return matrix


def test_d_or_f_in_ela_or_math_so_far(grade8: pd.DataFrame) -> None:
    assert at(grade8, "S6", OCT31, "d_or_f_ela_math_ytd") == 2  # science's D not counted
    assert at(grade8, "S6", OCT31, "d_or_f_count_ytd") == 3
    assert at(grade8, "S6", JUN30, "d_or_f_ela_math_ytd") == 1  # the ELA final replaced the D
    assert "d_or_f_ela_math_ytd" not in shared_matrix("grade9")[1].columns


def test_readiness_criteria_not_met_counts_the_rules_own_flags(grade8: pd.DataFrame) -> None:
    flags = grade8[["readiness_gpa_ok_ytd", "readiness_attendance_ok_ytd",
                    "readiness_df_ok_ytd", "readiness_suspension_ok_ytd"]]
    expected = (flags == 0).sum(axis=1).where(flags.notna().any(axis=1))
    np.testing.assert_array_equal(grade8["readiness_criteria_not_met_ytd"], expected)
    assert at(grade8, "S6", OCT31, "readiness_criteria_not_met_ytd") >= 1  # the math F
    # Without marks S6 meets attendance and suspension, GPA and D/F are unknown: 0 not met.
    assert at(shared_matrix("grade8")[1], "S6", JAN31, "readiness_criteria_not_met_ytd") == 0
