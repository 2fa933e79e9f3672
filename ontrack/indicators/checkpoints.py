"""The district rules as a SQL table, the student-year population, and "as of" clipping.

Every indicator is computed either for whole school years (``as_of=None``) or as of a
checkpoint date. As of a date, a record counts only if it was *known* on that date:

- attendance days and discipline incidents: dated on or before ``as_of``;
- enrollments: entered on or before ``as_of`` (a later exit date is ignored: on the
  checkpoint the student was still enrolled);
- course marks: ``term_end_date`` on or before ``as_of``; a mark without a
  ``term_end_date`` is taken to be known at the end of its school year;
- attendance summaries: ``period_end_date`` on or before ``as_of``; a summary without a
  period end is taken to be known at the end of its school year;
- the official GPA in ``student_years`` is undated, so it is taken to be known at the end
  of its school year.

The school year of a record and its end date come from the calendar of the district the
record's school belongs to (``DistrictRules.school_year_start``).

Every rule is written once, over a :class:`Clip`: no date (whole years), one date for every
student-year, or each row's own date in the as-of table (``AS_OF_TABLE``: student_id,
school_year, as_of_date), which computes many checkpoints in one pass: each record then
counts for every as-of row of its student-year whose date it does not pass.
"""

from __future__ import annotations

from collections.abc import Sequence
import weakref
from dataclasses import dataclass
from datetime import date

import duckdb

from ontrack.config import Config, DistrictRules, parse_month_day
from ontrack.validation.checks import literal, year_end_sql

RULES_TABLE = "_ind_rules"
SCHOOL_RULES_TABLE = "_ind_school_rules"
MARK_CLASS_TABLE = "_ind_mark_class"
CORE_TABLE = "_ind_core"
POPULATION_TABLE = "_ind_pop"
# One row per student-year and as-of date to compute (the one-pass checkpoints).
AS_OF_TABLE = "_ind_as_of"
# Kept on the connection between calls (they do not depend on the date): see
# ``create_rules_table``.
RULE_TABLES = (RULES_TABLE, SCHOOL_RULES_TABLE, MARK_CLASS_TABLE, CORE_TABLE)
# Dropped after each computation.
WORK_TABLES = (POPULATION_TABLE, AS_OF_TABLE)
# The values each open connection's rule tables were last filled with.
_FILLED: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, tuple] = (
    weakref.WeakKeyDictionary()
)

_RULE_COLUMNS = (
    ("district_id", "VARCHAR"),
    ("start_month", "INTEGER"),
    ("start_day", "INTEGER"),
    ("gpa_min", "DOUBLE"),
    ("attendance_min", "DOUBLE"),
    ("max_df", "INTEGER"),
    ("max_suspensions", "INTEGER"),
    ("credits_required", "DOUBLE"),
    ("max_core_fs", "INTEGER"),
    ("chronic_max", "DOUBLE"),
    ("credit_unit", "DOUBLE"),
)
_MARK_CLASS_COLUMNS = (
    ("district_id", "VARCHAR"),
    ("letter", "VARCHAR"),
    ("is_df", "BOOLEAN"),
    ("is_failing", "BOOLEAN"),
    ("is_graded", "BOOLEAN"),
    ("is_passing", "BOOLEAN"),
)


def date_sql(value: date) -> str:
    """A SQL DATE literal."""
    return f"DATE {literal(value.isoformat())}"


@dataclass(frozen=True)
class Clip:
    """Which records count: all of each school year (neither field), those known on
    ``day``, or, with ``per_row``, those known on each row's own date of ``AS_OF_TABLE``
    (joined as ``q`` on student and school year; its ``as_of_date`` becomes a key of
    every table the rules build)."""

    day: date | None = None
    per_row: bool = False

    @classmethod
    def of(cls, as_of: date | Clip | None) -> Clip:
        """``as_of`` as a clip (a date, or None for whole years)."""
        return as_of if isinstance(as_of, Clip) else cls(day=as_of)

    @property
    def dated(self) -> bool:
        """Whether records are clipped to a date at all."""
        return self.per_row or self.day is not None

    def known(self, column: str) -> str:
        """Predicate: the record dated by ``column`` was known on the as-of date."""
        if self.per_row:
            return f"{column} <= q.as_of_date"
        return "TRUE" if self.day is None else f"{column} <= {date_sql(self.day)}"

    def value(self, alias: str = "q") -> str:
        """SQL: the as-of date (``alias`` holds the column when per row)."""
        if self.per_row:
            return f"{alias}.as_of_date"
        return "CAST(NULL AS DATE)" if self.day is None else date_sql(self.day)

    def scope(self, alias: str) -> str:
        """SQL: the join of a table aliased ``alias`` to its student-year's as-of rows."""
        if not self.per_row:
            return ""
        return (f" JOIN {AS_OF_TABLE} q ON q.student_id = {alias}.student_id "
                f"AND q.school_year = {alias}.school_year")

    def key(self, alias: str = "q") -> str:
        """SQL: the as-of date as a leading select/group key (``alias.as_of_date, ``)."""
        if not self.per_row:
            return ""
        return f"{alias}.as_of_date, " if alias else "as_of_date, "

    def same(self, left: str, right: str) -> str:
        """SQL: a join condition matching the as-of dates of two per-row tables."""
        return f" AND {left}.as_of_date = {right}.as_of_date" if self.per_row else ""


