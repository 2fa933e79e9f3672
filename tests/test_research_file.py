"""A research-shaped file (issue #15): two 8th-grade cohorts, graduation outcomes and
only annual summaries. ``validate``, ``indicators`` and ``features --model grade8`` run
on it; missing tables give missing features and unknown criteria (never "met"); an
undated summary or official GPA is known only once its school year has ended."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from research_district import EIGHTH_GRADE_YEARS, EXTRACT_DATE, write_research_district
from test_time_travel import assert_same, matrices

from ontrack.features import FEATURES
from ontrack.cli import main
from ontrack.dataset.cohorts import build_cohort
from ontrack.config import load_config
from ontrack.dataset.featurize import build_feature_matrix
from ontrack.validation.store import open_validated, provided
from ontrack.validation import validate_directory

OLDER, NEWER = EIGHTH_GRADE_YEARS
# Features that need daily attendance, course marks or discipline: none of them here.
ABSENT_DATA_FEATURES = (
    "attendance_rate_last30",
    "attendance_trend_ytd",
    "unexcused_absence_share_ytd",
    "d_or_f_count_ytd",
    "d_or_f_count_core_ytd",
    "failed_core_courses_ytd",
    "marks_count_ytd",
    "marks_trend",
    "incidents_ytd",
    "suspensions_ytd",
    "readiness_df_ok_ytd",
    "readiness_suspension_ok_ytd",
)


@pytest.fixture(scope="module")
def research(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The fixture written once and run through validate, indicators and features."""
    root = tmp_path_factory.mktemp("research")
    started = time.perf_counter()
    data = write_research_district(root / "data")
    written = time.perf_counter() - started
    out = root / "out"
    codes = {
        name: main([name, str(data), "--out", str(out), "--quiet", *extra])
        for name, extra in (
            ("validate", []),
            ("indicators", []),
            ("features", ["--model", "grade8"]),
        )
    }
    return {"data": data, "out": out, "codes": codes, "seconds": written}


def test_fixture_has_the_research_shape(research: dict) -> None:
    data = research["data"]
    assert research["seconds"] < 5
    assert {p.stem for p in data.glob("*.csv")} == {
        "schools", "students", "enrollments", "student_years", "attendance_summary",
        "assessments", "outcomes",
    }
    enrollments = pd.read_csv(data / "enrollments.csv")
    eighth = enrollments[enrollments["grade_level"] == 8]
    assert eighth.groupby("school_year")["student_id"].nunique().to_dict() == {
        OLDER: 600, NEWER: 600
    }
    assert set(enrollments["grade_level"]) == {8, 9, 10, 11, 12}
    summary = pd.read_csv(data / "attendance_summary.csv")
    assert "period_end_date" not in summary.columns  # undated annual totals
    outcomes = pd.read_csv(data / "outcomes.csv", parse_dates=["outcome_date"])
    assert outcomes["outcome_date"].max() == pd.Timestamp(EXTRACT_DATE)
    assert EXTRACT_DATE > date(NEWER + 4, 6, 30)  # the newer cohort's deadline
    counts = outcomes["outcome"].value_counts()
    assert counts["graduated"] > 800 and 40 <= counts["transferred_out"] <= 120
    assert counts["dropped_out"] >= 60


def test_validate_and_indicators_exit_0(research: dict) -> None:
    assert research["codes"] == {"validate": 0, "indicators": 0, "features": 0}
    report = json.loads((research["out"] / "validation" / "report.json").read_text())
    for name, table in report["tables"].items():
        assert table["rows_quarantined"] == 0, name


def test_readiness_uses_official_gpa_and_summary_df_unknown(research: dict) -> None:
    students = pd.read_csv(
        research["out"] / "indicators" / "students.csv", dtype={"student_id": str}
    )
    ready = students[students["indicator"] == "hs_readiness_8"]
    assert ready.groupby("school_year").size().to_dict() == {OLDER: 600, NEWER: 600}
    assert (ready["gpa_source"] == "official").all()
    assert (ready["attendance_source"] == "summary").all()
    assert ready["df_ok"].isna().all() and ready["suspension_ok"].isna().all()
    assert ready["unknown_criteria"].str.contains("df_ela_math").all()
    # Never silently met: unknown when the known criteria pass, else not met.
    known_ok = ready["gpa_ok"].eq(True) & ready["attendance_ok"].eq(True)
    assert set(ready["status"]) == {"unknown", "not_met"}
    assert (ready.loc[known_ok, "status"] == "unknown").all()
    assert (ready.loc[~known_ok, "status"] == "not_met").all()
    # The values behind the criteria come from the files.
    ids = {"student_id": str}
    summary = pd.read_csv(research["data"] / "attendance_summary.csv", dtype=ids)
    years = pd.read_csv(research["data"] / "student_years.csv", dtype=ids)
    keys = ["student_id", "school_year"]
    merged = ready.merge(summary, on=keys, suffixes=("", "_file")).merge(
        years, on=keys, suffixes=("", "_file")
    )
    assert len(merged) == 1200
    enrolled = merged["days_enrolled_file"]
    rate = (enrolled - merged["days_absent_file"]) / enrolled
    np.testing.assert_allclose(merged["attendance_rate"], rate, atol=1e-9)
    np.testing.assert_allclose(merged["gpa"], merged["gpa_file"])


