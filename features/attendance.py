"""Attendance features: rate so far this year, recent windows, trend, unexcused share.

Days follow the indicators' definitions (``ontrack.indicators.attendance``): present
and tardy are attended; excused, unexcused and suspended are absent; a date recorded at
two schools (a transfer day) counts once. Daily ``attendance`` is used where a school
has it; for a school without daily rows, the latest ``attendance_summary`` known at the
as-of date (``period_end_date`` on or before it; an undated summary only once its
school year has ended) supplies the days. Only the year-to-date rates can come from
summaries: the recent windows, trend and unexcused share need daily records and are
missing without them.
"""

from __future__ import annotations

from ontrack.dataset.featurize import feature, source
from ontrack.indicators.attendance import ATTENDED_SQL as ATTENDED
from ontrack.indicators.exact import MICRO, micro_sum


@source(tables=("attendance",))
def attendance_days() -> str:
    """Daily records of this and last school year up to the as-of date, one row per
    date (a date recorded at two schools once, attended if attended at either), with
    this year's dates placed among the district's latest instructional days."""
    # Only students with rows at two schools in a year can repeat a date: only those
    # are regrouped by date (a DISTINCT over everyone costs several times more).
    return f"""
        WITH days AS (
            SELECT student_id, as_of_date, year_offset, school_id, date,
                   {ATTENDED} AS attended, status = 'absent_unexcused' AS unexcused
            FROM attendance
        ), movers AS (
            SELECT student_id, as_of_date, year_offset FROM days
            GROUP BY ALL HAVING min(school_id) <> max(school_id)
        ), one_per_date AS (
            SELECT student_id, as_of_date, year_offset, date, attended, unexcused
            FROM days ANTI JOIN movers USING (student_id, as_of_date, year_offset)
            UNION ALL
            SELECT student_id, as_of_date, year_offset, date, bool_or(attended),
                   bool_or(unexcused)
            FROM days SEMI JOIN movers USING (student_id, as_of_date, year_offset)
            GROUP BY ALL
        )
        SELECT a.*, d.days_back
        FROM one_per_date a
        JOIN cohort c USING (student_id, as_of_date)
        LEFT JOIN instructional_days d
          ON a.year_offset = 0 AND d.district_id = c.district_id
         AND d.as_of_date = a.as_of_date AND d.date = a.date
    """


@source(tables=("attendance", "attendance_summary"))
def attendance_by_year() -> str:
    """Days enrolled and attended per student, as-of date and school year (this and
    last), pooled over schools: daily records where a school has them, else that
    school's latest known attendance summary."""
    # Days summed exactly (integers of millionths): the same in any order (3+ rows).
    return f"""
        WITH daily AS (
            SELECT student_id, as_of_date, year_offset, count(*) AS days_enrolled,
                   count(*) FILTER (WHERE attended) AS days_present
            FROM attendance_days GROUP BY ALL
        ), daily_schools AS (
            SELECT DISTINCT student_id, as_of_date, year_offset, school_id
            FROM attendance
        ), summary AS (
            SELECT s.student_id, s.as_of_date, s.year_offset, s.days_enrolled,
                   s.days_enrolled - s.days_absent AS days_present
            FROM attendance_summary s
            ANTI JOIN daily_schools d
              USING (student_id, as_of_date, year_offset, school_id)
            QUALIFY row_number() OVER (
                PARTITION BY s.student_id, s.as_of_date, s.year_offset, s.school_id
                ORDER BY s.known_date DESC, s.days_enrolled DESC, s.days_absent DESC
            ) = 1
        ), pooled AS (
            SELECT student_id, as_of_date, year_offset, days_enrolled, days_present
            FROM daily
            UNION ALL
            SELECT student_id, as_of_date, year_offset, days_enrolled, days_present
            FROM summary
        )
        SELECT p.student_id, p.as_of_date, p.year_offset,
               {micro_sum('p.days_enrolled')} / {MICRO} AS days_enrolled,
               {micro_sum('p.days_present')} / {MICRO} AS days_present,
               any_value(c.chronic_max) AS chronic_max
        FROM pooled p JOIN cohort c USING (student_id, as_of_date)
        GROUP BY ALL
    """


def rate(year_offset: int) -> str:
    """SQL: attended / enrolled days of one school year over ``attendance_by_year``."""
    days = "sum({col}) FILTER (WHERE year_offset = %d)" % year_offset
    return (
        f"{days.format(col='days_present')} / "
        f"nullif({days.format(col='days_enrolled')}, 0)"
    )


