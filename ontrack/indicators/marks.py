"""Course-mark criteria per student-year: GPA, D/F in ELA and math, credits, semester Fs.

Which marks count (decisions, also written in docs/indicators.md):

- For whole school years only *final* marks (``is_final``) count; quarter and other
  progress marks never do.
- As of a checkpoint, a course that has no final mark known yet is represented by its
  latest progress mark known by then (its "mark so far"), so that readiness "so far in
  8th grade" is not unknown for every student until June. Credits are only ever taken
  from final marks: a course earns its credit when it ends.
- Marks are identified per student, school year, school and course.

Criteria:

- **GPA from marks**: the mean of the grade points of the counted marks, weighted by
  ``credits_attempted`` when it is positive, else by the term's share of a full-year
  course times the credit unit (Y = 1, S* = 1/2, T* = 1/3, Q* = 1/4, other = 1/2), so
  a year-long course weighs as much as its two semesters. P/NP/I/W marks carry no
  points and are left out. No graded mark means the GPA is unknown. Sums are exact
  (integers of millionths) and the GPA is rounded once, half away from zero, to 6
  decimals (``ontrack.indicators.exact``), so it never depends on the thread count.
- **D/F in ELA or math**: counted marks in ``ela`` or ``math`` whose base letter is in
  the district's ``d_or_f_letters``, or that are a no-pass mark (NP fails the course,
  so it counts as an F). P, I and W are neither. The criterion is known only when the
  student-year has at least one counted ELA mark *and* one counted math mark other
  than I or W (or already fails); otherwise it is unknown, because a missing mark
  could be a D or F.
- **Semester Fs in core subjects**: counted marks in the district's core subjects whose
  letter is failing (``failing_letters``) or no-pass. A final mark with term ``Y``
  counts as two semester marks; any other counted mark counts as one. Known when at
  least one core mark other than I or W was counted (or the limit is exceeded).
- **Credits earned**: the sum over final marks of ``credits_earned``; when it is
  missing, ``credits_attempted`` if the mark passes (not failing, no-pass, I or W),
  else 0. A final mark with neither column leaves the sum incomplete: the criterion is
  met if the known credits already reach the target, otherwise unknown. Only credits
  of the school year itself count (Chicago's freshman on-track looks at the 9th-grade
  year).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb

from ontrack.indicators.checkpoints import (
    CORE_TABLE,
    MARK_CLASS_TABLE,
    SCHOOL_RULES_TABLE,
    Clip,
    in_years,
    year_end_expr,
)
from ontrack.indicators.exact import MICRO, micro, micro_sum, rounded_ratio

MARKS_TABLE = "_ind_marks"

# A term's share of a full-year course, in twelfths (exact: a third is 4/12).
_TERM_TWELFTHS = (
    "CASE WHEN term = 'Y' THEN 12 WHEN term LIKE 'S%' THEN 6 "
    "WHEN term LIKE 'T%' THEN 4 WHEN term LIKE 'Q%' THEN 3 ELSE 6 END"
)


def create_marks(
    con: duckdb.DuckDBPyConnection,
    as_of: date | Clip | None,
    school_years: Sequence[int] | None = None,
) -> None:
    """Materialise ``_ind_marks``: the mark-based criterion values per student-year
    (and as-of date, when clipped per row).

    Each mark's letter is classified by a join on the district's mark classes
    (``checkpoints.MARK_CLASS_TABLE``): a letter not on the scale counts as a graded,
    passing, non-failing mark.
    """
    clip = Clip.of(as_of)
    weight = micro(
        f"CASE WHEN credits_attempted > 0 THEN credits_attempted * 12 "
        f"ELSE credit_unit * ({_TERM_TWELFTHS}) END"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {MARKS_TABLE} AS
        -- not materialised: read again by each of its uses, it costs less CPU and far
        -- less memory than the stored rows (measured: as of 3 dates at 20k students,
        -- 0.46 CPU-s and 70 MB against 1.1 CPU-s and 200 MB)
        WITH known AS NOT MATERIALIZED ({_known_marks_sql(clip, school_years)}),
        {_finals_on_sql(clip)}
        counted AS (
            SELECT * FROM known WHERE is_final
            {_stand_in_sql(clip)}
        ),
        valued AS (
            -- the letter's classes are joined here, to the counted marks only (one
            -- (district, letter) row each): planned once, not in each use of ``known``
            SELECT k.*,
                   COALESCE(c.is_df, FALSE) AS is_df,
                   COALESCE(c.is_failing, FALSE) AS is_failing,
                   COALESCE(c.is_graded, TRUE) AS is_graded,
                   -- the weight in millionths of twelfths of a credit: an integer
                   {weight} AS weight, {micro('points')} AS points_u,
                   CASE WHEN credits_earned IS NOT NULL THEN credits_earned
                        WHEN credits_attempted IS NOT NULL
                        THEN CASE WHEN COALESCE(c.is_passing, TRUE) THEN credits_attempted
                                  ELSE 0 END
                   END AS earned
            FROM counted k
            LEFT JOIN {MARK_CLASS_TABLE} c
              ON c.district_id = k.district_id AND c.letter = k.letter
        )
        {_criteria_sql(clip)}
        """
    )


