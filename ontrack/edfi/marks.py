"""Course marks (CONTRACT §1 ``course_marks``) from Grade and CourseTranscript.

* ``CourseTranscript`` rows are final, credit-bearing marks (``is_final`` true) with
  attempted and earned credits; the term comes from ``TermDescriptor``.
* ``Grade`` rows are per grading period. ``GradeTypeDescriptor`` decides: ``progress``
  grades become progress marks (``is_final`` false, term from the grading period);
  ``final`` grades become final marks only where the transcript has none for the same
  student, course, year and term (otherwise they are counted as superseded).

The course id is the state/district ``CourseCode`` (a Grade reaches it through its
section's ``CourseOffering``), so a course's progress and final marks share one id. The
subject is the course's ``AcademicSubjectDescriptor`` mapped to ela / math / science /
social_science / other.
"""

from __future__ import annotations

from ontrack.edfi.context import ImportContext

COLUMNS = (
    "student_id, school_id, school_year, term, course_id, subject, mark, is_final, "
    "course_name, term_end_date, credits_attempted, credits_earned"
)
TRANSCRIPT_COLUMNS = [
    "StudentUSI", "EducationOrganizationId", "SchoolYear", "TermDescriptorId",
    "CourseCode", "CourseEducationOrganizationId", "CourseTitle",
    "FinalLetterGradeEarned", "FinalNumericGradeEarned",
    "CourseAttemptResultDescriptorId", "AttemptedCredits", "EarnedCredits",
    "WhenTakenGradeLevelDescriptorId",
]
GRADE_COLUMNS = [
    "StudentUSI", "SchoolId", "SchoolYear", "LocalCourseCode", "SessionName",
    "SectionIdentifier", "GradingPeriodDescriptorId", "GradingPeriodSequence",
    "GradingPeriodSchoolYear", "GradeTypeDescriptorId", "LetterGradeEarned",
    "NumericGradeEarned",
]


def _mark_sql(letter: str, numeric: str, prefer_letter: bool) -> str:
    """SQL for the mark: a letter (upper case) or a number without trailing zeros."""
    value = f"edfi_num({numeric})"
    number = (
        f"CASE WHEN {value} = round({value}) "
        f"THEN CAST(CAST({value} AS BIGINT) AS VARCHAR) "
        f"ELSE CAST(round({value}, 2) AS VARCHAR) END"
    )
    text = f"upper({letter})"
    first, second = (text, number) if prefer_letter else (number, text)
    return f"coalesce({first}, {second})"


def _courses_sql(ctx: ImportContext) -> str:
    """Course code + education organization -> title and mapped subject."""
    course = ctx.rel("Course", [
        "CourseCode", "EducationOrganizationId", "CourseTitle",
        "AcademicSubjectDescriptorId",
    ])
    ctx.use(
        "AcademicSubjectDescriptor",
        "Course",
        "AcademicSubjectDescriptorId",
        "subject set to other",
    )
    return f"""
        SELECT c.CourseCode AS course_code, c.EducationOrganizationId AS org_id,
               c.CourseTitle AS title, coalesce(d.target, 'other') AS subject
        FROM {course} c
        {ctx.dj("AcademicSubjectDescriptor", "c.AcademicSubjectDescriptorId", "d")}"""


def _reconciled_year_sql(ctx: ImportContext) -> str:
    """SQL for the school year of a transcript dated after every year in the export.

    A course cannot be taken in a school year that has not happened yet in the export.
    Such a row moves to the one school year in which the student's accepted enrollment
    has the row's WhenTakenGradeLevel, if exactly one does; otherwise it keeps its year.
    Rows dated in earlier years are history and are never moved.
    """
    if not ctx.mapping.reconcile_future_transcripts:
        return "NULL::INTEGER"
    return """
        CASE WHEN stated_year > (SELECT max(school_year) FROM edfi_school_years)
              AND NOT EXISTS (SELECT 1 FROM edfi_enr_ok n
                              WHERE n.student_id = stated.StudentUSI
                                AND n.school_year = stated.stated_year)
        THEN (SELECT CASE WHEN count(DISTINCT n.school_year) = 1
                          THEN min(n.school_year) END
              FROM edfi_enr_ok n
              WHERE n.student_id = stated.StudentUSI
                AND n.grade_level = stated.taken_grade) END"""


