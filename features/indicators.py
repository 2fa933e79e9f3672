"""The rule indicators as of the checkpoint: CORE readiness and freshman on-track.

Computed by ``ontrack.indicators`` (never re-implemented here) as of each as-of date:
the indicators count only records known by then (their own clipping, held to the same
time-travel test as every feature). Every as-of date of the cohort is computed in one
pass (``indicators_as_of``: each student-year's records counted once per as-of date
they do not pass), not one run of the rules per date. Readiness applies to 8th-grade
student-years and on-track to 9th-grade ones, so each feature is declared for the grade
it describes; a flag is 1 (criterion met), 0 (not met) or missing (unknown: its data
is missing).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.dataset.featurize import feature, source
from ontrack.indicators import FLAG_COLUMNS, indicators_as_of
from ontrack.validation.store import provided_tables

RULES = ("hs_readiness_8", "on_track_9")
COLUMNS = (
    "student_id",
    "as_of_date",
    "year_offset",
    "indicator",
    "status",
    "credits_earned",
    "core_semester_fs",
    "credit_unit",
    "courses_required",
    "year_share",
    *FLAG_COLUMNS,
)
TABLES = (
    "course_marks",
    "attendance",
    "attendance_summary",
    "discipline",
    "student_years",
)
# School years whose rule rows each cohort row reads: its own (0) and the one before (1).
YEAR_OFFSETS = (0, 1)


def _as_float(values: pd.Series) -> pd.Series:
    """Nullable booleans and integers as float64 (NA -> NaN)."""
    plain = values.to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(plain, index=values.index)


def _rule_columns(keys: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Per cohort row: credit unit, required courses and share of the year elapsed
    (worked out once per district, school year and as-of date)."""
    on = ["district_id", "school_year", "as_of_date"]
    points = keys[on].drop_duplicates()
    units, required, shares = [], [], []
    for row in points.itertuples(index=False):
        rules = config.rules_for(row.district_id)
        start, end = rules.year_start(row.school_year), rules.year_end(row.school_year)
        elapsed = (row.as_of_date.date() - start).days + 1
        shares.append(min(1.0, elapsed / ((end - start).days + 1)))
        units.append(rules.credit_unit)
        required.append(rules.on_track.full_year_courses_required)
    # Each row's point, looked up by position (a merge costs more than the rest here).
    at = pd.MultiIndex.from_frame(points).get_indexer(
        pd.MultiIndex.from_frame(keys[on])
    )
    columns = {"credit_unit": units, "courses_required": required, "year_share": shares}
    return keys.assign(**{name: pd.Series(values).to_numpy()[at]
                          for name, values in columns.items()})


@source(tables=TABLES, frame=True)
def indicator_criteria(
    con: duckdb.DuckDBPyConnection, cohort: pd.DataFrame, config: Config
) -> pd.DataFrame:
    """Readiness and on-track status and criteria per student and as-of date, for this
    and last school year, from ontrack.indicators as of that date."""
    keys = cohort.reset_index()
    keys = keys[["student_id", "as_of_date", "school_year", "district_id"]]
    keys = keys.astype({"student_id": "str", "school_year": "int64"})
    if keys.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
        types = {"student_id": "str", "indicator": "str", "status": "str"}
        return empty.astype({**types, "as_of_date": "datetime64[ns]"})
    keys = _rule_columns(keys, config)
    # Each cohort row asks for its own school year and the one before, as of its date.
    asked = pd.concat([keys.assign(school_year=keys["school_year"] - offset)
                       for offset in YEAR_OFFSETS], ignore_index=True)
    rows = indicators_as_of(con, config, asked[["student_id", "school_year", "as_of_date"]],
                            provided=provided_tables(con), indicators=RULES)
    rows = rows.drop(columns=["district_id"])
    rows["as_of_date"] = rows["as_of_date"].astype(keys["as_of_date"].dtype)
    # Cohort rows by school year and date (as the per-date computation gave them), each
    # with its rule rows in the order computed: last year's, then this year's.
    keys = keys.sort_values(["school_year", "as_of_date"], kind="stable")
    merged = keys.merge(rows, on=["student_id", "as_of_date"], suffixes=("", "_rule"))
    merged["year_offset"] = merged["school_year"] - merged["school_year_rule"]
    frame = merged[merged["year_offset"].isin(YEAR_OFFSETS)].reset_index(drop=True)
    frame = frame[list(COLUMNS)].copy()
    for col in (*FLAG_COLUMNS, "credits_earned", "core_semester_fs", "year_offset"):
        frame[col] = _as_float(frame[col])
    frame["student_id"] = frame["student_id"].astype("str")
    return frame


def status_is_met(rule: str, year_offset: int = 0) -> str:
    """SQL: 1 if the rule's status is met, 0 if not met, NULL if unknown."""
    return (
        "max(CASE status WHEN 'met' THEN 1 WHEN 'not_met' THEN 0 END) "
        f"FILTER (WHERE indicator = '{rule}' AND year_offset = {year_offset})"
    )


def criterion(rule: str, column: str) -> str:
    """SQL: one criterion flag (or value) of this school year's rule row."""
    return f"max({column}) FILTER (WHERE indicator = '{rule}' AND year_offset = 0)"


