"""Attendance rate per student-year, shared by readiness and chronic absence.

Definitions (each one is a decision, also written in docs/indicators.md):

- A day counts as *attended* when its status is ``present`` or ``tardy`` (CONTRACT §1:
  tardy counts as present). ``absent_excused``, ``absent_unexcused`` and ``suspended``
  count as absent: a suspended student is not in class, and California's chronic
  absence measure also counts out-of-school suspension days as absences. Partial-day
  absences (``minutes_absent``) do not change a day's status.
- The rate covers every enrollment of the year (mobility): the days at every school
  the student attended are pooled. A date recorded at two schools (a transfer day)
  counts once, as attended if the student attended at either school.
- ``attendance_summary`` supplies days for schools without daily rows: where a school
  has daily rows for the student-year, its summary rows are ignored (daily wins);
  summaries of other schools are added. Each summary row covers its own period (an
  enrollment spell or a reporting period ending on ``period_end_date``), so several
  rows of one student-school-year are added up; a district that exports cumulative
  year-to-date snapshots must send only the latest. As of a date, only periods that
  had ended by then count: a period still running is not known yet.
- ``rate = (days_enrolled - days_absent) / days_enrolled``; no days at all means the
  rate is unknown (never 100%).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb

from ontrack.indicators.checkpoints import (
    AS_OF_TABLE,
    SCHOOL_RULES_TABLE,
    Clip,
    date_sql,
    in_years,
    known_by,
    year_end_expr,
)
from ontrack.indicators.exact import MICRO, micro_sum
from ontrack.validation.checks import literal

ATTENDED_STATUSES: tuple[str, ...] = ("present", "tardy")
ABSENT_STATUSES: tuple[str, ...] = ("absent_excused", "absent_unexcused", "suspended")
ATTENDANCE_TABLE = "_ind_att"
# The statement's intermediate results (materialised CTEs, not tables).
BY_SCHOOL = "att_by_school"  # daily records per student, school and year
OVERLAPS = "att_overlaps"  # student-years enrolled at two schools at once
WORK_TABLES = (ATTENDANCE_TABLE,)
# As of rows sharing at most this many dates, days are counted once per date, not once
# per row (``_by_school_bucketed_sql``).
_MAX_BUCKETS = 24

# "The day was attended", as SQL. An OR of equalities, not ``status IN (...)``: DuckDB
# evaluates it about 0.4 CPU-s faster per 100M daily rows (measured at 200k students).
ATTENDED_SQL = "(" + " OR ".join(f"status = {literal(s)}" for s in ATTENDED_STATUSES) + ")"


def daily_flags_sql(source: str = "attendance", as_of: date | None = None) -> str:
    """Per student, school and date: what was recorded and whether the day was attended.

    The building block of the rate, exposed so outside definitions (Ed-Fi's daily
    early-warning facts) can be checked against ours day by day.
    """
    flags = ", ".join(
        f"bool_or(status = {literal(s)}) AS {s}"
        for s in (*ATTENDED_STATUSES, *ABSENT_STATUSES)
    )
    return (
        f"SELECT student_id, school_id, date, {flags}, bool_or({ATTENDED_SQL}) AS attended "
        f"FROM {source} WHERE {known_by('date', as_of)} GROUP BY ALL"
    )


def create_attendance(
    con: duckdb.DuckDBPyConnection,
    as_of: date | Clip | None,
    school_years: Sequence[int] | None = None,
) -> None:
    """Materialise ``_ind_att``: days enrolled, days absent and source per student-year
    (and as-of date, when clipped per row), in one statement whose two intermediate
    results (``_by_school_sql``, ``_overlaps_sql``) are materialised CTEs: each is
    computed once, as the work tables they were, without a statement of its own."""
    clip = Clip.of(as_of)
    by_school = _by_school_sql(clip, school_years)
    if clip.per_row:
        dates = [d for (d,) in con.execute(
            f"SELECT DISTINCT as_of_date FROM {AS_OF_TABLE} ORDER BY 1 LIMIT {_MAX_BUCKETS + 1}"
        ).fetchall()]
        if 0 < len(dates) <= _MAX_BUCKETS:
            by_school = _by_school_bucketed_sql(dates, school_years)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {ATTENDANCE_TABLE} AS
        WITH {BY_SCHOOL} AS MATERIALIZED ({by_school}),
        {OVERLAPS} AS MATERIALIZED ({_overlaps_sql(clip, school_years)}),
        {_combine_sql(clip, school_years)}
        """
    )


def _by_school_sql(clip: Clip, school_years: Sequence[int] | None) -> str:
    """``BY_SCHOOL``: daily records counted per student, school and year."""
    return f"""
        SELECT t.student_id, t.school_id, t.school_year, {clip.key()}
               count(*) AS days,
               count(*) FILTER (WHERE NOT ({ATTENDED_SQL})) AS absent
        FROM attendance t{clip.scope('t')}
        WHERE {clip.known('t.date')} AND {in_years('t.school_year', school_years)}
        GROUP BY ALL
        """


