"""Attendance features on the hand-built district (counts worked out in comments)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from feature_district import JAN31, JUN30, OCT31, build_matrix, shared_matrix


@pytest.fixture
def matrix() -> pd.DataFrame:
    return shared_matrix()[1]


def at(matrix: pd.DataFrame, student: str, day, column: str) -> float:
    return float(matrix.loc[(student, pd.Timestamp(day)), column])


def test_rate_ytd_counts_tardy_as_present(matrix: pd.DataFrame) -> None:
    # 52 school days to Oct 31; 5 unexcused Mondays in October; Fridays are tardy.
    assert at(matrix, "S1", OCT31, "attendance_rate_ytd") == pytest.approx(47 / 52)
    assert at(matrix, "S1", OCT31, "days_absent_ytd") == 5
    # 118 days to Jan 31, one more (excused) absence.
    assert at(matrix, "S1", JAN31, "attendance_rate_ytd") == pytest.approx(112 / 118)


def test_mid_year_mover_pools_both_schools(matrix: pd.DataFrame) -> None:
    # 105 days at H1 to Jan 12, then 12 days at H2 (Jan 16-31), all absent.
    assert at(matrix, "S2", JAN31, "attendance_rate_ytd") == pytest.approx(105 / 117)
    assert at(matrix, "S2", JAN31, "chronic_absence_ytd") == 1
    assert at(matrix, "S2", OCT31, "chronic_absence_ytd") == 0
    assert at(matrix, "S2", JAN31, "unexcused_absence_share_ytd") == 1


def test_summary_only_student_uses_latest_known_summary(matrix: pd.DataFrame) -> None:
    # S4: cumulative summaries 45/50 (Oct 31), 88/110 (Jan 31), undated 140/180.
    assert at(matrix, "S4", OCT31, "attendance_rate_ytd") == pytest.approx(0.9)
    assert at(matrix, "S4", JAN31, "attendance_rate_ytd") == pytest.approx(0.8)
    assert at(matrix, "S4", JUN30, "attendance_rate_ytd") == pytest.approx(140 / 180)
    assert at(matrix, "S4", JAN31, "days_absent_ytd") == 22
    # The windows, trend and unexcused share need daily records.
    for column in ("attendance_rate_last30", "attendance_trend_ytd", "unexcused_absence_share_ytd"):
        assert math.isnan(at(matrix, "S4", JAN31, column))


def test_student_without_records_is_missing(matrix: pd.DataFrame) -> None:
    for column in ("attendance_rate_ytd", "days_absent_ytd", "attendance_rate_last60"):
        assert math.isnan(at(matrix, "S3", JAN31, column))


def test_recent_windows_use_the_district_calendar(matrix: pd.DataFrame) -> None:
    # Last 30 school days to Oct 31: 22 in October + 8 in September; 5 absences.
    assert at(matrix, "S1", OCT31, "attendance_rate_last30") == pytest.approx(25 / 30)
    # S2 at Jan 31: in the last 30 district days (Dec 19 - Jan 31) S2 was enrolled 29
    # (Jan 15 has no record) and absent 12.
    assert at(matrix, "S2", JAN31, "attendance_rate_last30") == pytest.approx(17 / 29)
    assert at(matrix, "S1", OCT31, "attendance_rate_last60") == pytest.approx(47 / 52)


def test_trend_and_unexcused_share(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S1", OCT31, "attendance_trend_ytd") < 0  # absences in October
    assert at(matrix, "S5", JAN31, "attendance_trend_ytd") == 0
    assert at(matrix, "S1", JAN31, "unexcused_absence_share_ytd") == pytest.approx(5 / 6)
    assert math.isnan(at(matrix, "S5", JAN31, "unexcused_absence_share_ytd"))  # no absences


def test_prior_year_rate(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S1", OCT31, "attendance_rate_prior_year") == 1
    assert at(matrix, "S5", OCT31, "chronic_absence_prior_year") == 1  # March absent
    assert math.isnan(at(matrix, "S2", OCT31, "attendance_rate_prior_year"))


def test_daily_wins_over_summary_for_the_same_school(tmp_path) -> None:
    summary = (
        "student_id,school_id,school_year,days_enrolled,days_absent,period_end_date\n"
        "S1,H1,2024,50,40,2023-10-31\n"  # contradicts S1's daily rows: ignored
        "S4,H2,2024,50,5,2023-10-31\n"
    )
    matrix = build_matrix(tmp_path, attendance_summary=summary, as_of_dates=(OCT31,))[2]
    assert at(matrix, "S1", OCT31, "attendance_rate_ytd") == pytest.approx(47 / 52)
    assert at(matrix, "S4", OCT31, "attendance_rate_ytd") == pytest.approx(0.9)


def test_without_any_attendance_table_everything_is_missing(tmp_path) -> None:
    matrix = build_matrix(
        tmp_path, drop=("attendance", "attendance_summary"), as_of_dates=(OCT31,)
    )[2]
    attendance = [c for c in matrix.columns if "attendance" in c or "absen" in c]
    assert matrix[attendance].isna().all().all()