@feature(group="indicators", source="indicator_criteria", grades=(8,),
         reason="Not on the CORE readiness path so far this year", malleable=True,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def readiness_met_ytd() -> str:
    """1 if CORE high-school readiness is met so far in 8th grade (GPA >= 2.5,
    attendance >= 96%, no D/F in ELA or math, no suspension), 0 if not, missing if
    unknown."""
    return status_is_met("hs_readiness_8")


@feature(group="indicators", source="indicator_criteria", grades=(8,),
         reason="GPA below the readiness bar so far", malleable=True,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def readiness_gpa_ok_ytd() -> str:
    """Readiness GPA criterion so far in 8th grade: 1 met, 0 not, missing unknown."""
    return criterion("hs_readiness_8", "gpa_ok")


@feature(group="indicators", source="indicator_criteria", grades=(8,),
         reason="Attendance below the readiness bar so far", malleable=True,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def readiness_attendance_ok_ytd() -> str:
    """Readiness attendance criterion so far in 8th grade (1/0/missing)."""
    return criterion("hs_readiness_8", "attendance_ok")


@feature(group="indicators", source="indicator_criteria", grades=(8,),
         reason="A D or F in ELA or math so far", malleable=True,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def readiness_df_ok_ytd() -> str:
    """Readiness criterion "no D or F in ELA or math" so far in 8th grade (1/0/
    missing)."""
    return criterion("hs_readiness_8", "df_ok")


@feature(group="indicators", source="indicator_criteria", grades=(8,),
         reason="Suspended this year", malleable=True,
         risk_when="low", healthy=1.0, valid_range=(0.0, 1.0))
def readiness_suspension_ok_ytd() -> str:
    """Readiness criterion "not suspended" so far in 8th grade (1/0/missing)."""
    return criterion("hs_readiness_8", "suspension_ok")


@feature(group="indicators", source="indicator_criteria", grades=(9,),
         reason="Not college-ready by the CORE measure in 8th grade", malleable=False,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def readiness_met_prior_year() -> str:
    """1 if CORE readiness was met over the whole of 8th grade (last school year), 0
    if not, missing if unknown or not enrolled in 8th grade here."""
    return status_is_met("hs_readiness_8", year_offset=1)


@feature(group="indicators", source="indicator_criteria", grades=(10,),
         reason="Ended 9th grade off track", malleable=False,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def on_track_met_prior_year() -> str:
    """1 if freshman on-track was met at the end of 9th grade (last school year), 0 if
    not, missing if unknown or not in 9th grade here: the on-track rule as known to a
    10th grader."""
    return status_is_met("on_track_9", year_offset=1)


@feature(group="indicators", source="indicator_criteria", grades=(9,),
         reason="Off track for 9th grade so far", malleable=True,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def on_track_met_ytd() -> str:
    """1 if freshman on-track is met on the credits and semester Fs known so far in
    9th grade, 0 if not, missing if unknown."""
    return status_is_met("on_track_9")


@feature(group="indicators", source="indicator_criteria", grades=(9,),
         reason="Not enough credits for on-track so far", malleable=True,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def on_track_credits_ok_ytd() -> str:
    """On-track credits criterion on the final marks known so far in 9th grade (it is
    usually 0 until the year's last finals post)."""
    return criterion("on_track_9", "credits_ok")


@feature(group="indicators", source="indicator_criteria", grades=(9,),
         reason="Too many core semester Fs for on-track", malleable=True,
         risk_when="low", healthy=1.0,
         valid_range=(0.0, 1.0))
def on_track_fs_ok_ytd() -> str:
    """On-track criterion "at most one core semester F" on the marks known so far in
    9th grade (1/0/missing)."""
    return criterion("on_track_9", "fs_ok")


@feature(group="indicators", source="indicator_criteria", grades=(9,),
         reason="{value:.0f} semester Fs in core subjects", malleable=True,
         risk_when="high", healthy=0.0)
def core_semester_fs_ytd() -> str:
    """Semester Fs in core subjects so far in 9th grade, as the on-track rule counts
    them (a full-year F counts two; a course without a final counts by its latest
    progress mark)."""
    return criterion("on_track_9", "core_semester_fs")


@feature(group="indicators", source="indicator_criteria", grades=(9,),
         reason="{value:.1f} full-year credits earned so far", malleable=True)
def credits_earned_ytd() -> str:
    """Credits earned so far in 9th grade by the on-track rule's count, in full-year
    courses (credits divided by the district's credit unit)."""
    return criterion("on_track_9", "credits_earned / credit_unit")


@feature(group="indicators", source="indicator_criteria", grades=(9,),
         reason="{size:.1f} full-year credits behind the on-track pace",
         malleable=True,
         risk_when="low", healthy=0.0)
def credits_vs_expected_ytd() -> str:
    """Credits earned so far in 9th grade minus the on-track requirement (5 full-year
    courses by default) times the share of the school year elapsed; negative =
    behind pace. Missing when credits are unknown."""
    pace = "credits_earned / credit_unit - courses_required * year_share"
    return criterion("on_track_9", pace)