def _by_school_bucketed_sql(dates: list[date], school_years: Sequence[int] | None) -> str:
    """``BY_SCHOOL`` per as-of row when the rows share a few dates (``dates``, sorted),
    without pairing every day with every as-of row of its student-year: each day is
    counted once, under the first of the dates on or after it, and a row's counts add
    up those under its own and earlier dates (the same integers, from a third of the
    rows at three dates). A day after every date counts for no row."""
    bucket = " ".join(f"WHEN t.date <= {date_sql(d)} THEN {date_sql(d)}" for d in dates)
    return f"""
        SELECT d.student_id, d.school_id, d.school_year, q.as_of_date,
               CAST(sum(d.days) AS BIGINT) AS days, CAST(sum(d.absent) AS BIGINT) AS absent
        FROM (
            SELECT t.student_id, t.school_id, t.school_year,
                   CASE {bucket} END AS first_as_of,
                   count(*) AS days,
                   count(*) FILTER (WHERE NOT ({ATTENDED_SQL})) AS absent
            FROM attendance t
            SEMI JOIN {AS_OF_TABLE} w
              ON w.student_id = t.student_id AND w.school_year = t.school_year
            WHERE t.date <= {date_sql(dates[-1])} AND {in_years('t.school_year', school_years)}
            GROUP BY ALL
        ) d
        JOIN {AS_OF_TABLE} q
          ON q.student_id = d.student_id AND q.school_year = d.school_year
         AND d.first_as_of <= q.as_of_date
        GROUP BY ALL
        """


def _overlaps_sql(clip: Clip, school_years: Sequence[int] | None) -> str:
    """``OVERLAPS``: student-years enrolled at two schools at once.

    Only such a student-year can hold the same date twice (validation keeps every
    attendance day inside an enrollment at its school), so only those are recounted
    date by date. Enrollments are not clipped here: an overlap only sends a student-year
    to the exact recount, which gives the same numbers where there is none.
    """
    open_end = "DATE '9999-12-31'"
    wanted = in_years('a.school_year', school_years)
    if clip.per_row:  # only the student-years asked for
        wanted += (f" AND EXISTS (SELECT 1 FROM {AS_OF_TABLE} w WHERE w.student_id = "
                   "a.student_id AND w.school_year = a.school_year)")
    return f"""
        SELECT DISTINCT a.student_id, a.school_year
        FROM enrollments a JOIN enrollments b
          ON a.student_id = b.student_id AND a.school_year = b.school_year
         AND a.school_id < b.school_id
         AND a.entry_date <= COALESCE(b.exit_date, {open_end})
         AND b.entry_date <= COALESCE(a.exit_date, {open_end})
        WHERE {wanted}
        """


def _combine_sql(clip: Clip, school_years: Sequence[int] | None) -> str:
    """The rest of the statement: daily counts (recounted by date where enrollments
    overlap) and the summaries no daily record covers, summed exactly per student-year."""
    # An undated summary is the total of its whole school year.
    summary_day = f"COALESCE(s.period_end_date, {year_end_expr('s.school_year')})"
    key = clip.key("")
    return f"""
        daily AS (
            SELECT student_id, school_year, {key}sum(days) AS days, sum(absent) AS absent
            FROM {BY_SCHOOL} a
            WHERE NOT EXISTS (SELECT 1 FROM {OVERLAPS} o
                              WHERE o.student_id = a.student_id
                                AND o.school_year = a.school_year)
            GROUP BY ALL
            UNION ALL
            SELECT student_id, school_year, {key}count(*) AS days,
                   count(*) FILTER (WHERE NOT attended) AS absent
            FROM (
                SELECT t.student_id, t.school_year, {clip.key()}t.date,
                       bool_or({ATTENDED_SQL}) AS attended
                FROM attendance t{clip.scope('t')}
                SEMI JOIN {OVERLAPS} o
                  ON o.student_id = t.student_id AND o.school_year = t.school_year
                WHERE {clip.known('t.date')}
                GROUP BY ALL
            )
            GROUP BY ALL
        ),
        summary_days AS (
            SELECT s.student_id, s.school_id, s.school_year, {clip.key()}
                   s.days_enrolled AS days, s.days_absent AS absent
            FROM attendance_summary s{clip.scope('s')}
            JOIN {SCHOOL_RULES_TABLE} r ON r.school_id = s.school_id
            WHERE {clip.known(summary_day)}
              AND {in_years('s.school_year', school_years)}
              AND NOT EXISTS (SELECT 1 FROM {BY_SCHOOL} d
                              WHERE d.student_id = s.student_id
                                AND d.school_id = s.school_id
                                AND d.school_year = s.school_year{clip.same('d', 'q')})
        )
        SELECT student_id, school_year, {key}
               -- exact sums (integers of millionths of a day): the same in any order
               {micro_sum('days')} AS days_enrolled_u, {micro_sum('absent')} AS days_absent_u,
               {micro_sum('days')} / {MICRO} AS days_enrolled,
               {micro_sum('absent')} / {MICRO} AS days_absent,
               CASE WHEN bool_or(src = 'daily') AND bool_or(src = 'summary')
                    THEN 'daily+summary' ELSE any_value(src) END AS attendance_source
        FROM (
            SELECT *, 'daily' AS src FROM daily
            UNION ALL
            SELECT student_id, school_year, {key}days, absent, 'summary' AS src
            FROM summary_days
        )
        GROUP BY ALL
        """
