"""Course-performance and rule-indicator features on the hand-built district."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from feature_district import JAN31, JUN30, OCT31, shared_matrix


@pytest.fixture
def matrix() -> pd.DataFrame:
    return shared_matrix()[1]


def at(matrix: pd.DataFrame, student: str, day, column: str) -> float:
    return float(matrix.loc[(student, pd.Timestamp(day)), column])


def test_gpa_so_far_follows_the_report_card(matrix: pd.DataFrame) -> None:
    # Oct 31: Q1 progress marks C, D, B, A.
    assert at(matrix, "S1", OCT31, "gpa_ytd") == pytest.approx(2.5)
    # Jan 31: the S1 finals replace them: C+ (2.3), F, B, A.
    assert at(matrix, "S1", JAN31, "gpa_ytd") == pytest.approx(9.3 / 4)
    # Jun 30: the Q3 algebra C is newer than algebra's F final, so both count.
    assert at(matrix, "S1", JUN30, "gpa_ytd") == pytest.approx(11.3 / 5)


def test_official_gpa_only_once_the_year_has_ended(matrix: pd.DataFrame) -> None:
    assert math.isnan(at(matrix, "S5", JAN31, "gpa_ytd"))
    assert at(matrix, "S5", JUN30, "gpa_ytd") == pytest.approx(1.5)
    assert at(matrix, "S1", OCT31, "gpa_prior_year") == pytest.approx(2.8)


def test_d_f_and_failure_counts(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S1", OCT31, "d_or_f_count_ytd") == 1  # Q1 algebra D
    assert at(matrix, "S1", OCT31, "failed_core_courses_ytd") == 0
    assert at(matrix, "S1", JAN31, "d_or_f_count_core_ytd") == 1  # algebra F
    assert at(matrix, "S1", JAN31, "failed_core_courses_ytd") == 1
    assert at(matrix, "S1", OCT31, "d_or_f_count_prior_year") == 1  # 8th-grade math D
    assert at(matrix, "S1", OCT31, "failed_core_courses_prior_year") == 0


def test_undated_mark_counts_only_at_year_end(matrix: pd.DataFrame) -> None:
    # S5's NP (no term_end_date) is known at the end of school year 2024.
    assert math.isnan(at(matrix, "S5", JAN31, "failed_core_courses_ytd"))
    assert at(matrix, "S5", JUN30, "failed_core_courses_ytd") == 1
    assert at(matrix, "S5", JUN30, "marks_count_ytd") == 1


def test_marks_trend_between_postings(matrix: pd.DataFrame) -> None:
    # Oct 31: Q1 mean 2.5 minus the 8th-grade finals (B, D, B) mean 7/3.
    assert at(matrix, "S1", OCT31, "marks_trend") == pytest.approx(2.5 - 7 / 3)
    assert at(matrix, "S1", JAN31, "marks_trend") == pytest.approx(9.3 / 4 - 2.5)


def test_student_without_marks_is_missing(matrix: pd.DataFrame) -> None:
    for column in ("gpa_ytd", "d_or_f_count_ytd", "marks_trend", "gpa_prior_year"):
        assert math.isnan(at(matrix, "S3", JAN31, column))


def test_on_track_criteria_as_of_the_checkpoint(matrix: pd.DataFrame) -> None:
    assert math.isnan(at(matrix, "S1", OCT31, "credits_earned_ytd"))  # no finals yet
    assert at(matrix, "S1", JAN31, "credits_earned_ytd") == pytest.approx(1.5)
    assert at(matrix, "S1", JAN31, "core_semester_fs_ytd") == 1
    assert at(matrix, "S1", JAN31, "on_track_fs_ok_ytd") == 1
    # 1.5 credits against 5 x (215 of 366 days elapsed).
    assert at(matrix, "S1", JAN31, "credits_vs_expected_ytd") == pytest.approx(1.5 - 5 * 215 / 366)
    assert at(matrix, "S1", OCT31, "readiness_met_prior_year") == 0  # the D in math


def test_grade_specific_features_follow_the_cohort() -> None:
    grade9 = shared_matrix("grade9")[1].columns
    grade8 = shared_matrix("grade8")[1].columns
    assert "on_track_met_ytd" in grade9 and "on_track_met_ytd" not in grade8
    assert "readiness_met_ytd" in grade8 and "readiness_met_ytd" not in grade9


def test_grade8_readiness_so_far() -> None:
    cohort, matrix = shared_matrix("grade8")
    assert list(cohort.index.get_level_values("student_id").unique()) == ["S6"]
    assert at(matrix, "S6", JAN31, "readiness_attendance_ok_ytd") == 1
    assert at(matrix, "S6", JUN30, "ela_scale_score_ytd") == 2510  # tested 2024-04-15
    assert math.isnan(at(matrix, "S6", JAN31, "ela_scale_score_ytd"))