def test_grade8_features_and_graduation_labels(research: dict) -> None:
    folder = research["out"] / "features" / "grade8"
    matrix = pd.read_parquet(folder / "matrix.parquet")
    cohort = pd.read_parquet(folder / "cohort.parquet")
    checkpoints = cohort.groupby(level="as_of_date").size()
    assert checkpoints.to_dict() == {
        pd.Timestamp(day): 600
        for year in EIGHTH_GRADE_YEARS
        for day in (f"{year - 1}-10-31", f"{year}-01-31", f"{year}-06-30")
    }
    labels = pd.read_parquet(folder / "labels" / "not_graduated_4yr.parquet")
    assert labels.index.equals(matrix.index)
    known = labels.dropna(subset=["label"])
    assert set(known["school_year"]) == {OLDER, NEWER}
    rates = known.groupby("school_year")["label"].mean()
    assert rates.between(0.10, 0.35).all(), rates.to_dict()
    assert (labels.loc[labels["outcome"] == "transferred_out", "label"].isna()).all()
    assert (labels["outcome"] != "window_open").all()
    # Features whose tables are missing are missing, never 0.
    assert matrix[list(ABSENT_DATA_FEATURES)].isna().all().all()
    assert not (matrix["readiness_met_ytd"] == 1).any()
    # The outcome is learnable from 8th-grade GPA at the end of the year.
    june = matrix.index.get_level_values("as_of_date").month == 6
    both = matrix.loc[june, ["gpa_ytd"]].join(known["label"], how="inner")
    assert both["gpa_ytd"].corr(both["label"]) < -0.2


def test_year_summaries_and_gpa_known_only_at_year_end(research: dict) -> None:
    matrix = pd.read_parquet(research["out"] / "features" / "grade8" / "matrix.parquet")
    seen = matrix.notna().groupby(level="as_of_date").mean()
    early = seen.index.month != 6
    for name in ("attendance_rate_ytd", "gpa_ytd", "ela_scale_score_ytd",
                 "readiness_attendance_ok_ytd", "readiness_gpa_ok_ytd"):
        assert (seen.loc[early, name] == 0).all(), name
        assert (seen.loc[~early, name] == 1).all(), name
    # Last year's (7th-grade) test is known from October on.
    assert (seen["ela_scale_score_prior_year"] == 1).all()


def test_dated_summary_is_known_from_its_period_end(tmp_path: Path) -> None:
    """A summary with ``period_end_date`` 2016-01-15 counts on Jan 31, not on Jan 14."""
    data = write_research_district(tmp_path / "data", students_per_cohort=60, seed=3)
    path = data / "attendance_summary.csv"
    summary = pd.read_csv(path, dtype=str)
    middle = summary["school_id"].str.startswith("M")
    dated = (summary["school_year"] == str(OLDER)) & middle
    summary["period_end_date"] = np.where(dated, f"{OLDER}-01-15", "")
    summary.to_csv(path, index=False)
    config = load_config()
    validate_directory(data, tmp_path / "out", config)
    con = open_validated(tmp_path / "out", config)
    try:
        days = [date(OLDER - 1, 10, 31), date(OLDER, 1, 14), date(OLDER, 1, 31)]
        cohort = build_cohort(con, config, model="grade8", as_of_dates=days)
        matrix = build_feature_matrix(
            con, cohort, FEATURES, config, provided=provided(tmp_path / "out")
        )
    finally:
        con.close()
    seen = matrix.notna().groupby(level="as_of_date").mean()
    for name in ("attendance_rate_ytd", "readiness_attendance_ok_ytd"):
        assert seen[name].tolist() == [0.0, 0.0, 1.0], name
    assert (seen["gpa_ytd"] == 0).all()  # the official GPA waits for June 30


@pytest.mark.parametrize(
    "day", [date(OLDER, 1, 31), date(OLDER, 6, 30), date(NEWER - 1, 10, 31)]
)
def test_time_travel_on_the_research_file(tmp_path: Path, day: date) -> None:
    """Features from the full file equal those from the file truncated at ``day``."""
    data = write_research_district(tmp_path / "data", students_per_cohort=40, seed=1)
    validate_directory(data, tmp_path / "full", load_config())
    full, cut = matrices(tmp_path / "full", tmp_path / "cut", data, day)
    assert len(full[0]) >= 40
    assert_same(full, cut)