def stage_transcripts(ctx: ImportContext) -> None:
    """Create ``edfi_marks_final``: transcript marks with their rejection reasons."""
    ct = ctx.rel("CourseTranscript", TRANSCRIPT_COLUMNS)
    session = ctx.rel(
        "Session", ["SchoolId", "SchoolYear", "TermDescriptorId", "EndDate"]
    )
    t = "CourseTranscript"
    ctx.use("TermDescriptor", t, "TermDescriptorId", "term is the code value")
    ctx.use("CourseAttemptResultDescriptor", t, "CourseAttemptResultDescriptorId",
            "no mark from the attempt result")
    ctx.use("GradeLevelDescriptor", t, "WhenTakenGradeLevelDescriptorId", "year kept as is")
    mark = _mark_sql("t.FinalLetterGradeEarned", "t.FinalNumericGradeEarned",
                     ctx.mapping.prefer_letter)
    result = ctx.dj("CourseAttemptResultDescriptor", "t.CourseAttemptResultDescriptorId", "res")
    ctx.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edfi_marks_final AS
        WITH courses AS ({_courses_sql(ctx)}),
        ends AS (
            SELECT SchoolId, edfi_int(SchoolYear) AS school_year, TermDescriptorId,
                   max(edfi_date(EndDate)) AS end_date
            FROM {session} GROUP BY ALL),
        home AS (
            SELECT student_id, school_year, arg_max(school_id, entry_date) AS school_id
            FROM edfi_enr_ok GROUP BY ALL),
        {_transcript_ctes(ctx, ct)}
        SELECT t.StudentUSI AS student_id, t.year <> t.stated_year AS reconciled,
            CASE WHEN t.at_school THEN t.EducationOrganizationId ELSE h.school_id END
                AS school_id,
            t.year AS school_year, coalesce(term.target, term.code_value) AS term,
            t.CourseCode AS course_id, coalesce(c.subject, 'other') AS subject,
            coalesce({mark}, res.target) AS mark, true AS is_final,
            coalesce(t.CourseTitle, c.title) AS course_name,
            e.end_date AS term_end_date,
            edfi_num(t.AttemptedCredits) AS credits_attempted,
            edfi_num(t.EarnedCredits) AS credits_earned,
            CASE WHEN NOT t.known THEN 'StudentUSI not in Student'
                 WHEN t.year IS NULL THEN 'invalid or missing SchoolYear'
                 WHEN NOT {ctx.year_filter("t.year")} THEN 'outside --school-year'
                 WHEN t.CourseCode IS NULL THEN 'missing CourseCode'
                 WHEN NOT t.at_school AND h.school_id IS NULL
                     THEN 'school not in the export and no enrollment that year'
                 WHEN coalesce({mark}, res.target) IS NULL THEN 'no mark'
            END AS reason
        FROM t
        {ctx.dj("TermDescriptor", "t.TermDescriptorId", "term")}
        {result}
        LEFT JOIN courses c ON c.course_code = t.CourseCode
             AND c.org_id IS NOT DISTINCT FROM t.CourseEducationOrganizationId
        LEFT JOIN home h ON h.student_id = t.StudentUSI AND h.school_year = t.year
        LEFT JOIN ends e ON e.SchoolId = t.EducationOrganizationId
             AND e.school_year = t.year AND e.TermDescriptorId = t.TermDescriptorId
    """)


def _transcript_ctes(ctx: ImportContext, ct: str) -> str:
    """The ``stated`` and ``t`` CTEs of ``stage_transcripts``: each transcript row with
    what it states (year, school, student, grade taken) and its reconciled year."""
    taken = ctx.dj("GradeLevelDescriptor", "t.WhenTakenGradeLevelDescriptorId", "w")
    return f"""stated AS (
            SELECT t.*, edfi_int(t.SchoolYear) AS stated_year,
                t.EducationOrganizationId IN (SELECT id FROM edfi_school_ids)
                    AS at_school,
                t.StudentUSI IN (SELECT id FROM edfi_student_ids) AS known,
                edfi_int(w.target) AS taken_grade
            FROM {ct} t {taken}),
        t AS (
            SELECT *, coalesce({_reconciled_year_sql(ctx)}, stated_year) AS year
            FROM stated)"""


def stage_grades(ctx: ImportContext) -> None:
    """Create ``edfi_marks_grades``: grading-period grades with rejection reasons."""
    grade = ctx.rel("Grade", GRADE_COLUMNS)
    offering = ctx.rel("CourseOffering", [
        "LocalCourseCode", "SchoolId", "SchoolYear", "SessionName", "CourseCode",
        "EducationOrganizationId", "LocalCourseTitle",
    ])
    period = ctx.rel("GradingPeriod", [
        "GradingPeriodDescriptorId", "PeriodSequence", "SchoolId", "SchoolYear",
        "EndDate",
    ])
    ctx.use("GradingPeriodDescriptor", "Grade", "GradingPeriodDescriptorId",
            "term is the code value")
    ctx.use("GradeTypeDescriptor", "Grade", "GradeTypeDescriptorId", "grade rejected")
    mark = _mark_sql(
        "g.LetterGradeEarned", "g.NumericGradeEarned", ctx.mapping.prefer_letter
    )
    period_year = "coalesce(edfi_int(g.GradingPeriodSchoolYear), g.year)"
    ctx.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edfi_marks_grades AS
        WITH courses AS ({_courses_sql(ctx)}),
        ends AS (
            SELECT GradingPeriodDescriptorId, PeriodSequence, SchoolId,
                   edfi_int(SchoolYear) AS school_year,
                   max(edfi_date(EndDate)) AS end_date
            FROM {period} GROUP BY ALL),
        g AS (
            SELECT g.*, edfi_int(g.SchoolYear) AS year,
                   g.StudentUSI IN (SELECT id FROM edfi_student_ids) AS known
            FROM {grade} g)
        SELECT g.StudentUSI AS student_id, g.SchoolId AS school_id,
            g.year AS school_year, coalesce(p.target, p.code_value) AS term,
            coalesce(o.CourseCode, g.LocalCourseCode) AS course_id,
            coalesce(c.subject, 'other') AS subject, {mark} AS mark,
            gt.target = 'final' AS is_final,
            coalesce(c.title, o.LocalCourseTitle) AS course_name,
            e.end_date AS term_end_date,
            NULL::DOUBLE AS credits_attempted, NULL::DOUBLE AS credits_earned,
            o.CourseCode IS NULL AS no_offering,
            CASE WHEN NOT g.known THEN 'StudentUSI not in Student'
                 WHEN g.year IS NULL THEN 'invalid or missing SchoolYear'
                 WHEN NOT {ctx.year_filter("g.year")} THEN 'outside --school-year'
                 WHEN gt.status = 'ignored' THEN 'grade type ignored by the mapping'
                 WHEN gt.target IS NULL THEN 'grade type not in the mapping'
                 WHEN {mark} IS NULL THEN 'no mark'
            END AS reason
        FROM g
        {ctx.dj("GradingPeriodDescriptor", "g.GradingPeriodDescriptorId", "p")}
        {ctx.dj("GradeTypeDescriptor", "g.GradeTypeDescriptorId", "gt")}
        LEFT JOIN {offering} o ON o.LocalCourseCode = g.LocalCourseCode
             AND o.SchoolId = g.SchoolId AND o.SchoolYear = g.SchoolYear
             AND o.SessionName = g.SessionName
        LEFT JOIN courses c ON c.course_code = o.CourseCode
             AND c.org_id IS NOT DISTINCT FROM o.EducationOrganizationId
        LEFT JOIN ends e ON e.GradingPeriodDescriptorId = g.GradingPeriodDescriptorId
             AND e.SchoolId = g.SchoolId AND e.school_year = {period_year}
             AND e.PeriodSequence IS NOT DISTINCT FROM g.GradingPeriodSequence
    """)
    _supersede_final_grades(ctx)


