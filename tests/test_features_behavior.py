"""Behavior and assessment features on the hand-built district."""

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


def test_incidents_grow_with_the_as_of_date(matrix: pd.DataFrame) -> None:
    # S1: referral 2023-11-06, out-of-school suspension (3 days) 2024-02-20.
    assert [at(matrix, "S1", d, "incidents_ytd") for d in (OCT31, JAN31, JUN30)] == [0, 1, 2]
    assert [at(matrix, "S1", d, "suspensions_ytd") for d in (OCT31, JAN31, JUN30)] == [0, 0, 1]
    assert at(matrix, "S1", JUN30, "days_suspended_ytd") == 3


def test_suspension_without_recorded_days_counts_one(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S2", JAN31, "days_suspended_ytd") == 1
    assert at(matrix, "S2", JAN31, "suspensions_ytd") == 1


def test_days_since_last_incident(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S1", OCT31, "days_since_last_incident") == 244  # since 2023-03-01
    assert at(matrix, "S1", JAN31, "days_since_last_incident") == 86  # since 2023-11-06
    assert math.isnan(at(matrix, "S3", JAN31, "days_since_last_incident"))


def test_enrolled_without_incidents_is_zero_not_missing(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S3", JAN31, "incidents_ytd") == 0
    assert at(matrix, "S5", JAN31, "incidents_prior_year") == 0  # enrolled in 2023
    assert math.isnan(at(matrix, "S2", JAN31, "incidents_prior_year"))  # was not
    assert at(matrix, "S1", JAN31, "incidents_prior_year") == 1


def test_without_a_discipline_table_behavior_is_unknown(tmp_path) -> None:
    matrix = build_matrix(tmp_path, drop=("discipline",), as_of_dates=(JAN31,))[2]
    behavior = ["incidents_ytd", "suspensions_ytd", "days_suspended_ytd", "suspensions_prior_year"]
    assert matrix[behavior].isna().all().all()


def test_prior_year_scores_levels_and_change(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S1", OCT31, "ela_scale_score_prior_year") == 2500
    assert at(matrix, "S1", OCT31, "math_scale_score_prior_year") == 2480  # "Mathematics"
    assert at(matrix, "S1", OCT31, "ela_level_prior_year") == 2
    assert at(matrix, "S1", OCT31, "math_level_prior_year") == 1
    # 2022's undated ELA score (known at the end of 2022) is the year before.
    assert at(matrix, "S1", OCT31, "ela_scale_score_change") == 50
    assert math.isnan(at(matrix, "S1", OCT31, "math_scale_score_change"))
    assert math.isnan(at(matrix, "S3", OCT31, "ela_scale_score_prior_year"))
