"""Enrollment and mobility features, program flags, and the cohort on the district."""

from __future__ import annotations

import math
import warnings
from datetime import date

import pandas as pd
import pytest
from feature_district import JAN31, JUN30, OCT31, build_matrix, shared_matrix

from ontrack.config import config_from_dict
from ontrack.errors import ConfigError
from ontrack.dataset.featurize import PROGRAM_FLAG_WARNING


@pytest.fixture
def matrix() -> pd.DataFrame:
    return shared_matrix()[1]


def at(matrix: pd.DataFrame, student: str, day, column: str) -> float:
    return float(matrix.loc[(student, pd.Timestamp(day)), column])


def test_cohort_membership_at_each_checkpoint() -> None:
    cohort = shared_matrix()[0]
    members = {
        d: sorted(cohort.xs(pd.Timestamp(d), level="as_of_date").index)
        for d in (OCT31, JAN31, JUN30)
    }
    # S7 transferred out on 2023-12-15; S1 completed the year on 2024-06-07.
    assert members[OCT31] == ["S1", "S2", "S3", "S4", "S5", "S7"]
    assert members[JAN31] == ["S1", "S2", "S3", "S4", "S5"]
    assert members[JUN30] == members[JAN31]
    # The mover is counted at the school of the spell open on the as-of date.
    assert cohort.loc[("S2", pd.Timestamp(OCT31)), "school_id"] == "H1"
    assert cohort.loc[("S2", pd.Timestamp(JAN31)), "school_id"] == "H2"


def test_school_moves_and_days_enrolled(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S2", OCT31, "school_moves_ytd") == 0
    assert at(matrix, "S2", JAN31, "school_moves_ytd") == 1
    assert at(matrix, "S1", OCT31, "days_enrolled_ytd") == 72  # Aug 21 - Oct 31
    # S2: Aug 21 - Jan 12 at H1 (145 days) and Jan 16 - 31 at H2 (16 days).
    assert at(matrix, "S2", JAN31, "days_enrolled_ytd") == 161
    assert at(matrix, "S1", JUN30, "days_enrolled_ytd") == 292  # exit on Jun 7
    assert math.isnan(at(matrix, "S2", JAN31, "school_moves_prior_year"))
    assert at(matrix, "S1", JAN31, "school_moves_prior_year") == 0


def test_late_entry_age_and_retention(matrix: pd.DataFrame) -> None:
    assert at(matrix, "S3", OCT31, "late_entry_days") == 35  # Sep 25 vs Aug 21
    assert at(matrix, "S1", OCT31, "late_entry_days") == 0
    # S1 born 2009-09-15 is 13.79 on 2023-07-01; typical for 9th grade is 14.
    expected = (date(2023, 7, 1) - date(2009, 9, 15)).days / 365.25 - 14
    assert at(matrix, "S1", OCT31, "age_for_grade") == pytest.approx(expected)
    assert at(matrix, "S5", OCT31, "retained") == 1
    assert at(matrix, "S1", OCT31, "retained") == 0
    assert math.isnan(at(matrix, "S3", OCT31, "retained"))


def test_protected_attributes_and_program_flags_are_not_features(matrix: pd.DataFrame) -> None:
    for column in ("gender", "race_ethnicity", "english_learner", "socioeconomically_disadvantaged"):
        assert column not in matrix.columns


def test_program_flags_only_when_configured(tmp_path) -> None:
    config = config_from_dict({"features": {"include_program_flags": True}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        matrix = build_matrix(tmp_path, config=config, as_of_dates=(OCT31,))[2]
    assert PROGRAM_FLAG_WARNING in {str(w.message) for w in caught}
    assert at(matrix, "S1", OCT31, "english_learner") == 1
    assert at(matrix, "S5", OCT31, "students_with_disabilities") == 1
    assert math.isnan(at(matrix, "S3", OCT31, "english_learner"))


def test_unknown_model_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="model must be one of grade8, grade9. Got 'grade7'"):
        build_matrix(tmp_path, model="grade7")


def test_checkpoints_are_per_district(tmp_path) -> None:
    from feature_district import TABLES, write_feature_district

    from ontrack.dataset.cohorts import build_cohort
    from ontrack.validation.store import open_validated
    from ontrack.validation import validate_directory

    config = config_from_dict({"districts": {"D2": {"checkpoints": ["12-15"]}}})
    schools = TABLES["schools"].replace("H2,High Two,D1", "H2,High Two,D2")
    data = write_feature_district(tmp_path / "data", schools=schools)
    validate_directory(data, tmp_path / "out", config)
    con = open_validated(tmp_path / "out", config)
    cohort = build_cohort(con, config, model="grade9", school_years=[2024], data_end=date(2024, 6, 30))
    con.close()
    dates = {s: sorted(str(d.date()) for d in cohort.xs(s, level="student_id").index) for s in ("S1", "S4")}
    assert dates["S1"] == ["2023-10-31", "2024-01-31", "2024-06-30"]  # D1: the defaults
    assert dates["S4"] == ["2023-12-15"]  # H2 is in D2
    # A mover counts at the checkpoints of the district whose spell is open that day:
    # S2 was at H1 (D1) on Oct 31, had left D1 by Jan 31, and reached D2 after Dec 15.
    assert [str(d.date()) for d in cohort.xs("S2", level="student_id").index] == ["2023-10-31"]
    assert cohort.index.get_level_values("as_of_date").max() <= pd.Timestamp("2024-06-30")


def test_empty_cohort_gives_an_empty_matrix(tmp_path) -> None:
    _, cohort, matrix = build_matrix(tmp_path, as_of_dates=(date(2023, 7, 15),))
    assert len(cohort) == 0 and len(matrix) == 0
    assert "attendance_rate_ytd" in matrix.columns