def _supersede_final_grades(ctx: ImportContext) -> None:
    """A final grade the transcript already holds for that course and term is redundant."""
    ctx.con.execute("""
        UPDATE edfi_marks_grades g
        SET reason = 'final grade superseded by CourseTranscript'
        WHERE g.reason IS NULL AND g.is_final AND EXISTS (
            SELECT 1 FROM edfi_marks_final f
            WHERE f.student_id = g.student_id AND f.course_id = g.course_id
              AND f.school_year = g.school_year AND f.term = g.term)
    """)


def _note_marks(ctx: ImportContext) -> None:
    """Notes on re-dated transcripts and on grades without a course offering."""
    moved, earliest = ctx.fetch(
        "SELECT count(*), min(school_year) FROM edfi_marks_final "
        "WHERE reconciled AND reason IS NULL"
    )[0]
    if moved:
        ctx.log.note(
            f"course_marks: {moved:,} CourseTranscript rows were dated after the "
            "export's last school year; each moved to the school year of the "
            f"student's enrollment in its WhenTakenGradeLevel (earliest: {earliest}). "
            "Set marks.reconcile_future_transcripts: false to keep the stated year."
        )
    loose = ctx.fetch(
        "SELECT count(*) FROM edfi_marks_grades WHERE reason IS NULL AND no_offering"
    )[0][0]
    if loose:
        ctx.log.note(
            f"course_marks: {loose:,} grades have no CourseOffering; their course_id "
            "is the LocalCourseCode and their subject is other."
        )


def write_course_marks(ctx: ImportContext) -> None:
    """course_marks: transcript finals + grade marks, rejections by reason."""
    stage_transcripts(ctx)
    stage_grades(ctx)
    ctx.rejected_from("course_marks", "CourseTranscript", "edfi_marks_final")
    ctx.rejected_from("course_marks", "Grade", "edfi_marks_grades")
    _note_marks(ctx)
    ctx.write("course_marks", f"""
        SELECT {COLUMNS} FROM edfi_marks_final WHERE reason IS NULL
        UNION ALL
        SELECT {COLUMNS} FROM edfi_marks_grades WHERE reason IS NULL
        ORDER BY school_year, TRY_CAST(student_id AS BIGINT), student_id, course_id,
                 is_final, term_end_date NULLS LAST, term
    """)