def known_by(column: str, as_of: date | None) -> str:
    """Predicate: the record dated by ``column`` was known on ``as_of`` (TRUE if none)."""
    return Clip.of(as_of).known(column)


def in_years(column: str, school_years: Sequence[int] | None) -> str:
    """Predicate: ``column`` is one of ``school_years`` (TRUE when no years are given)."""
    if school_years is None:
        return "TRUE"
    wanted = ", ".join(str(int(y)) for y in school_years) or "NULL"
    return f"{column} IN ({wanted})"


def year_end_expr(year: str, rules_alias: str = "r") -> str:
    """Last day of school year ``year`` in the calendar of the joined rules row."""
    return year_end_sql(year, f"{rules_alias}.start_month", f"{rules_alias}.start_day")


def school_year_of(rules: DistrictRules, day: date) -> int:
    """The school year (the calendar year in which it ends) that ``day`` falls in."""
    month, dom = parse_month_day(rules.school_year_start)
    if (month, dom) == (1, 1):
        return day.year
    return day.year + 1 if (day.month, day.day) >= (month, dom) else day.year


def checkpoint_dates(rules: DistrictRules, school_year: int) -> list[date]:
    """The as-of dates of ``school_year`` (CONTRACT §3: default Oct 31, Jan 31, Jun 30).

    Each configured month-day is placed in the school year that contains it, so with a
    Jul 1 start ``10-31`` of school year 2024 is 2023-10-31 and ``01-31`` is 2024-01-31.
    """
    start, end = rules.year_start(school_year), rules.year_end(school_year)
    found = []
    for item in rules.checkpoints:
        month, dom = parse_month_day(item)
        for year in (start.year, end.year):
            try:
                candidate = date(year, month, dom)
            except ValueError:  # 02-29 in a year without it
                continue
            if start <= candidate <= end:
                found.append(candidate)
                break
    return sorted(set(found))


def _rules_row(district_id: str, rules: DistrictRules) -> tuple:
    month, dom = parse_month_day(rules.school_year_start)
    return (
        district_id,
        month,
        dom,
        rules.readiness.gpa_min,
        rules.readiness.attendance_min,
        rules.readiness.max_d_or_f_ela_math,
        rules.readiness.max_suspensions,
        rules.on_track.full_year_courses_required * rules.credit_unit,
        rules.on_track.max_core_semester_fs,
        rules.chronic_absence_max_rate,
        rules.credit_unit,
    )


def create_rules_table(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Per-district rule tables: thresholds, per-school copy, mark classes, core subjects.

    The SQL of every rule joins these on the district of the school a record belongs
    to (its overrides, else the default rules), so one query serves a directory holding
    several districts. The schools are read once and every table is filled from Python
    values in one statement each (a join or an ``executemany`` costs several times more
    on the small tables these are). They do not depend on the as-of date: a connection
    keeps them (``RULE_TABLES``), and a later call whose schools and rules give the same
    values, checked value by value, reuses them.
    """
    schools = con.execute(
        "SELECT school_id, district_id FROM schools WHERE district_id IS NOT NULL"
    ).fetchall()
    districts = sorted({district for _, district in schools})
    rules = {d: _rules_row(d, config.rules_for(d)) for d in districts}
    core = [
        (d, subject.lower())
        for d in districts
        for subject in config.rules_for(d).on_track.core_subjects
    ]
    tables = (
        (RULES_TABLE, _RULE_COLUMNS, list(rules.values())),
        (SCHOOL_RULES_TABLE, (("school_id", "VARCHAR"), *_RULE_COLUMNS),
         [(school, *rules[district]) for school, district in schools]),
        (MARK_CLASS_TABLE, _MARK_CLASS_COLUMNS,
         [row for d in districts for row in _mark_classes(d, config.rules_for(d))]),
        (CORE_TABLE, (("district_id", "VARCHAR"), ("subject", "VARCHAR")), core),
    )
    content = tuple(tuple(rows) for _, _, rows in tables)
    if _FILLED.get(con) == content and _rule_tables_exist(con):
        return
    _FILLED.pop(con, None)
    for name, columns, rows in tables:
        _fill(con, name, columns, rows)
    _FILLED[con] = content


def _rule_tables_exist(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection still holds every rule table (a caller may have dropped
    them, or rolled back the transaction that made them); a query naming them all is
    the cheapest check (the catalog functions cost several times more)."""
    try:
        con.execute(f"SELECT NULL FROM {', '.join(RULE_TABLES)} LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def _fill(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[tuple[str, str]],
          rows: list[tuple]) -> None:
    """(Re)create temp table ``table`` with ``columns`` holding ``rows``, in one statement:
    the values are bound as parameters, so each keeps its Python value exactly."""
    cols = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in columns)
    names = ", ".join(name for name, _ in columns)
    if not rows:
        nulls = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {nulls} WHERE FALSE")
        return
    row = "(" + ", ".join("?" for _ in columns) + ")"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {cols} "
        f"FROM (VALUES {', '.join(row for _ in rows)}) AS v({names})",
        [value for values in rows for value in values],
    )


