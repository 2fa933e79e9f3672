"""The rule criteria of every as-of date in one pass equal the rules run once per date.

``features/indicators.py::indicator_criteria`` computes the readiness and on-track rows
of a cohort for all its checkpoints at once (``ontrack.indicators.indicators_as_of``).
The reference here is the way it used to be done, kept only in this test: the whole
indicator computation run once per (school year, as-of date), scoped to the cohort's
students of that year, its rows joined to the cohort rows of that date.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from feature_district import (
    JAN31,
    JUN30,
    OCT31,
    TABLES,
    attendance_rows,
    write_feature_district,
)
from ontrack.features.indicators import COLUMNS, FLAG_COLUMNS, RULES, indicator_criteria

from ontrack.config import Config, load_config
from ontrack.dataset.asof import scoped
from ontrack.dataset.cohorts import build_cohort
from ontrack.indicators import indicators_as_of, student_indicators
from ontrack.indicators import rules as rules_module
from ontrack.validation import validate_directory
from ontrack.validation.store import open_validated, provided_tables
from tests.conftest import write_district

CRITERIA = indicator_criteria.func
KEYS = ["student_id", "as_of_date", "year_offset", "indicator"]


def per_date_criteria(con, cohort: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The reference: ``student_indicators`` once per school year and as-of date."""
    keys = cohort.reset_index()[["student_id", "as_of_date", "school_year", "district_id"]]
    keys = keys.astype({"student_id": "str"})
    have, parts = provided_tables(con), []
    for year, of_year in keys.groupby("school_year", sort=True):
        years = [int(year) - 1, int(year)]
        with scoped(con, of_year["student_id"], years):
            for day, group in of_year.groupby("as_of_date", sort=True):
                rows = student_indicators(con, config, as_of=day.date(), school_years=years,
                                          provided=have)
                rows = rows[rows["indicator"].isin(RULES)].drop(columns=["as_of_date", "district_id"])
                joined = group.merge(rows, on="student_id", suffixes=("", "_rule"))
                joined["year_offset"] = joined["school_year"] - joined["school_year_rule"]
                parts.append(joined)
    frame = pd.concat(parts, ignore_index=True)
    return frame[frame["year_offset"].isin([0, 1])]


