"""Course performance features: GPA so far, D/F counts, core failures, marks trend.

Marks are read "as on a report card at the as-of date" (``report_card_marks``): every
final mark known by then, plus each course's latest progress mark when it is newer than
the course's last final (a course with only a Q1 mark so far counts by that mark). A
course is one course_id at one school in one school year. Letters, D/F, failing and
no-pass marks follow the district's mark scale (NP counts as an F; P, I and W are
neither). Credits and the on-track criteria come from the rule indicators
(``features/indicators.py``), so they are computed once, by the rule's own definition.
"""

from __future__ import annotations

from ontrack.dataset.featurize import feature, source
from ontrack.indicators.exact import MICRO, micro_sum

# Mean grade points of the non-missing marks: an exact integer sum over an exact count,
# divided once, so the same marks give the same double whatever order threads add them.
MEAN_POINTS = f"{micro_sum('mark_points')} / ({MICRO} * count(mark_points))"


@source(tables=("course_marks",))
def report_card_marks() -> str:
    """This and last school year's marks known at the as-of date: every final mark,
    plus each course's latest progress mark when newer than its last final, with
    D/F, failing and core-subject flags under the district's mark scale."""
    # A course's latest mark: the latest known, a final before a progress mark of the
    # same day, then the later term. The table's key (student, school, year, term,
    # course) makes it one row, found by a grouped maximum (a window over every course
    # costs several times more).
    return """
        WITH marks AS (
            SELECT * FROM course_marks
        ), latest AS (
            SELECT student_id, as_of_date, school_year, school_id, course_id,
                   max((known_date, is_final, term)) AS latest
            FROM marks GROUP BY ALL
        )
        SELECT m.student_id, m.as_of_date, m.year_offset, m.subject, m.mark_letter,
               m.mark_points, m.is_final, m.known_date,
               list_contains(c.df_letters, m.mark_letter)
                 OR list_contains(c.no_pass_marks, m.mark_letter) AS d_or_f,
               list_contains(c.failing_letters, m.mark_letter)
                 OR list_contains(c.no_pass_marks, m.mark_letter) AS failing,
               list_contains(c.core_subjects, m.subject) AS core
        FROM marks m JOIN cohort c USING (student_id, as_of_date)
        JOIN latest l
          ON l.student_id = m.student_id AND l.as_of_date = m.as_of_date
         AND l.school_year = m.school_year AND l.school_id = m.school_id
         AND l.course_id = m.course_id
        WHERE m.is_final OR (m.known_date, m.is_final, m.term) = l.latest
    """


@source(tables=("course_marks", "student_years"))
def gpa_by_year() -> str:
    """GPA per student, as-of date and school year (this and last): the district's
    official GPA once its year has ended, else the mean grade points of the report
    card marks (last year: of its final marks)."""
    # An exact mean (MEAN_POINTS): the same GPA whatever order threads add the marks in.
    return f"""
        WITH official AS (
            SELECT student_id, as_of_date, year_offset, gpa
            FROM student_years WHERE gpa IS NOT NULL
        ), marks AS (
            SELECT student_id, as_of_date, year_offset, {MEAN_POINTS} AS gpa
            FROM report_card_marks
            WHERE mark_points IS NOT NULL AND (year_offset = 0 OR is_final)
            GROUP BY ALL
        )
        SELECT * FROM official
        UNION ALL
        SELECT m.* FROM marks m
        ANTI JOIN official o USING (student_id, as_of_date, year_offset)
    """


@source(tables=("course_marks",))
def mark_postings() -> str:
    """Mean grade points of the marks posted on each date (a report card), this and
    last school year, numbered back from the latest posting known at the as-of date."""
    return f"""
        SELECT student_id, as_of_date, known_date, {MEAN_POINTS} AS points,
               row_number() OVER (PARTITION BY student_id, as_of_date
                                  ORDER BY known_date DESC) AS posting_back
        FROM course_marks
        WHERE mark_points IS NOT NULL
        GROUP BY student_id, as_of_date, known_date
    """


def count_marks(condition: str, year_offset: int = 0) -> str:
    """SQL: report-card marks of one school year meeting ``condition``."""
    return f"count(*) FILTER (WHERE year_offset = {year_offset} AND {condition})"


@feature(
    group="coursework",
    source="gpa_by_year",
    reason="GPA so far this year is {value:.2f}",
    malleable=True,
    risk_when="low",
    healthy=4.0,
    valid_range=(0.0, 5.0),
)
def gpa_ytd() -> str:
    """GPA so far this school year: mean grade points of the marks on the report card
    at the as-of date (progress marks until finals post), or the official GPA once the
    year has ended. Missing without graded marks."""
    return "max(gpa) FILTER (WHERE year_offset = 0)"


@feature(
    group="coursework",
    source="report_card_marks",
    reason="{value:.0f} D or F marks this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
)
def d_or_f_count_ytd() -> str:
    """D, F or no-pass marks on this year's report card so far (all subjects). Missing
    for a student without any marks known this or last year."""
    return count_marks("d_or_f")


@feature(
    group="coursework",
    source="report_card_marks",
    reason="{value:.0f} D or F marks in core subjects this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
)
def d_or_f_count_core_ytd() -> str:
    """D, F or no-pass marks in core subjects (ELA, math, science, social science by
    default) on this year's report card so far. Missing without marks."""
    return count_marks("d_or_f AND core")


@feature(
    group="coursework",
    source="report_card_marks",
    reason="Failing {value:.0f} core courses this year",
    malleable=True,
    risk_when="high",
    healthy=0.0,
)
def failed_core_courses_ytd() -> str:
    """Core-subject marks that are failing (F or no-pass) on this year's report card
    so far. Missing without marks."""
    return count_marks("failing AND core")


@feature(
    group="coursework",
    source="report_card_marks",
    reason="{value:.0f} marks this year so far",
    malleable=False,
)
def marks_count_ytd() -> str:
    """Marks on this year's report card so far (0 before the first marks post), so a
    model can tell "no D/F yet" early in the year from "no D/F all year"."""
    return count_marks("TRUE")


@feature(
    group="coursework",
    source="mark_postings",
    reason="Marks fell {size:.1f} grade points since the previous report card",
    malleable=True,
    risk_when="low",
    healthy=0.0,
)
def marks_trend() -> str:
    """Change in mean grade points between the two latest mark postings known at the
    as-of date (this or last school year; e.g. Q1 of 9th grade minus the end of 8th).
    Missing with fewer than two postings."""
    return (
        "max(points) FILTER (WHERE posting_back = 1) - "
        "max(points) FILTER (WHERE posting_back = 2)"
    )