def _mark_classes(district_id: str, rules: DistrictRules) -> list[tuple]:
    """(district, letter, is D/F, is failing, is graded, is passing) for every mark letter.

    A no-pass mark (NP) fails the course, so it is both a D/F and a failing mark. I and
    W are not grades: they neither fail nor show that a subject was taken.
    """
    scale = rules.mark_scale
    upper = lambda marks: {m.upper() for m in marks}
    no_pass, non_grade = upper(scale.no_pass_marks), upper(scale.non_grade_marks)
    df = upper(scale.d_or_f_letters) | no_pass
    failing = upper(scale.failing_letters) | no_pass
    letters = {m.upper().rstrip("+-") or m.upper() for m in scale.letter_points}
    letters |= upper(scale.numeric_cutoffs) | upper(scale.pass_marks) | no_pass | non_grade
    letters.add("F")
    return [
        (district_id, letter, letter in df, letter in failing, letter not in non_grade,
         letter not in failing and letter not in non_grade)
        for letter in sorted(letters)
    ]


def create_population(
    con: duckdb.DuckDBPyConnection,
    as_of: date | Clip | None,
    school_years: Sequence[int] | None,
) -> None:
    """Every student-year with an enrollment, placed at one school and grade.

    Rule: the school and grade of a student-year are those of the *last* enrollment
    of that year (latest entry date; on a tie, the longer spell, then the smaller
    school_id so the choice is deterministic). A mover who ends the year at another
    school is counted at the school where the year ended, which is where a counselor
    can still act. ``n_schools`` counts the distinct schools the student attended in
    the year. As of a date, only enrollments entered by then count.
    """
    clip = Clip.of(as_of)
    # On the same entry day the spell that ends later is the longer one (an open spell
    # the longest); "last" = the smallest (-entry, -end, school_id), in one pass.
    span_end = "COALESCE(e.exit_date, DATE '9999-12-31')"
    if clip.dated:
        span_end = f"least({span_end}, {clip.value()})"
    where = f"{clip.known('e.entry_date')} AND {in_years('e.school_year', school_years)}"
    # Distinct schools are counted only for the few who moved (cheaper than counting
    # distinct values for everyone); one statement (planning one costs more than its rows
    # on a small district).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {POPULATION_TABLE} AS
        WITH known AS NOT MATERIALIZED (
            SELECT e.student_id, e.school_year, {clip.key()}e.school_id, e.grade_level,
                   e.entry_date, {span_end} AS span_end
            FROM enrollments e{clip.scope('e')}
            WHERE {where}
        ),
        p AS (
            SELECT student_id, school_year, {clip.key('')}
                   arg_min({{'school_id': school_id, 'grade_level': grade_level}},
                           (-epoch(entry_date), -epoch(span_end), school_id)) AS last,
                   CASE WHEN min(school_id) = max(school_id) THEN 1 END AS n_schools
            FROM known
            GROUP BY ALL
        ),
        moved AS (
            SELECT k.student_id, k.school_year, {clip.key('k')}
                   count(DISTINCT k.school_id) AS n
            FROM known k
            SEMI JOIN p ON p.student_id = k.student_id AND p.school_year = k.school_year
                 {clip.same('p', 'k')} AND p.n_schools IS NULL
            GROUP BY ALL
        )
        SELECT p.student_id, p.school_year, {clip.key('p')}p.last.school_id, r.district_id,
               p.last.grade_level,
               CAST(COALESCE(p.n_schools, m.n) AS INTEGER) AS n_schools
        FROM p
        JOIN {SCHOOL_RULES_TABLE} r ON r.school_id = p.last.school_id
        LEFT JOIN moved m ON m.student_id = p.student_id AND m.school_year = p.school_year
             {clip.same('m', 'p')}
        """
    )
