"""Point-in-time views: each table as it was known at every as-of date of a cohort.

Leakage is prevented here, once, for every feature. ``point_in_time(con, cohort,
config)`` creates a DuckDB schema ``known`` holding one view per contract table, joined
to the cohort and clipped to the rows *known* at each row's as-of date, and points the
connection's search path at it. A feature that says ``FROM attendance`` therefore reads
``known.attendance``: the cohort's own attendance days dated on or before the as-of
date, one copy per (student_id, as_of_date), never a day after it.

One worked example, carried through this module: student 00017 is in the 9th-grade
cohort at the as-of date 2024-01-31 (school year 2024 = 2023-24, starting 2023-07-01).

Knowledge dates, table by table (a row is visible when its knowledge date <= as-of):

==================  ==============================================================
attendance          ``date``. 00017's 2024-02-01 absence is invisible on 2024-01-31.
discipline          ``incident_date``.
course_marks        ``term_end_date``; a mark without one is known at the end of its
                    school year (2024-06-30 for 2024), so S1 marks with
                    term_end_date 2024-01-19 count on 2024-01-31, an undated 2024 mark
                    does not (it does on 2024-06-30).
attendance_summary  ``period_end_date``; without one, the end of its school year.
assessments         ``test_date``; without one, the end of its school year.
enrollments         ``entry_date``; ``exit_date`` and ``exit_reason`` only when the exit
                    date is on or before the as-of date (a spell exiting 2024-03-01
                    reads as still open on 2024-01-31).
student_years       the program flags from the start of their school year; the
                    official ``gpa`` only from the end of its school year.
students            ``student_id`` and ``birth_date`` only: gender and race/ethnicity
                    are not in the schema at all, so no feature can use them.
outcomes            not readable (an error): outcomes are labels, never features;
                    ``caseloads`` likewise (rosters only).
==================  ==============================================================

A record's school year end is read on the calendar of its school's district (the
cohort row's district for tables without a school). Besides the clip, each view keeps a
bounded look-back (``LOOKBACK_YEARS``): 00017's views hold school years 2023 and 2024
(``year_offset`` 1 and 0), assessments also 2022, enrollments every earlier year.

Every view carries ``as_of_date``, ``year_offset`` (cohort school year minus the row's)
and ``known_date``. Two district-wide helper tables use other students' records, still
clipped: ``instructional_days`` (dates with any attendance in the district this school
year up to the as-of date, ``days_back`` 1 = the latest) and ``year_first_days`` (the
earliest entry date of the school year in the district, as known at the as-of date).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import duckdb
import pandas as pd

from ontrack.validation.checks import ident, year_end_sql, year_start_sql
from ontrack.config import Config, parse_month_day
from ontrack.tables import SCHEMAS

SCHEMA = "known"
# School years each view holds before the cohort's own (None: every earlier year).
LOOKBACK_YEARS: dict[str, int | None] = {
    "attendance": 1,
    "attendance_summary": 1,
    "course_marks": 1,
    "discipline": 1,
    "student_years": 1,
    "assessments": 2,
    "enrollments": None,
}
# Columns that may hold a record's date; the data end date is the latest of them.
DATED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("attendance", "date"),
    ("discipline", "incident_date"),
    ("enrollments", "entry_date"),
    ("enrollments", "exit_date"),
    ("course_marks", "term_end_date"),
    ("attendance_summary", "period_end_date"),
    ("assessments", "test_date"),
    ("outcomes", "outcome_date"),
)
COHORT_COLUMNS: tuple[str, ...] = (
    "school_year",
    "school_id",
    "district_id",
    "grade_level",
)
MAX_DAYS_BACK = 60


def data_end_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest date recorded anywhere in the data (None if nothing is dated).

    Undated year-level records (a mark without ``term_end_date``) do not extend it:
    a year whose records stop on June 10 is not known to be closed on June 30.
    """
    parts = " UNION ALL ".join(
        f"SELECT max({ident(col)}) AS d FROM main.{ident(table)}"
        for table, col in DATED_COLUMNS
    )
    value = con.execute(f"SELECT max(d) FROM ({parts})").fetchall()[0][0]
    return value


