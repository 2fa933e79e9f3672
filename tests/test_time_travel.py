"""Time travel: features at an as-of date never depend on records after it.

For random as-of dates T, the matrix built from the full data equals the matrix built
from the raw files truncated at T (and re-validated). The truncation below restates the
knowledge dates of ``ontrack/dataset/asof.py`` on the raw CSVs, independently of the SQL there:
a feature that reads anything unknown at T makes the two matrices differ.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from feature_district import write_feature_district
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ontrack.features import FEATURES
from ontrack.dataset.cohorts import build_cohort
from ontrack.config import load_config
from ontrack.dataset.featurize import build_feature_matrix
from ontrack.validation.store import open_validated, provided
from ontrack.validation import validate_directory

CONFIG = load_config()  # school years start Jul 1


def year_end(year: pd.Series) -> pd.Series:
    return pd.to_datetime(year.astype(int).astype(str) + "-06-30")


def year_start(year: pd.Series) -> pd.Series:
    return pd.to_datetime((year.astype(int) - 1).astype(str) + "-07-01")


def known(frame: pd.DataFrame, column: str, cutoff: pd.Timestamp, undated_year_end: bool) -> pd.Series:
    """Rows whose date is on or before ``cutoff`` (undated: the end of their year)."""
    dated = pd.to_datetime(frame[column], errors="coerce") if column in frame else None
    if dated is None:
        dated = pd.Series(pd.NaT, index=frame.index)
    if undated_year_end:
        dated = dated.fillna(year_end(frame["school_year"]))
    return dated <= cutoff


def truncate(source: Path, target: Path, day: date) -> Path:
    """Copy the district's CSVs keeping only what was known on ``day``."""
    cutoff = pd.Timestamp(day)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in source.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        name = path.stem
        if name == "attendance":
            frame = frame[known(frame, "date", cutoff, False)]
        elif name == "discipline":
            frame = frame[known(frame, "incident_date", cutoff, False)]
        elif name == "outcomes":
            frame = frame[known(frame, "outcome_date", cutoff, False)]
        elif name in ("course_marks", "attendance_summary", "assessments"):
            column = {"course_marks": "term_end_date", "attendance_summary": "period_end_date",
                      "assessments": "test_date"}[name]
            frame = frame[known(frame, column, cutoff, True)]
        elif name == "enrollments":
            frame = frame[pd.to_datetime(frame["entry_date"]) <= cutoff].copy()
            future = pd.to_datetime(frame["exit_date"]) > cutoff
            for column in ("exit_date", "exit_reason"):
                if column in frame:
                    frame.loc[future, column] = None
        elif name == "student_years":
            frame = frame[year_start(frame["school_year"]) <= cutoff].copy()
            if "gpa" in frame:
                frame.loc[year_end(frame["school_year"]) > cutoff, "gpa"] = None
        frame.to_csv(target / path.name, index=False)
    return target


def matrices(full_out: Path, work: Path, data: Path, day: date):
    """(cohort, X) of 8th and 9th graders from the full data and from the data
    truncated at ``day``."""
    results = []
    for out, folder in ((full_out, None), (work / "out", truncate(data, work / "data", day))):
        if folder is not None:
            validate_directory(folder, out, CONFIG)
        con = open_validated(out, CONFIG)
        try:
            cohort = pd.concat(
                [build_cohort(con, CONFIG, model=m, as_of_dates=[day]) for m in ("grade8", "grade9")]
            ).sort_index()
            matrix = build_feature_matrix(con, cohort, FEATURES, CONFIG, provided=provided(out))
        finally:
            con.close()
        results.append((cohort, matrix))
    return results


def assert_same(full, cut) -> None:
    pd.testing.assert_frame_equal(full[0], cut[0])
    pd.testing.assert_frame_equal(full[1], cut[1], check_exact=False, rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("travel")
    data = write_feature_district(root / "data")
    validate_directory(data, root / "out", CONFIG)
    return data, root / "out"


DAYS = st.integers(0, (date(2024, 7, 15) - date(2022, 9, 1)).days).map(
    lambda n: date(2022, 9, 1) + timedelta(days=n)
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=DAYS)
def test_hand_built_district(district, tmp_path_factory, day: date) -> None:
    data, full_out = district
    full, cut = matrices(full_out, tmp_path_factory.mktemp("cut"), data, day)
    assert_same(full, cut)


@pytest.mark.parametrize("day", [date(2024, 1, 31), date(2024, 6, 7)])
def test_hand_built_district_at_checkpoints(district, tmp_path, day: date) -> None:
    data, full_out = district
    full, cut = matrices(full_out, tmp_path, data, day)
    assert len(full[0]) >= 5  # the checks are not vacuous
    assert full[1].notna().any().sum() >= 25
    assert_same(full, cut)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    synth = pytest.importorskip("ontrack.synth")
    root = tmp_path_factory.mktemp("synth")
    synth.generate_district(root / "data", n_students=60, n_years=3, seed=7, fmt="csv", mess=False)
    validate_directory(root / "data", root / "out", CONFIG)
    return root / "data", root / "out"


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    # In session (Sep 15 - Jun 9) of 2023-24 or 2024-25, when the cohorts are not empty.
    day=st.tuples(st.sampled_from([2023, 2024]), st.integers(0, 267)).map(
        lambda yn: date(yn[0], 9, 15) + timedelta(days=yn[1])
    ),
)
def test_synthetic_district(synthetic, tmp_path_factory, day: date) -> None:
    data, full_out = synthetic
    full, cut = matrices(full_out, tmp_path_factory.mktemp("cut"), data, day)
    assert_same(full, cut)
