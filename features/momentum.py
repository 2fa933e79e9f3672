"""Momentum features: how this year compares with earlier this year and with last year.

The early-warning literature's strongest signals at the early checkpoints are changes:
a drop in marks or attendance from 8th to 9th grade, attendance slipping in the last
weeks against the first ones, marks falling between this year's report cards. The
levels are elsewhere (``attendance.py``, ``coursework.py``, ``history.py``); a change is
stated here explicitly so that a small cohort's trees need not learn a difference of
two columns. For 8th graders, the CORE readiness rule's own criteria are also counted
(how many are not met so far) and its D/F criterion is counted on this year's report
card, progress marks included.

Every source is a point-in-time view or a source built on them, so a change only
compares records known at the as-of date. A change is missing when either side is.
"""

from __future__ import annotations

from ontrack.features.attendance import attendance_by_year, attendance_days, rate
from ontrack.features.coursework import MEAN_POINTS, gpa_by_year, report_card_marks
from ontrack.features.indicators import indicator_criteria
from ontrack.dataset.featurize import feature, source

# Sources declared in other modules: holding them here lets a feature set built from
# this module alone find them (``FeatureSet.from_modules`` collects a module's sources).
SOURCES = (attendance_by_year, attendance_days, gpa_by_year, report_card_marks,
           indicator_criteria)
READINESS_FLAGS = ("gpa_ok", "attendance_ok", "df_ok", "suspension_ok")
RECENT_DAYS = 30


@source(tables=("course_marks",))
def postings_this_year() -> str:
    """Mean grade points of this school year's marks posted on each date (a report
    card), numbered forward from the year's first posting and back from the latest
    one known at the as-of date."""
    return f"""
        SELECT student_id, as_of_date, known_date, {MEAN_POINTS} AS points,
               row_number() OVER (PARTITION BY student_id, as_of_date
                                  ORDER BY known_date) AS posting,
               row_number() OVER (PARTITION BY student_id, as_of_date
                                  ORDER BY known_date DESC) AS posting_back
        FROM course_marks
        WHERE year_offset = 0 AND mark_points IS NOT NULL
        GROUP BY student_id, as_of_date, known_date
    """


@feature(
    group="attendance",
    source="attendance_days",
    reason="Attendance fell {size:.0%} in the last 30 school days, against earlier "
    "this year",
    malleable=True,
    valid_range=(-1.0, 1.0),
    risk_when="low",
    healthy=0.0,
)
def attendance_recent_vs_earlier() -> str:
    """Attendance rate over the district's last 30 instructional days minus the rate
    over this school year's earlier days (negative = attending less lately). Daily
    records only; missing without days in both periods."""
    share = "avg(CASE WHEN attended THEN 1.0 ELSE 0.0 END)"
    return (
        f"{share} FILTER (WHERE year_offset = 0 AND days_back <= {RECENT_DAYS}) - "
        f"{share} FILTER (WHERE year_offset = 0 AND days_back > {RECENT_DAYS})"
    )


@feature(
    group="attendance",
    source="attendance_by_year",
    reason="Attendance fell {size:.0%} from last year's rate",
    malleable=True,
    valid_range=(-1.0, 1.0),
    risk_when="low",
    healthy=0.0,
)
def attendance_change_from_last_year() -> str:
    """Attendance rate so far this school year minus last school year's rate
    (negative = attending less than last year). Missing without both years'
    records."""
    return f"{rate(0)} - {rate(1)}"


@feature(
    group="coursework",
    source="gpa_by_year",
    reason="GPA fell {size:.2f} from last year's",
    malleable=True,
    valid_range=(-5.0, 5.0),
    risk_when="low",
    healthy=0.0,
)
def gpa_change_from_last_year() -> str:
    """GPA so far this school year minus last school year's GPA (for a 9th grader:
    against 8th grade; negative = lower marks than last year). Missing without graded
    marks in both years."""
    return (
        "max(gpa) FILTER (WHERE year_offset = 0) - "
        "max(gpa) FILTER (WHERE year_offset = 1)"
    )


@feature(
    group="coursework",
    source="postings_this_year",
    reason="Marks fell {size:.1f} grade points since this year's first report card",
    malleable=True,
    valid_range=(-5.0, 5.0),
    risk_when="low",
    healthy=0.0,
)
def marks_change_ytd() -> str:
    """Mean grade points of the latest report card this school year minus those of the
    year's first report card (negative = falling within the year). Missing with fewer
    than two postings this year (e.g. at the first checkpoint)."""
    return (
        "CASE WHEN count(*) >= 2 THEN "
        "max(points) FILTER (WHERE posting_back = 1) - "
        "max(points) FILTER (WHERE posting = 1) END"
    )


@feature(
    group="coursework",
    source="report_card_marks",
    reason="{value:.0f} D or F marks in ELA or math this year",
    malleable=True,
    grades=(8,),
    risk_when="high",
    healthy=0.0,
)
def d_or_f_ela_math_ytd() -> str:
    """D, F or no-pass marks in ELA or math on this year's report card so far,
    progress marks included (the readiness rule counts final marks only, so this
    sees the criterion coming). Missing for a student without marks."""
    return (
        "count(*) FILTER (WHERE year_offset = 0 AND d_or_f "
        "AND lower(subject) IN ('ela', 'math'))"
    )


@feature(
    group="indicators",
    source="indicator_criteria",
    reason="{value:.0f} of the 4 readiness criteria not met so far",
    malleable=True,
    grades=(8,),
    valid_range=(0.0, 4.0),
    risk_when="high",
    healthy=0.0,
)
def readiness_criteria_not_met_ytd() -> str:
    """How many of the four CORE readiness criteria (GPA, attendance, no D/F in ELA or
    math, no suspension) are not met so far in 8th grade; an unknown criterion is not
    counted. Missing when all four are unknown."""
    flags = [
        f"max({flag}) FILTER (WHERE indicator = 'hs_readiness_8' AND year_offset = 0)"
        for flag in READINESS_FLAGS
    ]
    missed = " + ".join(f"coalesce(1 - {f}, 0)" for f in flags)
    known = " OR ".join(f"{f} IS NOT NULL" for f in flags)
    return f"CASE WHEN {known} THEN {missed} END"