@contextmanager
def point_in_time(
    con: duckdb.DuckDBPyConnection, cohort: pd.DataFrame, config: Config
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Create the ``known`` schema for ``cohort`` and make it the search path.

    ``cohort`` is indexed (student_id, as_of_date) with the columns of
    ``COHORT_COLUMNS`` (as :func:`ontrack.dataset.cohorts.build_cohort` returns it). On exit
    the search path is reset and the schema dropped, so the connection is as before.
    """
    _drop(con)
    con.execute(f"CREATE SCHEMA {SCHEMA}")
    try:
        _create_cohort(con, cohort, config)
        _create_views(con)
        _create_helpers(con)
        con.execute(f"SET search_path = '{SCHEMA}'")
        yield con
    finally:
        con.execute("RESET search_path")
        _drop(con)


def _drop(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _create_cohort(
    con: duckdb.DuckDBPyConnection, cohort: pd.DataFrame, config: Config
) -> None:
    """``known.rules`` (thresholds per district) and ``known.cohort`` (rows + rules)."""
    _create_rules(con, config)
    frame = cohort.reset_index()[["student_id", "as_of_date", *COHORT_COLUMNS]]
    frame = frame.astype(
        {"student_id": "str", "school_id": "str", "district_id": "str"}
    )
    con.register("__ontrack_cohort", frame)
    try:
        start = year_start_sql("k.school_year", "r.start_month", "r.start_day")
        end = year_end_sql("k.school_year", "r.start_month", "r.start_day")
        con.execute(
            f"""
            CREATE TABLE {SCHEMA}.cohort AS
            SELECT k.student_id, CAST(k.as_of_date AS DATE) AS as_of_date,
                   CAST(k.school_year AS INTEGER) AS school_year, k.school_id,
                   k.district_id, CAST(k.grade_level AS INTEGER) AS grade_level,
                   {start} AS year_start, {end} AS year_end,
                   r.* EXCLUDE (district_id)
            FROM __ontrack_cohort k
            LEFT JOIN {SCHEMA}.rules r ON r.district_id = k.district_id
            """
        )
    finally:
        con.unregister("__ontrack_cohort")
    con.execute(
        f"CREATE TABLE {SCHEMA}.as_of_dates AS SELECT DISTINCT district_id, "
        "school_year, as_of_date, year_start, start_month, start_day "
        f"FROM {SCHEMA}.cohort"
    )


def _create_rules(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """``known.rules``: per district the calendar and thresholds features compare to."""
    districts = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT district_id FROM main.schools "
            "WHERE district_id IS NOT NULL"
        ).fetchall()
    ]
    con.execute(
        f"CREATE TABLE {SCHEMA}.rules (district_id VARCHAR, start_month INTEGER, "
        "start_day INTEGER, chronic_max DOUBLE, credit_unit DOUBLE, courses_required "
        "DOUBLE, df_letters VARCHAR[], failing_letters VARCHAR[], "
        "no_pass_marks VARCHAR[], core_subjects VARCHAR[])"
    )
    rows = []
    for district in districts:
        rules = config.rules_for(district)
        scale = rules.mark_scale
        month, day = parse_month_day(rules.school_year_start)
        rows.append(
            (
                district, month, day, rules.chronic_absence_max_rate, rules.credit_unit,
                rules.on_track.full_year_courses_required,
                [m.upper() for m in scale.d_or_f_letters],
                [m.upper() for m in scale.failing_letters],
                [m.upper() for m in scale.no_pass_marks],
                [s.lower() for s in rules.on_track.core_subjects],
            )
        )
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO {SCHEMA}.rules VALUES ({marks})", rows)


def _student_view(
    table: str,
    known_date: str,
    *,
    school_calendar: bool,
    select: str = "t.*",
) -> str:
    """SQL of one clipped view: the table joined to the cohort, rows known by as-of."""
    lookback = LOOKBACK_YEARS[table]
    if lookback is None:
        cohort = f"(SELECT *, 0 AS k FROM {SCHEMA}.cohort)"
        on = "t.student_id = c.student_id AND t.school_year <= c.school_year"
    else:
        cohort = (
            f"(SELECT c0.*, o.range AS k FROM {SCHEMA}.cohort c0, "
            f"range(0, {lookback + 1}) o)"
        )
        on = "t.student_id = c.student_id AND t.school_year = c.school_year - c.k"
    calendar = ""
    month, day = "c.start_month", "c.start_day"
    if school_calendar:
        calendar = (
            "LEFT JOIN main.schools s ON s.school_id = t.school_id "
            f"LEFT JOIN {SCHEMA}.rules r ON r.district_id = s.district_id"
        )
        month = f"COALESCE(r.start_month, {month})"
        day = f"COALESCE(r.start_day, {day})"
    calendar_sql = {
        "year_end": year_end_sql("t.school_year", month, day),
        "year_start": year_start_sql("t.school_year", month, day),
    }
    known_sql = known_date.format(**calendar_sql)
    return f"""
        CREATE VIEW {SCHEMA}.{ident(table)} AS
        SELECT c.as_of_date, c.school_year - t.school_year AS year_offset,
               {known_sql} AS known_date, {select.format(**calendar_sql)}
        FROM main.{ident(table)} t
        JOIN {cohort} c ON {on}
        {calendar}
        WHERE {known_sql} <= c.as_of_date
    """


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    views = (
        _student_view("attendance", "t.date", school_calendar=False),
        _student_view("discipline", "t.incident_date", school_calendar=False),
        _student_view(
            "course_marks",
            "COALESCE(t.term_end_date, {year_end})",
            school_calendar=True,
        ),
        _student_view(
            "attendance_summary",
            "COALESCE(t.period_end_date, {year_end})",
            school_calendar=True,
        ),
        _student_view(
            "assessments", "COALESCE(t.test_date, {year_end})", school_calendar=False
        ),
        _student_view(
            "enrollments",
            "t.entry_date",
            school_calendar=False,
            select=(
                "t.* REPLACE ("
                "CASE WHEN t.exit_date <= c.as_of_date THEN t.exit_date END "
                "AS exit_date, "
                "CASE WHEN t.exit_date <= c.as_of_date THEN t.exit_reason END "
                "AS exit_reason)"
            ),
        ),
        _student_view(
            "student_years",
            "{year_start}",
            school_calendar=False,
            select="t.* REPLACE "
            "(CASE WHEN {year_end} <= c.as_of_date THEN t.gpa END AS gpa)",
        ),
        f"CREATE VIEW {SCHEMA}.students AS "
        "SELECT student_id, birth_date FROM main.students",
        f"CREATE VIEW {SCHEMA}.schools AS SELECT * FROM main.schools",
    )
    for sql in views:
        con.execute(sql)
    # Tables features must never read (DuckDB would otherwise find them in main).
    for name in ("outcomes", "caseloads"):
        con.execute(
            f"CREATE VIEW {SCHEMA}.{name} AS SELECT error('{name} is not available to "
            f"features: it is not known at the as-of date') AS {name}"
        )


def _create_helpers(con: duckdb.DuckDBPyConnection) -> None:
    """District-wide calendars, clipped to each as-of date (see the module doc)."""
    con.execute(
        f"""
        CREATE TABLE {SCHEMA}.instructional_days AS
        WITH days AS (
            SELECT DISTINCT s.district_id, a.date
            FROM main.attendance a JOIN main.schools s ON s.school_id = a.school_id
        )
        SELECT q.district_id, q.as_of_date, d.date,
               row_number() OVER (PARTITION BY q.district_id, q.as_of_date
                                  ORDER BY d.date DESC) AS days_back
        FROM {SCHEMA}.as_of_dates q
        JOIN days d ON d.district_id = q.district_id
         AND d.date <= q.as_of_date AND d.date >= q.year_start
        QUALIFY days_back <= {MAX_DAYS_BACK}
        """
    )
    con.execute(
        f"""
        CREATE TABLE {SCHEMA}.year_first_days AS
        SELECT q.district_id, q.as_of_date, min(e.entry_date) AS first_day
        FROM {SCHEMA}.as_of_dates q
        JOIN main.schools s ON s.district_id = q.district_id
        JOIN main.enrollments e ON e.school_id = s.school_id
         AND e.school_year = q.school_year AND e.entry_date <= q.as_of_date
        GROUP BY ALL
        """
    )



@contextmanager
def scoped(
    con: duckdb.DuckDBPyConnection, students: pd.Series, school_years: list[int]
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Make unqualified table names read only some students' rows of some years.

    For code that clips to an as-of date by itself (the rule indicators): scoping
    changes no student's result (each student's rules read only that student's rows,
    per school year), it only spares the work on everyone else.
    """
    con.execute("DROP SCHEMA IF EXISTS scope CASCADE")
    con.execute("CREATE SCHEMA scope")
    ids = pd.DataFrame({"student_id": pd.Series(students, dtype="str").unique()})
    con.register("__ontrack_scope_ids", ids)
    try:
        con.execute("CREATE TABLE scope.ids AS SELECT * FROM __ontrack_scope_ids")
        years = ", ".join(str(int(y)) for y in school_years) or "NULL"
        for name, schema in SCHEMAS.items():
            columns = {c.name for c in (*schema.columns, *schema.derived)}
            where = []
            if "student_id" in columns:
                where.append("student_id IN (SELECT student_id FROM scope.ids)")
            if "school_year" in columns:
                where.append(f"school_year IN ({years})")
            clause = f" WHERE {' AND '.join(where)}" if where else ""
            con.execute(
                f"CREATE VIEW scope.{ident(name)} AS "
                f"SELECT * FROM main.{ident(name)}{clause}"
            )
        con.execute("SET search_path = 'scope'")
        yield con
    finally:
        con.unregister("__ontrack_scope_ids")
        con.execute("RESET search_path")
        con.execute("DROP SCHEMA IF EXISTS scope CASCADE")
