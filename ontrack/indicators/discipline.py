"""Suspensions per student-year (and discipline counts per day, for outside checks).

Decision: a *suspension* is any discipline row whose ``action`` is
``in_school_suspension``, ``out_of_school_suspension`` or ``expulsion`` (CONTRACT §2:
"suspended or expelled"). Referrals and ``other`` actions do not count. The count is of
actions, not incidents: an incident that led to an in-school and then an out-of-school
suspension counts twice (the readiness criterion only asks whether it is above zero).
Incidents at any school of the year count. As of a date, only incidents dated on or
before it count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

import duckdb
import pandas as pd

from ontrack.indicators.checkpoints import Clip, in_years
from ontrack.validation.checks import literal

SUSPENSION_ACTIONS: tuple[str, ...] = (
    "in_school_suspension",
    "out_of_school_suspension",
    "expulsion",
)
DISCIPLINE_TABLE = "_ind_disc"

_IS_SUSPENSION = f"action IN ({', '.join(literal(a) for a in SUSPENSION_ACTIONS)})"


def discipline_counts_sql(
    by: Literal["year", "day"] = "year",
    as_of: date | Clip | None = None,
    source: str = "discipline",
    school_years: Sequence[int] | None = None,
) -> str:
    """Counts of discipline actions and suspensions per student and year (or day).

    ``by="day"`` groups per student, school, incident date and incident type; that is
    the grain of Ed-Fi's daily early-warning facts, against which it is tested. Clipped
    per row (:class:`~ontrack.indicators.checkpoints.Clip`), per student, year and
    as-of date.
    """
    clip = Clip.of(as_of)
    names = (
        ("student_id", "school_year")
        if by == "year"
        else ("student_id", "school_id", "incident_date", "incident_type")
    )
    keys = clip.key() + ", ".join(f"x.{name}" for name in names)
    return (
        f"SELECT {keys}, count(*) AS actions, "
        f"count(*) FILTER (WHERE {_IS_SUSPENSION}) AS suspensions "
        f"FROM {source} x{clip.scope('x')} WHERE {clip.known('x.incident_date')} "
        f"AND {in_years('x.school_year', school_years)} GROUP BY ALL"
    )


def discipline_counts(
    con: duckdb.DuckDBPyConnection,
    by: Literal["year", "day"] = "year",
    as_of: date | None = None,
) -> pd.DataFrame:
    """:func:`discipline_counts_sql` evaluated on the validated ``discipline`` table."""
    return con.execute(discipline_counts_sql(by, as_of)).df()


def create_discipline(
    con: duckdb.DuckDBPyConnection,
    as_of: date | Clip | None,
    school_years: Sequence[int] | None = None,
) -> None:
    """Materialise ``_ind_disc``: actions and suspensions per student-year."""
    sql = discipline_counts_sql("year", as_of, school_years=school_years)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {DISCIPLINE_TABLE} AS {sql}")
