"""Behavior features: incidents, suspensions, days suspended, time since last incident.

Counts cover the school years in which the student was enrolled in the district (an
enrollment known at the as-of date), so a student enrolled without any incident has 0,
not a missing value; a student not enrolled last year has missing prior-year counts.
Without a ``discipline`` table every behavior feature is missing (unknown, not zero).
A suspension is an in-school or out-of-school suspension or an expulsion; its length
is ``days``, or 1 day when not recorded.
"""

from __future__ import annotations

from ontrack.dataset.featurize import feature, source
from ontrack.indicators import SUSPENSION_ACTIONS
from ontrack.indicators.exact import MICRO, micro_sum


@source(tables=("discipline",))
def discipline_by_year() -> str:
    """Discipline incidents known at the as-of date in each school year (this and last)
    the student was enrolled, with a row (and no incident) for an enrolled year
    without incidents."""
    actions = ", ".join(f"'{a}'" for a in SUSPENSION_ACTIONS)
    return f"""
        WITH years AS (
            SELECT DISTINCT student_id, as_of_date, year_offset
            FROM enrollments WHERE year_offset <= 1
        )
        SELECT y.student_id, y.as_of_date, y.year_offset, d.incident_date, d.action,
               COALESCE(d.action IN ({actions}), FALSE) AS suspension,
               COALESCE(d.days, 1) AS days
        FROM years y LEFT JOIN discipline d USING (student_id, as_of_date, year_offset)
    """


def incidents(year_offset: int, condition: str = "TRUE") -> str:
    """SQL: incidents of one school year meeting ``condition``; NULL if not enrolled."""
    where = f"year_offset = {year_offset} AND {condition}"
    count = f"count(incident_date) FILTER (WHERE {where})"
    return f"CASE WHEN bool_or(year_offset = {year_offset}) THEN {count} END"


@feature(
    group="behavior",
    source="discipline_by_year",
    reason="{value:.0f} discipline incidents this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
    when_no_records=0.0,
)
def incidents_ytd() -> str:
    """Discipline incidents (any action, referrals included) this school year up to
    the as-of date; 0 for an enrolled student without incidents."""
    return incidents(0)


@feature(
    group="behavior",
    source="discipline_by_year",
    reason="Suspended {value:.0f} times this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
    when_no_records=0.0,
)
def suspensions_ytd() -> str:
    """Suspensions (in or out of school) and expulsions this school year up to the
    as-of date; 0 for an enrolled student without any."""
    return incidents(0, "suspension")


@feature(
    group="behavior",
    source="discipline_by_year",
    reason="{value:.0f} days suspended this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
    when_no_records=0.0,
)
def days_suspended_ytd() -> str:
    """Days suspended this school year up to the as-of date (a suspension without a
    recorded length counts 1 day); 0 for an enrolled student without suspensions."""
    return (
        "CASE WHEN bool_or(year_offset = 0) THEN COALESCE("
        f"{micro_sum('days')} FILTER (WHERE year_offset = 0 AND suspension "
        f"AND incident_date IS NOT NULL) / {MICRO}, 0) END"
    )


@feature(
    group="behavior",
    source="discipline_by_year",
    reason="Last discipline incident {value:.0f} days ago",
    malleable=False,
    risk_when="low",
)
def days_since_last_incident() -> str:
    """Days from the latest discipline incident (this or last school year) to the
    as-of date. Missing for a student without incidents in that window."""
    return "date_diff('day', max(incident_date), any_value(as_of_date))"
