"""Discipline and assessments (CONTRACT §1 ``discipline``, ``assessments``).

Discipline: one row per DisciplineAction × DisciplineDescriptor, dated by its
DisciplineIncident (else the DisciplineDate), with the incident's behaviours as
``incident_type`` and ActualDisciplineActionLength (else DisciplineActionLength) as
``days``. A student's incident with no action at all becomes a ``referral`` row when
the mapping marks the student's role (e.g. Perpetrator) as counting. An incident must
fall in a school year in which the student has an accepted enrollment.

Assessments: one row per StudentAssessment, with its best-ranked scale score
(``AssessmentReportingMethodDescriptor`` ranks) and highest mapped performance level.
The subject comes from AssessmentAcademicSubject, else from keywords in the
assessment's title or identifier; only ``assessments.subjects`` are written.
"""

from __future__ import annotations

from ontrack.edfi.context import ImportContext

ACTION_KEY = ["DisciplineActionIdentifier", "DisciplineDate", "StudentUSI"]
ASSESSMENT_KEY = [
    "AssessmentIdentifier", "Namespace", "StudentAssessmentIdentifier", "StudentUSI"
]
DISCIPLINE_COLUMNS = "student_id, school_id, incident_date, action, incident_type, days"
ASSESSMENT_COLUMNS = (
    "student_id, school_year, subject, scale_score, test_name, grade_level, "
    "performance_level, test_date"
)
SUBJECT_ORDER = ("ela", "math", "science", "social_science", "other")
_HEX = "[0-9a-fA-F]"
_UUID = f"^{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$"


def _incidents_sql(ctx: ImportContext) -> str:
    """Incidents with their date and behaviours joined into one text."""
    incident = ctx.rel(
        "DisciplineIncident", ["IncidentIdentifier", "SchoolId", "IncidentDate"]
    )
    behavior = ctx.rel(
        "DisciplineIncidentBehavior",
        ["IncidentIdentifier", "SchoolId", "BehaviorDescriptorId"],
    )
    behaviour_text = "coalesce(d.code_value, b.BehaviorDescriptorId)"
    return f"""
        SELECT i.IncidentIdentifier, i.SchoolId, edfi_date(i.IncidentDate) AS date,
               string_agg(DISTINCT {behaviour_text}, '; ') AS incident_type
        FROM {incident} i
        LEFT JOIN {behavior} b ON b.IncidentIdentifier = i.IncidentIdentifier
             AND b.SchoolId = i.SchoolId
        LEFT JOIN edfi_descriptor d ON d.descriptor_id = b.BehaviorDescriptorId
        GROUP BY ALL"""


def _referrals_sql(ctx: ImportContext, link: str) -> str:
    """Incidents of a counted role (e.g. Perpetrator) that no action refers to."""
    sdia = ctx.rel("StudentDisciplineIncidentAssociation", [
        "IncidentIdentifier", "SchoolId", "StudentUSI",
        "StudentParticipationCodeDescriptorId",
    ])
    ctx.use(
        "StudentParticipationCodeDescriptor",
        "StudentDisciplineIncidentAssociation",
        "StudentParticipationCodeDescriptorId",
        "an incident without action is not a referral",
    )
    role = ctx.dj(
        "StudentParticipationCodeDescriptor",
        "s.StudentParticipationCodeDescriptorId",
        "p",
    )
    return f"""
        SELECT s.StudentUSI, s.SchoolId, i.date, 'referral', i.incident_type,
               NULL::DOUBLE, 'StudentDisciplineIncidentAssociation'
        FROM {sdia} s {role}
        LEFT JOIN incidents i ON i.IncidentIdentifier = s.IncidentIdentifier
             AND i.SchoolId = s.SchoolId
        WHERE p.target = 'true' AND NOT EXISTS (
            SELECT 1 FROM {link} l
            WHERE l.StudentUSI = s.StudentUSI AND l.SchoolId = s.SchoolId
              AND l.IncidentIdentifier = s.IncidentIdentifier)"""


