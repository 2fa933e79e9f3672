"""Enrollment and mobility features: school moves, days enrolled, late entry, age for
grade, retention; and the program flags (off unless the config allows them).

Enrollment spells are those entered by the as-of date; an exit is seen only once it
has happened (``ontrack.dataset.asof``). Every cohort member has a spell this year, so the
this-year features are never missing; prior-year ones are missing for a student the
district did not enroll last year (new to the district, or before the data starts).
"""

from __future__ import annotations

from ontrack.dataset.featurize import feature, source


@source(tables=("enrollments",))
def enrollment_spells() -> str:
    """Every enrollment spell entered by the as-of date (this and earlier school
    years), with the cohort row's grade, the first day of its school year and the
    student's birth date."""
    return """
        SELECT e.student_id, e.as_of_date, e.year_offset, e.school_id, e.grade_level,
               e.entry_date, e.exit_date, c.grade_level AS cohort_grade, c.year_start,
               f.first_day, s.birth_date
        FROM enrollments e
        JOIN cohort c USING (student_id, as_of_date)
        LEFT JOIN year_first_days f
          ON f.district_id = c.district_id AND f.as_of_date = e.as_of_date
        LEFT JOIN students s ON s.student_id = e.student_id
    """


def moves(year_offset: int) -> str:
    """SQL: spells entered in one school year after the first; NULL if none."""
    spells = f"count(*) FILTER (WHERE year_offset = {year_offset})"
    return f"CASE WHEN {spells} > 0 THEN {spells} - 1 END"


@feature(
    group="enrollment",
    source="enrollment_spells",
    reason="Changed schools {value:.0f} times this year",
    malleable=False,
    risk_when="high",
    healthy=0.0,
)
def school_moves_ytd() -> str:
    """School changes this school year up to the as-of date: enrollment spells entered
    after the year's first (mid-year moves and re-entries)."""
    return moves(0)


@feature(
    group="enrollment",
    source="enrollment_spells",
    reason="Enrolled {value:.0f} days this year",
    malleable=False,
)
def days_enrolled_ytd() -> str:
    """Calendar days enrolled in the district this school year up to the as-of date,
    summed over spells (a spell runs from entry to exit, or to the as-of date)."""
    return (
        "sum(date_diff('day', greatest(entry_date, year_start), "
        "least(COALESCE(exit_date, as_of_date), as_of_date)) + 1) "
        "FILTER (WHERE year_offset = 0)"
    )


@feature(
    group="enrollment",
    source="enrollment_spells",
    reason="Entered school {value:.0f} days after the year began",
    malleable=False,
    risk_when="high",
    healthy=0.0,
)
def late_entry_days() -> str:
    """Days between the district's first entry date of the school year (as known at
    the as-of date) and the student's first entry this year; 0 = from the start."""
    first_entry = "min(entry_date) FILTER (WHERE year_offset = 0)"
    return f"date_diff('day', any_value(first_day), {first_entry})"


@feature(
    group="enrollment",
    source="enrollment_spells",
    reason="Over age for the grade: {value:.1f} years past the usual age",
    malleable=False,
    risk_when="high",
    healthy=1.0,
)
def age_for_grade() -> str:
    """Age in years on the first day of the school year minus the typical age (grade +
    5); about 0 to 1 is on age, above 1 overage. Missing without a birth date."""
    return (
        "date_diff('day', any_value(birth_date), any_value(year_start)) / 365.25 "
        "- (any_value(cohort_grade) + 5)"
    )


@feature(
    group="enrollment",
    source="enrollment_spells",
    reason="Repeated a grade",
    malleable=False,
    risk_when="high",
    healthy=0.0,
    valid_range=(0.0, 1.0),
)
def retained() -> str:
    """1 if an earlier school year's enrollment was in the same or a higher grade than
    now (a repeated grade), else 0. Missing without earlier enrollments."""
    return (
        "CASE WHEN bool_or(year_offset > 0) THEN max(CASE WHEN year_offset > 0 "
        "AND grade_level >= cohort_grade THEN 1 ELSE 0 END) END"
    )


def flag(column: str) -> str:
    """SQL: this school year's program flag as 1/0 (NULL when not recorded)."""
    return f"max(CAST({column} AS INTEGER)) FILTER (WHERE year_offset = 0)"


@feature(
    group="enrollment",
    source="student_years",
    reason="English learner",
    malleable=False,
    program_flag=True,
    valid_range=(0.0, 1.0),
)
def english_learner() -> str:
    """1 if an English learner this school year. A program flag: used only when
    features.include_program_flags is on."""
    return flag("english_learner")


@feature(
    group="enrollment",
    source="student_years",
    reason="Student with a disability",
    malleable=False,
    program_flag=True,
    valid_range=(0.0, 1.0),
)
def students_with_disabilities() -> str:
    """1 if a student with a disability this school year. A program flag: used only
    when features.include_program_flags is on."""
    return flag("students_with_disabilities")


@feature(
    group="enrollment",
    source="student_years",
    reason="Socioeconomically disadvantaged",
    malleable=False,
    program_flag=True,
    valid_range=(0.0, 1.0),
)
def socioeconomically_disadvantaged() -> str:
    """1 if socioeconomically disadvantaged this school year. A program flag: used
    only when features.include_program_flags is on."""
    return flag("socioeconomically_disadvantaged")