def assert_same(one_pass: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Equal frames once both are sorted; the reference lacks the rule constants."""
    compared = [c for c in COLUMNS if c not in ("credit_unit", "courses_required", "year_share")]
    mine = one_pass[compared].sort_values(KEYS).reset_index(drop=True)
    theirs = reference[compared].sort_values(KEYS).reset_index(drop=True)
    for col in (*FLAG_COLUMNS, "credits_earned", "core_semester_fs", "year_offset"):
        theirs[col] = pd.to_numeric(theirs[col].astype("object").where(theirs[col].notna())).astype("float64")
    theirs["student_id"] = theirs["student_id"].astype("str")
    assert mine.equals(theirs), pd.concat([mine, theirs], keys=["one pass", "per date"]).drop_duplicates(keep=False)


def validated(data: Path, out: Path, config: Config):
    validate_directory(data, out, config)
    return open_validated(out, config)


# Added to the hand-built district, for what differs from one as-of date to the next:
# S2's spells overlap (a date recorded at both schools: the exact recount); a summary of
# S2 at H2 is known in October, before H2's daily rows, which replace it by January; a
# course of S1 without a final has a different progress mark at each checkpoint.
EXTRA = {
    "enrollments": TABLES["enrollments"].replace("S2,H2,2024,9,2024-01-16,,", "S2,H2,2024,9,2024-01-10,,"),
    "attendance": "student_id,school_id,date,status\n" + "\n".join(
        [*attendance_rows(), "S2,H2,2024-01-10,present", "S2,H2,2024-01-11,absent_unexcused"]) + "\n",
    "attendance_summary": TABLES["attendance_summary"] + "S2,H2,2024,40,9,2023-10-20\n",
    "course_marks": TABLES["course_marks"] + "S1,H1,2024,Q1,HIST,social_science,A,false,2023-10-20,,\n"
    "S1,H1,2024,Q2,HIST,social_science,F,false,2024-01-19,,\n",
}


@pytest.fixture(scope="module")
def feature_district(tmp_path_factory: pytest.TempPathFactory):
    """The hand-built district (transfers, summaries only, late entry, undated marks)
    with ``EXTRA``."""
    root = tmp_path_factory.mktemp("criteria")
    config = load_config()
    con = validated(write_feature_district(root / "data", **EXTRA), root / "out", config)
    yield con, config
    con.close()


def test_one_pass_equals_per_date_on_the_session_district(trained_grade8: dict) -> None:
    # grade9's cohort here (its ninth graders, their eighth-grade year as year_offset 1);
    # grade8's as-of rows are checked on the hand-built and tiny districts.
    config, model = trained_grade8["config"], "grade9"
    con = open_validated(trained_grade8["out"], config)
    try:
        cohort = build_cohort(con, config, model=model)
        one_pass = CRITERIA(con, cohort, config)
        reference = per_date_criteria(con, cohort, config)
    finally:
        con.close()
    assert cohort["school_year"].nunique() > 3 and cohort.index.get_level_values(1).nunique() > 9
    assert len(one_pass) > len(cohort) * 0.9 and set(one_pass["year_offset"]) == {0.0, 1.0}
    assert_same(one_pass, reference)


@pytest.mark.parametrize("model", ["grade8", "grade9"])
def test_one_pass_equals_per_date_on_the_hand_built_district(feature_district, model: str) -> None:
    con, config = feature_district
    cohort = build_cohort(con, config, model=model)
    assert_same(CRITERIA(con, cohort, config), per_date_criteria(con, cohort, config))


def test_one_pass_equals_per_date_on_the_tiny_district(tmp_path: Path) -> None:
    config = load_config()
    con = validated(write_district(tmp_path / "data"), tmp_path / "out", config)
    cohort = build_cohort(con, config, model="grade8")
    one_pass = CRITERIA(con, cohort, config)
    assert len(one_pass) == len(cohort) == 2
    assert_same(one_pass, per_date_criteria(con, cohort, config))
    empty = CRITERIA(con, build_cohort(con, config, model="grade9"), config)
    assert empty.empty and list(empty.columns) == list(COLUMNS)


@pytest.mark.parametrize("buckets", ["by date", "by row"])
def test_every_indicator_as_of_each_row_equals_student_indicators_as_of_that_date(
        feature_district, monkeypatch: pytest.MonkeyPatch, buckets: str) -> None:
    """All four indicators and every column, students asked at different dates and years
    in one call, equal ``student_indicators`` at each date (the same rules, clipped per row);
    attendance days counted once per date (the rows share three) or once per row."""
    from ontrack.indicators import attendance

    if buckets == "by row":
        monkeypatch.setattr(attendance, "_MAX_BUCKETS", 0)
    con, config = feature_district
    asked = pd.DataFrame({
        "student_id": ["S1", "S1", "S1", "S1", "S2", "S2", "S4", "S4", "S5", "S7", "S7"],
        "school_year": [2024, 2024, 2024, 2023, 2024, 2024, 2024, 2024, 2023, 2024, 2024],
        "as_of_date": pd.to_datetime([OCT31, JAN31, JUN30, JAN31, OCT31, JAN31, OCT31, JAN31, OCT31,
                                      OCT31, JAN31]),
    })
    found = indicators_as_of(con, config, asked)
    assert set(found["indicator"]) == {"hs_readiness_8", "on_track_9", "chronic_absence", "suspension"}
    expected = []
    for day, rows in asked.groupby("as_of_date"):
        every = student_indicators(con, config, as_of=day.date())
        wanted = rows[["student_id", "school_year"]].astype({"school_year": "Int64"})
        expected.append(every.merge(wanted, on=["student_id", "school_year"]))
    order = ["school_year", "student_id", "as_of_date", "indicator"]
    reference = pd.concat(expected).sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(found.reset_index(drop=True), reference)


def test_the_rules_run_once_for_all_the_dates(feature_district, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pass: the population, attendance, marks and discipline parts are built once
    for every as-of date of the cohort, not once per date."""
    con, config = feature_district
    cohort = build_cohort(con, config, model="grade9")
    assert cohort.index.get_level_values("as_of_date").nunique() >= 3
    calls = []
    real = rules_module.create_attendance
    monkeypatch.setattr(rules_module, "create_attendance",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    assert len(CRITERIA(con, cohort, config)) > 0
    assert len(calls) == 1


def test_only_the_indicators_asked_for_are_fetched(feature_district) -> None:
    con, config = feature_district
    asked = pd.DataFrame({"student_id": ["S1", "S6"], "school_year": [2024, 2024],
                          "as_of_date": pd.to_datetime([JAN31, JAN31])})
    every = indicators_as_of(con, config, asked)
    rules = indicators_as_of(con, config, asked, indicators=RULES)
    assert set(rules["indicator"]) == set(RULES)
    kept = every[every["indicator"].isin(RULES)].reset_index(drop=True)
    pd.testing.assert_frame_equal(rules.reset_index(drop=True), kept)
    with pytest.raises(ValueError, match="indicators must be among .* Got \\['on_track'\\] instead"):
        indicators_as_of(con, config, asked, indicators=["on_track"])