def write_discipline(ctx: ImportContext) -> None:
    """discipline: actions and action-less incidents (referrals), with rejections."""
    actions, link = _actions_ctes(ctx)
    year = "edfi_year_of(r.incident_date)"
    ctx.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edfi_discipline AS
        WITH incidents AS ({_incidents_sql(ctx)}),
        {actions},
        rows AS (SELECT * FROM actions UNION ALL {_referrals_sql(ctx, link)}),
        checked AS (
            SELECT r.*, CASE
                WHEN incident_date IS NULL THEN 'invalid or missing date'
                WHEN NOT {ctx.year_filter(year)} THEN 'outside --school-year'
                WHEN school_id IS NULL
                  OR school_id NOT IN (SELECT id FROM edfi_school_ids)
                    THEN 'school not in School'
                WHEN NOT EXISTS (SELECT 1 FROM edfi_enr_ok n
                                 WHERE n.student_id = r.student_id
                                   AND n.school_year = {year})
                    THEN 'no accepted enrollment of the student in that school year'
            END AS pre_reason
            FROM rows r)
        SELECT *, CASE WHEN pre_reason IS NOT NULL THEN pre_reason
            WHEN row_number() OVER (
                PARTITION BY {DISCIPLINE_COLUMNS}, pre_reason IS NULL
                ORDER BY source) > 1
            THEN 'duplicate of another action (same student, school, date, action, '
                 || 'type and days)'
            END AS reason
        FROM checked
    """)
    for source in ("DisciplineAction", "StudentDisciplineIncidentAssociation"):
        where = f"source = '{source}'"
        ctx.rejected_from("discipline", source, "edfi_discipline", where)
    ctx.write("discipline", f"""
        SELECT {DISCIPLINE_COLUMNS} FROM edfi_discipline WHERE reason IS NULL
        ORDER BY incident_date, TRY_CAST(student_id AS BIGINT), student_id, action
    """)


def _actions_ctes(ctx: ImportContext) -> tuple[str, str]:
    """The ``linked`` and ``actions`` CTEs of discipline (each action with the earliest
    incident it is linked to; needs an ``incidents`` CTE) and the link relation."""
    action = ctx.rel("DisciplineAction", [
        *ACTION_KEY, "DisciplineActionLength", "ActualDisciplineActionLength",
        "ResponsibilitySchoolId", "AssignmentSchoolId",
    ])
    kinds = ctx.rel(
        "DisciplineActionDiscipline", [*ACTION_KEY, "DisciplineDescriptorId"]
    )
    link = ctx.rel(
        "DisciplineActionStudentDisciplineIncidentAssociation",
        [*ACTION_KEY, "IncidentIdentifier", "SchoolId"],
    )
    ctx.use("DisciplineDescriptor", "DisciplineActionDiscipline", "DisciplineDescriptorId",
            "action set to other")
    on_action = " AND ".join(f"{{a}}.{c} = a.{c}" for c in ACTION_KEY)
    school = "coalesce(l.school_id, a.ResponsibilitySchoolId, a.AssignmentSchoolId)"
    length = (
        "coalesce(edfi_num(a.ActualDisciplineActionLength), "
        "edfi_num(a.DisciplineActionLength))"
    )
    ctes = f"""linked AS (
            SELECT l.DisciplineActionIdentifier, l.DisciplineDate, l.StudentUSI,
                   arg_min(l.SchoolId, i.date) AS school_id, min(i.date) AS date,
                   arg_min(i.incident_type, i.date) AS incident_type
            FROM {link} l
            LEFT JOIN incidents i ON i.IncidentIdentifier = l.IncidentIdentifier
                 AND i.SchoolId = l.SchoolId
            GROUP BY ALL),
        actions AS (
            SELECT a.StudentUSI AS student_id, {school} AS school_id,
                coalesce(l.date, edfi_date(a.DisciplineDate)) AS incident_date,
                coalesce(d.target, 'other') AS action, l.incident_type,
                {length} AS days, 'DisciplineAction' AS source
            FROM {action} a
            LEFT JOIN {kinds} k ON {on_action.format(a="k")}
            {ctx.dj("DisciplineDescriptor", "k.DisciplineDescriptorId", "d")}
            LEFT JOIN linked l ON {on_action.format(a="l")})"""
    return ctes, link


def _keyword_case(ctx: ImportContext) -> str:
    """SQL CASE giving a subject from keywords found in ``txt`` (else other)."""
    words = []
    for subject, keywords in ctx.mapping.subject_keywords:
        for word in keywords:
            pattern = "(^|[^a-z])" + word.replace("'", "''")
            words.append(f"WHEN regexp_matches(txt, '{pattern}') THEN '{subject}'")
    return f"CASE {' '.join(words)} ELSE 'other' END" if words else "'other'"


def _subject_sql(ctx: ImportContext) -> str:
    """Assessment -> test name and subject (declared, else from keywords)."""
    assessment = ctx.rel(
        "Assessment", ["AssessmentIdentifier", "Namespace", "AssessmentTitle"]
    )
    subject = ctx.rel(
        "AssessmentAcademicSubject",
        ["AssessmentIdentifier", "Namespace", "AcademicSubjectDescriptorId"],
    )
    ctx.use(
        "AcademicSubjectDescriptor",
        "AssessmentAcademicSubject",
        "AcademicSubjectDescriptorId",
        "subject set to other",
    )
    rank = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SUBJECT_ORDER))
    value = "coalesce(d.target, 'other')"
    return f"""
        WITH declared AS (
            SELECT s.AssessmentIdentifier, s.Namespace,
                   arg_min({value}, CASE {value} {rank} END) AS subject
            FROM {subject} s
            {ctx.dj("AcademicSubjectDescriptor", "s.AcademicSubjectDescriptorId", "d")}
            GROUP BY ALL),
        titled AS (
            SELECT AssessmentIdentifier, Namespace, AssessmentTitle,
                   lower(coalesce(AssessmentTitle, '') || ' '
                         || coalesce(AssessmentIdentifier, '')) AS txt
            FROM {assessment})
        SELECT t.AssessmentIdentifier, t.Namespace,
            CASE WHEN t.AssessmentIdentifier IS NULL
                   OR regexp_matches(t.AssessmentIdentifier, '{_UUID}')
                 THEN t.AssessmentTitle ELSE t.AssessmentIdentifier END AS test_name,
            coalesce(d.subject, {_keyword_case(ctx)}) AS subject
        FROM titled t LEFT JOIN declared d USING (AssessmentIdentifier, Namespace)"""


def _scores_sql(ctx: ImportContext) -> tuple[str, str]:
    """(best scale score, highest performance level) per student assessment."""
    score = ctx.rel(
        "StudentAssessmentScoreResult",
        [*ASSESSMENT_KEY, "AssessmentReportingMethodDescriptorId", "Result"],
    )
    level = ctx.rel(
        "StudentAssessmentPerformanceLevel",
        [*ASSESSMENT_KEY, "PerformanceLevelDescriptorId", "PerformanceLevelMet"],
    )
    ctx.use(
        "AssessmentReportingMethodDescriptor",
        "StudentAssessmentScoreResult",
        "AssessmentReportingMethodDescriptorId",
        "result not used as a scale score",
    )
    ctx.use(
        "PerformanceLevelDescriptor",
        "StudentAssessmentPerformanceLevel",
        "PerformanceLevelDescriptorId",
        "performance_level left blank",
    )
    method = ctx.dj(
        "AssessmentReportingMethodDescriptor",
        "r.AssessmentReportingMethodDescriptorId",
        "m",
    )
    mapped = ctx.dj("PerformanceLevelDescriptor", "l.PerformanceLevelDescriptorId", "p")
    scores = f"""
        SELECT {", ".join("r." + c for c in ASSESSMENT_KEY)},
               arg_min(edfi_num(r.Result), edfi_int(m.target)) AS scale_score
        FROM {score} r {method}
        WHERE m.target IS NOT NULL AND edfi_num(r.Result) IS NOT NULL
        GROUP BY ALL"""
    levels = f"""
        SELECT {", ".join("l." + c for c in ASSESSMENT_KEY)},
               max(edfi_int(p.target)) AS performance_level
        FROM {level} l {mapped}
        WHERE coalesce(edfi_bool(l.PerformanceLevelMet), true)
        GROUP BY ALL"""
    return scores, levels


def write_assessments(ctx: ImportContext) -> None:
    """assessments: best scale score per student assessment, rejections by reason."""
    sa = ctx.rel("StudentAssessment", [
        *ASSESSMENT_KEY, "AdministrationDate", "SchoolYear",
        "WhenAssessedGradeLevelDescriptorId",
    ])
    ctx.use("GradeLevelDescriptor", "StudentAssessment", "WhenAssessedGradeLevelDescriptorId",
            "grade_level left blank")
    scores, levels = _scores_sql(ctx)
    key = " AND ".join(f"{{a}}.{c} = sa.{c}" for c in ASSESSMENT_KEY)
    allowed = ", ".join(f"'{s}'" for s in ctx.mapping.assessment_subjects) or "NULL"
    subject = "coalesce(t.subject, 'other')"
    grade = ctx.dj("GradeLevelDescriptor", "sa.WhenAssessedGradeLevelDescriptorId", "g")
    ctx.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edfi_assessments AS
        WITH tests AS ({_subject_sql(ctx)}),
        scores AS ({scores}),
        levels AS ({levels}),
        sa AS (
            SELECT *, coalesce(edfi_int(SchoolYear),
                               edfi_year_of(edfi_date(AdministrationDate)))
                          AS school_year
            FROM {sa}),
        rows AS (
            SELECT sa.StudentUSI AS student_id, sa.school_year, t.subject,
                s.scale_score,
                coalesce(t.test_name, sa.AssessmentIdentifier) AS test_name,
                edfi_int(g.target) AS grade_level, lv.performance_level,
                edfi_date(sa.AdministrationDate) AS test_date,
                CASE WHEN sa.StudentUSI NOT IN (SELECT id FROM edfi_student_ids)
                        THEN 'StudentUSI not in Student'
                     WHEN sa.school_year IS NULL
                        THEN 'no SchoolYear or AdministrationDate'
                     WHEN NOT {ctx.year_filter("sa.school_year")}
                        THEN 'outside --school-year'
                     WHEN {subject} NOT IN ({allowed})
                        THEN 'subject not imported (' || {subject} || ')'
                     WHEN s.scale_score IS NULL THEN 'no scale score result'
                END AS pre_reason
            FROM sa
            LEFT JOIN tests t ON t.AssessmentIdentifier = sa.AssessmentIdentifier
                 AND t.Namespace IS NOT DISTINCT FROM sa.Namespace
            LEFT JOIN scores s ON {key.format(a="s")}
            LEFT JOIN levels lv ON {key.format(a="lv")}
            {grade})
        SELECT *, CASE WHEN pre_reason IS NOT NULL THEN pre_reason
            WHEN row_number() OVER (
                PARTITION BY student_id, school_year, subject, test_name, test_date,
                             pre_reason IS NULL
                ORDER BY scale_score DESC) > 1
            THEN 'another result of the same test, subject and date'
            END AS reason
        FROM rows
    """)
    ctx.rejected_from("assessments", "StudentAssessment", "edfi_assessments")
    ctx.write("assessments", f"""
        SELECT {ASSESSMENT_COLUMNS} FROM edfi_assessments WHERE reason IS NULL
        ORDER BY school_year, TRY_CAST(student_id AS BIGINT), student_id, test_date,
                 test_name
    """)