def _known_marks_sql(clip: Clip, school_years: Sequence[int] | None) -> str:
    """Every mark known at the as-of date (whole years: finals only), with its subject's
    kind, its district and letter (to classify it once counted) and the school's credit
    unit."""
    known_on = f"COALESCE(m.term_end_date, {year_end_expr('m.school_year', 'sc')})"
    finals_only = ""
    if not clip.dated:  # whole years: finals only, and no need to date the marks
        known_on, finals_only = "CAST(NULL AS DATE)", "AND m.is_final"
    return f"""
            SELECT m.student_id, m.school_year, {clip.key()}m.school_id, m.course_id,
                   upper(trim(m.term)) AS term, m.is_final, m.mark_points AS points,
                   m.credits_attempted, m.credits_earned, {known_on} AS known_on,
                   lower(m.subject) IN ('ela', 'math') AS ela_math,
                   lower(m.subject) AS subject,
                   k.subject IS NOT NULL AS core,
                   sc.district_id, upper(m.mark_letter) AS letter,
                   sc.credit_unit
            FROM course_marks m{clip.scope('m')}
            JOIN {SCHOOL_RULES_TABLE} sc ON sc.school_id = m.school_id
            LEFT JOIN {CORE_TABLE} k
              ON k.district_id = sc.district_id AND k.subject = lower(m.subject)
            WHERE {clip.known(known_on) if clip.dated else 'TRUE'} {finals_only}
              AND {in_years('m.school_year', school_years)}
        """


def _finals_on_sql(clip: Clip) -> str:
    """As of a checkpoint, the CTE ``finals_on``: the day each course's first final
    known by (one of) the as-of date(s) became known, one row per course. A course
    has a final as of a date iff that day is on or before it; looked up per course,
    this costs far less than matching every progress mark with the finals known at
    each date (200k students, 3 dates: 800 MB peak instead of 1,060)."""
    if not clip.dated:
        return ""
    return """finals_on AS (
            SELECT student_id, school_year, school_id, course_id, min(known_on) AS final_on
            FROM known WHERE is_final
            GROUP BY ALL
        ),"""


def _stand_in_sql(clip: Clip) -> str:
    """As of a checkpoint, a course with no final yet (``finals_on``) is represented by
    its latest progress mark (its mark so far): rows to add to the finals of ``known``."""
    if not clip.dated:
        return ""
    return f"""
            UNION ALL
            SELECT p.* FROM known p
            LEFT JOIN finals_on f
              ON f.student_id = p.student_id AND f.school_year = p.school_year
             AND f.school_id = p.school_id AND f.course_id = p.course_id
            WHERE NOT p.is_final AND (f.final_on IS NULL OR f.final_on > {clip.value('p')})
            QUALIFY row_number() OVER (
                PARTITION BY {clip.key('p')}p.student_id, p.school_year, p.school_id,
                             p.course_id
                ORDER BY p.known_on DESC, p.term DESC) = 1
        """


def _criteria_sql(clip: Clip) -> str:
    """The per student-year criterion values from the ``valued`` marks."""
    keys = f"student_id, school_year, {clip.key('')}"
    # The GPA's two sums are taken once, below, and divided above: written inside the
    # ratio, each sum would be bound again wherever the ratio repeats it (planning a
    # small district's marks cost more than reading them).
    gpa = rounded_ratio("gpa_num", "gpa_den", 6)
    return f"""
        SELECT {keys}{gpa} AS gpa_marks, * EXCLUDE ({keys}gpa_num, gpa_den)
        FROM (
        -- count_if and CASE inside sum, not FILTER clauses: the same numbers, and
        -- about 0.4 CPU-s less per 10M marks (measured at 200k students).
        SELECT {keys}
               -- exact integer sums (any order, any thread count: the same GPA),
               -- rounded once, half away from zero, to 6 decimals
               sum(CAST(points_u AS HUGEINT) * weight) AS gpa_num,
               {MICRO} * sum(CASE WHEN points IS NOT NULL THEN weight END) AS gpa_den,
               count_if(subject = 'ela' AND is_graded) AS n_ela,
               count_if(subject = 'math' AND is_graded) AS n_math,
               count_if(ela_math AND is_df) AS df_ela_math,
               count_if(core AND is_graded) AS n_core,
               COALESCE(sum(CASE WHEN core AND is_failing
                                 THEN CASE WHEN term = 'Y' AND is_final THEN 2 ELSE 1 END
                            END), 0) AS core_semester_fs,
               count_if(is_final) AS n_final,
               {micro_sum('CASE WHEN is_final THEN earned END')} / {MICRO} AS credits_known,
               count_if(is_final AND earned IS NULL) AS credits_missing,
               count_if(NOT is_final) AS progress_marks_used
        FROM valued
        GROUP BY ALL
        )
        """