def recent(days: int) -> str:
    """SQL: attended share of the district's last ``days`` instructional days."""
    share = "avg(CASE WHEN attended THEN 1.0 ELSE 0.0 END)"
    return f"{share} FILTER (WHERE days_back <= {days})"


def chronic(year_offset: int) -> str:
    """SQL: 1 when the year's rate is at or below the district's chronic threshold."""
    return (
        f"CASE WHEN {rate(year_offset)} <= max(chronic_max) THEN 1 "
        f"WHEN {rate(year_offset)} > max(chronic_max) THEN 0 END"
    )


@feature(
    group="attendance",
    source="attendance_by_year",
    reason="Attended {value:.0%} of school days this year",
    malleable=True,
    risk_when="low",
    healthy=1.0,
    valid_range=(0.0, 1.0),
)
def attendance_rate_ytd() -> str:
    """Share of enrolled days attended this school year up to the as-of date (daily
    records, else the latest known attendance summary). Missing without records."""
    return rate(0)


@feature(
    group="attendance",
    source="attendance_by_year",
    reason="Absent {value:.0f} days this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
)
def days_absent_ytd() -> str:
    """Days absent (excused, unexcused or suspended) this school year up to the as-of
    date. Missing without attendance records."""
    return "sum(days_enrolled - days_present) FILTER (WHERE year_offset = 0)"


@feature(
    group="attendance",
    source="attendance_by_year",
    reason="Chronically absent so far this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
    valid_range=(0.0, 1.0),
)
def chronic_absence_ytd() -> str:
    """1 if the attendance rate so far this year is at or below the district's chronic
    absence threshold (90% by default), else 0. Missing without attendance records."""
    return chronic(0)


@feature(
    group="attendance",
    source="attendance_days",
    reason="Attended {value:.0%} of the last 30 school days",
    malleable=True,
    risk_when="low",
    healthy=1.0,
    valid_range=(0.0, 1.0),
)
def attendance_rate_last30() -> str:
    """Share of the district's last 30 instructional days (up to the as-of date, this
    school year) the student attended, over the days enrolled in them. Daily records
    only; missing without them or when not enrolled in the window."""
    return recent(30)


@feature(
    group="attendance",
    source="attendance_days",
    reason="Attended {value:.0%} of the last 60 school days",
    malleable=True,
    risk_when="low",
    healthy=1.0,
    valid_range=(0.0, 1.0),
)
def attendance_rate_last60() -> str:
    """As attendance_rate_last30, over the district's last 60 instructional days."""
    return recent(60)


@feature(
    group="attendance",
    source="attendance_days",
    reason="Attendance rate falling this year, about {size:.0%} lower each month",
    malleable=True,
    risk_when="low",
    healthy=0.0,
)
def attendance_trend_ytd() -> str:
    """Trend of attendance this school year: least-squares slope of attended (1/0) on
    the date, in attendance-rate points per 30 days (negative = worsening). Daily
    records only; missing with fewer than two days."""
    # The least-squares slope from exact integer sums (not regr_slope, whose parallel
    # float sums differ in the last bits between runs): the same value every run. A sum
    # of BIGINT is already a HUGEINT, exact, and cheaper than adding HUGEINTs.
    x = "date_diff('day', DATE '2000-01-01', date)"
    y = "CASE WHEN attended THEN 1 ELSE 0 END"
    n = "count(*) FILTER (WHERE year_offset = 0)"

    def total(expr: str) -> str:
        return f"sum(CAST({expr} AS BIGINT)) FILTER (WHERE year_offset = 0)"

    return (
        f"({n} * {total(f'{x} * {y}')} - {total(x)} * {total(y)}) "
        f"/ nullif({n} * {total(f'{x} * {x}')} - {total(x)} * {total(x)}, 0) * 30"
    )


@feature(
    group="attendance",
    source="attendance_days",
    reason="{value:.0%} of absences this year were unexcused",
    malleable=True,
    risk_when="high",
    healthy=0.0,
    valid_range=(0.0, 1.0),
)
def unexcused_absence_share_ytd() -> str:
    """Share of this school year's absent days that were unexcused. Daily records
    only; missing when the student has no absences (or no daily records)."""
    return (
        "count(*) FILTER (WHERE year_offset = 0 AND unexcused AND NOT attended) / "
        "nullif(count(*) FILTER (WHERE year_offset = 0 AND NOT attended), 0)"
    )
