"""Prior-year history: last school year's attendance, GPA, failures, behavior, moves.

For a 9th grader these describe 8th grade; for an 8th grader, 7th grade. Last year is
complete at every checkpoint of this year, so these are the same at every as-of date
of a school year (except records dated after the year ended, e.g. summer-school
marks). A student without records last year (new to the district) is missing.
"""

from __future__ import annotations

from ontrack.features.attendance import chronic, rate
from ontrack.features.behavior import incidents
from ontrack.features.enrollment import moves
from ontrack.dataset.featurize import feature


def final_marks(condition: str) -> str:
    """SQL: last year's final marks meeting ``condition``; NULL without marks."""
    count = f"count(*) FILTER (WHERE year_offset = 1 AND is_final AND {condition})"
    return f"CASE WHEN bool_or(year_offset = 1 AND is_final) THEN {count} END"


@feature(
    group="history",
    source="attendance_by_year",
    reason="Attended {value:.0%} of school days last year",
    malleable=False,
    risk_when="low",
    healthy=1.0,
    valid_range=(0.0, 1.0),
)
def attendance_rate_prior_year() -> str:
    """Share of enrolled days attended last school year (daily records, else the
    attendance summary)."""
    return rate(1)


@feature(
    group="history",
    source="attendance_by_year",
    reason="Chronically absent last year",
    malleable=False,
    risk_when="high",
    healthy=0.0,
    valid_range=(0.0, 1.0),
)
def chronic_absence_prior_year() -> str:
    """1 if chronically absent last school year (rate at or below the district's
    threshold), else 0."""
    return chronic(1)


@feature(
    group="history",
    source="gpa_by_year",
    reason="GPA last year was {value:.2f}",
    malleable=False,
    risk_when="low",
    healthy=4.0,
    valid_range=(0.0, 5.0),
)
def gpa_prior_year() -> str:
    """Last school year's GPA: the official GPA when given, else the mean grade points
    of its final marks."""
    return "max(gpa) FILTER (WHERE year_offset = 1)"


@feature(
    group="history",
    source="report_card_marks",
    reason="{value:.0f} D or F final marks last year",
    malleable=False,
    risk_when="high",
    healthy=0.0,
)
def d_or_f_count_prior_year() -> str:
    """D, F or no-pass final marks last school year (all subjects)."""
    return final_marks("d_or_f")


@feature(
    group="history",
    source="report_card_marks",
    reason="Failed {value:.0f} core courses last year",
    malleable=False,
    risk_when="high",
    healthy=0.0,
)
def failed_core_courses_prior_year() -> str:
    """Failing (F or no-pass) final marks in core subjects last school year."""
    return final_marks("failing AND core")


@feature(
    group="history",
    source="discipline_by_year",
    reason="{value:.0f} discipline incidents last year",
    malleable=False,
    risk_when="high",
    healthy=0.0,
)
def incidents_prior_year() -> str:
    """Discipline incidents last school year; 0 if enrolled without incidents."""
    return incidents(1)


@feature(
    group="history",
    source="discipline_by_year",
    reason="Suspended {value:.0f} times last year",
    malleable=False,
    risk_when="high",
    healthy=0.0,
)
def suspensions_prior_year() -> str:
    """Suspensions and expulsions last school year; 0 if enrolled without any."""
    return incidents(1, "suspension")


@feature(
    group="history",
    source="enrollment_spells",
    reason="Changed schools {value:.0f} times last year",
    malleable=False,
    risk_when="high",
    healthy=0.0,
)
def school_moves_prior_year() -> str:
    """School changes last school year: enrollment spells entered after its first."""
    return moves(1)
