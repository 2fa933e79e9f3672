"""Checks that need more than one column, and the columns ontrack derives on the way in.

For each table: the joins the checks need (the district calendar of the row's school,
the district's mark scale), reasons to reject a row, and derived columns written next
to the contract's (``school_year`` of dated events; a mark's letter and grade points).
References to other tables (unknown student, attendance outside any enrollment) are
checked later, in ``ontrack.validation``, against the rows already accepted there.
"""

from __future__ import annotations

from dataclasses import dataclass

from ontrack.validation.checks import (
    default_calendar,
    ident,
    numeric_letter_sql,
    numeric_points_sql,
    school_year_of_sql,
    typed,
    year_end_sql,
    year_start_sql,
)
from ontrack.config import Config


@dataclass(frozen=True)
class TableRules:
    """SQL fragments for one table: joins, row reasons and derived columns."""

    joins: str = ""
    reasons: tuple[str, ...] = ()
    derived: tuple[tuple[str, str], ...] = ()  # (name, expression)


CAL = "__cal"
CALENDAR_JOIN = f"LEFT JOIN school_calendar {CAL} ON {CAL}.school_id = p.{typed('school_id')}"


def _cal_year_bounds(year_col: str) -> tuple[str, str]:
    """First and last day of school year ``year_col`` by the school's calendar: what
    ``year_start_sql`` and ``year_end_sql`` give, with the calendar's year offsets read
    from ``school_calendar`` (``parents``) instead of computed in every expression."""
    month, day = f"{CAL}.start_month", f"{CAL}.start_day"
    return (f"make_date({year_col} - {CAL}.start_back, {month}, {day})",
            f"CAST(make_date({year_col} + {CAL}.end_on, {month}, {day}) - INTERVAL 1 DAY AS DATE)")


def _outside_year(column: str, year_col: str, start: str, end: str) -> str:
    val = f"p.{typed(column)}"
    return (
        f"CASE WHEN {val} IS NOT NULL AND {year_col} IS NOT NULL AND {start} IS NOT NULL "
        f"AND ({val} < {start} OR {val} > {end}) THEN "
        f"'outside_school_year[{column}]: ' || CAST({val} AS VARCHAR) || "
        f"' is outside school year ' || CAST({year_col} AS VARCHAR) || ' (' || "
        f"CAST({start} AS VARCHAR) || ' to ' || CAST({end} AS VARCHAR) || ')' END"
    )


def _date_before(later: str, earlier: str, kind: str) -> str:
    """The reason ``kind[later]: <date> is before <earlier> <date>`` when the row's
    ``later`` date comes before its ``earlier`` one (an exit before the entry)."""
    late, early = f"p.{typed(later)}", f"p.{typed(earlier)}"
    return (
        f"CASE WHEN {late} < {early} THEN '{kind}[{later}]: ' || "
        f"CAST({late} AS VARCHAR) || ' is before {earlier} ' || "
        f"CAST({early} AS VARCHAR) END"
    )


def _derived_school_year(date_col: str) -> tuple[str, str]:
    expr = school_year_of_sql(
        f"p.{typed(date_col)}", f"{CAL}.start_month", f"{CAL}.start_day"
    )
    return ("school_year", f"CAST({expr} AS INTEGER)")


def rules_for_table(table: str, config: Config, district_ids: list[str]) -> TableRules:
    """The multi-column checks and derived columns of ``table``."""
    year = f"p.{typed('school_year')}"
    start, end = _cal_year_bounds(year)
    if table == "enrollments":
        return TableRules(
            joins=CALENDAR_JOIN,
            reasons=(
                _date_before("exit_date", "entry_date", "exit_before_entry"),
                _outside_year("entry_date", year, start, end),
                _outside_year("exit_date", year, start, end),
            ),
            derived=(("__year_end", end),),
        )
    if table == "attendance":
        return TableRules(joins=CALENDAR_JOIN, derived=(_derived_school_year("date"),))
    if table == "discipline":
        return TableRules(
            joins=CALENDAR_JOIN, derived=(_derived_school_year("incident_date"),)
        )
    if table == "attendance_summary":
        enrolled, absent = f"p.{typed('days_enrolled')}", f"p.{typed('days_absent')}"
        return TableRules(
            joins=CALENDAR_JOIN,
            reasons=(
                f"CASE WHEN {absent} > {enrolled} THEN 'inconsistent[days_absent]: ' || "
                f"CAST({absent} AS VARCHAR) || ' absent days but only ' || "
                f"CAST({enrolled} AS VARCHAR) || ' enrolled' END",
                _outside_year("period_end_date", year, start, end),
            ),
        )
    if table == "course_marks":
        return _course_mark_rules(config, district_ids, year, start, end)
    if table == "assessments":
        month, day = default_calendar(config)
        a_start = year_start_sql(year, str(month), str(day))
        a_end = year_end_sql(year, str(month), str(day))
        return TableRules(reasons=(_outside_year("test_date", year, a_start, a_end),))
    if table == "interventions":
        return TableRules(reasons=(_date_before("end_date", "start_date", "end_before_start"),))
    if table == "students":
        birth = f"p.{typed('birth_date')}"
        return TableRules(
            reasons=(
                f"CASE WHEN {birth} > current_date THEN 'out_of_range[birth_date]: ' || "
                f"CAST({birth} AS VARCHAR) || ' is in the future' END",
            )
        )
    return TableRules()


def _course_mark_rules(
    config: Config, district_ids: list[str], year: str, start: str, end: str
) -> TableRules:
    """Marks must be on the district's scale: a known letter/code or a number 0-100."""
    mark = f"upper(p.{ident('mark')})"
    district = f"COALESCE({CAL}.district_id, '__default__')"
    numeric = f"TRY_CAST(p.{ident('mark')} AS DOUBLE)"
    letter_of_number = numeric_letter_sql(numeric, district, config, district_ids)
    points_of_number = numeric_points_sql(numeric, district, config, district_ids)
    # One lookup of the scale per row (a letter or code); a number's letter and points
    # come from the cut-offs, written into the SQL.
    joins = (
        f"{CALENDAR_JOIN} "
        f"LEFT JOIN mark_map __mm ON __mm.district_id = {district} AND __mm.mark = {mark}"
    )
    valid_number = f"({numeric} BETWEEN 0 AND 100)"
    reason = (
        f"CASE WHEN p.{ident('mark')} IS NOT NULL AND __mm.mark IS NULL AND NOT "
        f"COALESCE({valid_number}, FALSE) THEN 'mark_outside_scale[mark]: ''' || "
        f"p.{ident('mark')} || ''' is not a letter on the scale, a number 0-100, "
        f"or one of P/NP/I/W' END"
    )
    is_number = f"(__mm.mark IS NULL AND {valid_number})"
    derived = (
        (
            "mark_letter",
            f"CASE WHEN __mm.mark IS NOT NULL THEN __mm.letter "
            f"WHEN {is_number} THEN ({letter_of_number}) END",
        ),
        (
            "mark_points",
            f"CASE WHEN __mm.mark IS NOT NULL THEN __mm.points "
            f"WHEN {is_number} THEN ({points_of_number}) END",
        ),
        ("mark_numeric", f"CASE WHEN {is_number} THEN {numeric} END"),
    )
    return TableRules(
        joins=joins,
        reasons=(reason, _outside_year("term_end_date", year, start, end)),
        derived=derived,
    )
