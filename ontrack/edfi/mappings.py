"""Schools, students, enrollments and student-year flags from Ed-Fi (CONTRACT §1).

Each ``write_*`` function maps one contract table with one SQL statement over the
source views, writes ``dest/<table>.csv`` and records its rejections. Enrollments are
staged first in ``edfi_enr`` (every enrollment-year with its rejection reason, if any)
because attendance, discipline, marks and the student-year flags all hang off the
accepted enrollments, ``edfi_enr_ok``.
"""

from __future__ import annotations

from ontrack.edfi.context import ImportContext

ORDER_STUDENT = "TRY_CAST(student_id AS BIGINT), student_id"
SEOA = "StudentEducationOrganizationAssociation"


def write_schools(ctx: ImportContext) -> None:
    """schools: School + EducationOrganization names, LEA, category, county."""
    school = ctx.rel("School", ["SchoolId", "LocalEducationAgencyId"])
    org = ctx.rel(
        "EducationOrganization",
        ["EducationOrganizationId", "NameOfInstitution", "ShortNameOfInstitution"],
    )
    cat = ctx.rel("SchoolCategory", ["SchoolId", "SchoolCategoryDescriptorId"])
    addr = ctx.rel(
        "EducationOrganizationAddress", ["EducationOrganizationId", "NameOfCounty"]
    )
    ctx.use(
        "SchoolCategoryDescriptor",
        "SchoolCategory",
        "SchoolCategoryDescriptorId",
        "school_level set to other",
    )
    unnamed = ctx.fetch(f"""
        SELECT count(*) FROM {school} s
        LEFT JOIN {org} o ON o.EducationOrganizationId = s.SchoolId
        WHERE o.NameOfInstitution IS NULL""")[0][0]
    if unnamed:
        ctx.log.note(
            f"schools: {unnamed} schools have no EducationOrganization name; "
            "school_name is 'School <SchoolId>'."
        )
    level = "coalesce(d.target, 'other')"
    ctx.write("schools", f"""
        WITH levels AS (
            SELECT c.SchoolId,
                CASE WHEN count(DISTINCT {level}) > 1 THEN 'combined'
                     ELSE min({level}) END AS school_level
            FROM {cat} c
            {ctx.dj("SchoolCategoryDescriptor", "c.SchoolCategoryDescriptorId", "d")}
            WHERE coalesce(d.status, '') <> 'ignored' GROUP BY 1),
        county AS (SELECT EducationOrganizationId, min(NameOfCounty) AS county
                   FROM {addr} GROUP BY 1)
        SELECT DISTINCT s.SchoolId AS school_id,
            coalesce(o.NameOfInstitution, o.ShortNameOfInstitution,
                     'School ' || s.SchoolId) AS school_name,
            coalesce(s.LocalEducationAgencyId, s.SchoolId) AS district_id,
            lea.NameOfInstitution AS district_name,
            l.school_level, c.county
        FROM {school} s
        LEFT JOIN {org} o ON o.EducationOrganizationId = s.SchoolId
        LEFT JOIN {org} lea ON lea.EducationOrganizationId = s.LocalEducationAgencyId
        LEFT JOIN levels l ON l.SchoolId = s.SchoolId
        LEFT JOIN county c ON c.EducationOrganizationId = s.SchoolId
        WHERE s.SchoolId IS NOT NULL
        ORDER BY TRY_CAST(school_id AS BIGINT), school_id
    """)


def write_students(ctx: ImportContext) -> None:
    """students: Student + the education-organization associations' sex and races."""
    student = ctx.rel("Student", ["StudentUSI", "BirthDate", "BirthSexDescriptorId"])
    seoa = ctx.rel(SEOA, [
        "StudentUSI", "EducationOrganizationId", "SexDescriptorId",
        "HispanicLatinoEthnicity", "OldEthnicityDescriptorId",
    ])
    race = ctx.rel(
        f"{SEOA}Race", ["StudentUSI", "EducationOrganizationId", "RaceDescriptorId"]
    )
    ctx.use("SexDescriptor", SEOA, "SexDescriptorId", "gender left blank")
    ctx.use("SexDescriptor", "Student", "BirthSexDescriptorId", "gender left blank")
    ctx.use("OldEthnicityDescriptor", SEOA, "OldEthnicityDescriptorId", "not used")
    ctx.use("RaceDescriptor", f"{SEOA}Race", "RaceDescriptorId", "race set to other")
    first_org = "s.EducationOrganizationId"
    race_value = "coalesce(d.target, 'other')"
    ctx.write("students", f"""
        WITH org AS (
            SELECT s.StudentUSI,
                arg_min(x.target, {first_org}) FILTER (WHERE x.target IS NOT NULL)
                    AS gender,
                bool_or(edfi_bool(s.HispanicLatinoEthnicity)) AS hispanic,
                arg_min(o.target, {first_org}) FILTER (WHERE o.target IS NOT NULL)
                    AS old_ethnicity
            FROM {seoa} s
            {ctx.dj("SexDescriptor", "s.SexDescriptorId", "x")}
            {ctx.dj("OldEthnicityDescriptor", "s.OldEthnicityDescriptorId", "o")}
            GROUP BY 1),
        races AS (
            SELECT r.StudentUSI, count(DISTINCT {race_value}) AS n,
                   min({race_value}) AS race
            FROM {race} r {ctx.dj("RaceDescriptor", "r.RaceDescriptorId", "d")}
            WHERE coalesce(d.status, 'unmapped') <> 'ignored' GROUP BY 1),
        people AS (
            SELECT StudentUSI, min(BirthDate) AS BirthDate,
                   min(BirthSexDescriptorId) AS BirthSexDescriptorId
            FROM {student} WHERE StudentUSI IS NOT NULL GROUP BY 1)
        SELECT p.StudentUSI AS student_id,
            coalesce(org.gender, b.target) AS gender,
            CASE WHEN org.hispanic THEN 'hispanic'
                 WHEN races.n > 1 THEN 'two_or_more'
                 WHEN races.n = 1 THEN races.race
                 ELSE org.old_ethnicity END AS race_ethnicity,
            edfi_date(p.BirthDate) AS birth_date
        FROM people p
        LEFT JOIN org ON org.StudentUSI = p.StudentUSI
        LEFT JOIN races ON races.StudentUSI = p.StudentUSI
        {ctx.dj("SexDescriptor", "p.BirthSexDescriptorId", "b")}
        ORDER BY {ORDER_STUDENT}
    """)


def stage_enrollments(ctx: ImportContext) -> None:
    """Create ``edfi_enr`` (every enrollment-year + reason) and ``edfi_enr_ok``.

    A StudentSchoolAssociation without SchoolYear covers every school year of its
    school's calendar that its dates overlap; later years assume promotion by one grade
    a year from EntryGradeLevel (noted when it happens).
    """
    ssa = ctx.rel("StudentSchoolAssociation", [
        "StudentUSI", "SchoolId", "EntryDate", "ExitWithdrawDate", "SchoolYear",
        "EntryGradeLevelDescriptorId", "ExitWithdrawTypeDescriptorId",
    ])
    t = "StudentSchoolAssociation"
    ctx.use(
        "GradeLevelDescriptor", t, "EntryGradeLevelDescriptorId", "enrollment rejected"
    )
    ctx.use(
        "ExitWithdrawTypeDescriptor",
        t,
        "ExitWithdrawTypeDescriptorId",
        "exit_reason set to other",
    )
    ctx.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edfi_school_years AS
        SELECT school_id, school_year, min(date) AS first_day, max(date) AS last_day
        FROM edfi_days GROUP BY ALL;
        CREATE OR REPLACE TEMP TABLE edfi_ssa AS
        SELECT row_number() OVER () AS rid, s.StudentUSI AS student_id,
            s.SchoolId AS school_id, edfi_date(s.EntryDate) AS entry_date,
            edfi_date(s.ExitWithdrawDate) AS exit_date,
            edfi_int(s.SchoolYear) AS ssa_year,
            g.status AS grade_status, edfi_int(g.target) AS grade0,
            CASE WHEN s.ExitWithdrawTypeDescriptorId IS NOT NULL
                 THEN coalesce(x.target, 'other') END AS exit_reason,
            s.StudentUSI IN (SELECT id FROM edfi_student_ids) AS known_student,
            s.SchoolId IN (SELECT id FROM edfi_school_ids) AS known_school
        FROM {ssa} s
        {ctx.dj("GradeLevelDescriptor", "s.EntryGradeLevelDescriptorId", "g")}
        {ctx.dj("ExitWithdrawTypeDescriptor", "s.ExitWithdrawTypeDescriptorId", "x")};
    """)
    ctx.con.execute(_enrollment_years_sql(ctx))
    _note_enrollments(ctx)


def _enrollment_years_sql(ctx: ImportContext) -> str:
    """SQL creating ``edfi_enr`` from ``edfi_ssa``: one row per enrollment-year."""
    last_day = "exit_date" if ctx.mapping.exit_date_is_last_day else "exit_date - 1"
    grade = "grade0 + greatest(promoted, 0)"
    return f"""
        CREATE OR REPLACE TEMP TABLE edfi_enr AS
        WITH spans AS (
            SELECT *, {last_day} AS span_end, edfi_year_of(entry_date) AS entry_year
            FROM edfi_ssa),
        calendar_years AS (
            SELECT sp.rid, y.school_year, y.first_day FROM spans sp
            JOIN edfi_school_years y ON y.school_id = sp.school_id
             AND sp.entry_date <= y.last_day
             AND (sp.span_end IS NULL OR sp.span_end >= y.first_day)
             AND y.school_year >= sp.entry_year
            WHERE sp.ssa_year IS NULL),
        years AS (
            SELECT rid, school_year, first_day FROM calendar_years
            UNION ALL
            SELECT sp.rid, coalesce(sp.ssa_year, sp.entry_year), NULL FROM spans sp
            WHERE sp.ssa_year IS NOT NULL OR sp.entry_date IS NULL
               OR NOT EXISTS (SELECT 1 FROM calendar_years c WHERE c.rid = sp.rid)),
        dated AS (
            SELECT sp.*, y.school_year, y.school_year - sp.entry_year AS promoted,
                CASE WHEN y.school_year > sp.entry_year
                     THEN greatest(sp.entry_date, y.first_day)
                     ELSE sp.entry_date END AS year_entry,
                make_date(y.school_year, 6, 30) AS year_end
            FROM spans sp JOIN years y USING (rid)),
        reasoned AS (
            SELECT *, CASE
                WHEN entry_date IS NULL THEN 'invalid or missing EntryDate'
                WHEN NOT known_student THEN 'StudentUSI not in Student'
                WHEN NOT known_school THEN 'SchoolId not in School'
                WHEN grade_status = 'ignored'
                    THEN 'entry grade level ignored by the mapping'
                WHEN grade0 IS NULL THEN 'entry grade level not in the mapping'
                WHEN {grade} > 13 THEN 'derived grade level above 13'
                WHEN span_end < entry_date THEN 'exit before entry'
                WHEN NOT {ctx.year_filter("school_year")} THEN 'outside --school-year'
            END AS pre_reason
            FROM dated)
        SELECT student_id, school_id, school_year, {grade} AS grade_level, promoted,
            year_entry AS entry_date,
            CASE WHEN exit_date <= year_end THEN exit_date END AS exit_date,
            CASE WHEN exit_date <= year_end THEN exit_reason END AS exit_reason,
            CASE WHEN span_end <= year_end THEN span_end END AS last_day,
            CASE WHEN pre_reason IS NOT NULL THEN pre_reason
                 WHEN row_number() OVER (
                     PARTITION BY student_id, school_id, school_year, year_entry,
                                  pre_reason IS NULL
                     ORDER BY rid) > 1
                 THEN 'duplicate enrollment' END AS reason
        FROM reasoned;
        CREATE OR REPLACE TEMP VIEW edfi_enr_ok AS
        SELECT * FROM edfi_enr WHERE reason IS NULL;
    """


def _note_enrollments(ctx: ImportContext) -> None:
    """Notes on enrollment-years derived by promotion, and on expansion."""
    ssa_rows, years, promoted = ctx.fetch("""
        SELECT (SELECT count(*) FROM edfi_ssa), count(*),
               count(*) FILTER (WHERE promoted > 0 AND reason IS NULL)
        FROM edfi_enr""")[0]
    if years != ssa_rows:
        ctx.log.note(
            f"enrollments: {ssa_rows:,} StudentSchoolAssociation rows cover "
            f"{years:,} enrollment-years (rows spanning several school years)."
        )
    if promoted:
        ctx.log.note(
            f"enrollments: {promoted:,} enrollment-years after the entry year got "
            "grade_level = EntryGradeLevel + years since entry (assumes promotion)."
        )


def write_enrollments(ctx: ImportContext) -> None:
    """enrollments: the accepted enrollment-years; rejections by reason."""
    ctx.rejected_from("enrollments", "StudentSchoolAssociation", "edfi_enr")
    ctx.write("enrollments", f"""
        SELECT student_id, school_id, school_year, grade_level, entry_date,
               exit_date, exit_reason
        FROM edfi_enr_ok ORDER BY school_year, school_id, {ORDER_STUDENT}, entry_date
    """)


FLAG_TABLES = {
    "english_learner": "StudentLanguageInstructionProgramAssociation",
    "students_with_disabilities": "StudentSpecialEducationProgramAssociation",
    "socioeconomically_disadvantaged": "StudentSchoolFoodServiceProgramAssociation",
    "homeless": "StudentHomelessProgramAssociation",
    "foster_youth": None,
}
PROGRAM_KEY = [
    "BeginDate", "EducationOrganizationId", "ProgramEducationOrganizationId",
    "ProgramName", "ProgramTypeDescriptorId", "StudentUSI",
]
CHARACTERISTIC = f"{SEOA}StudentCharacteristic"


def _program_sources(ctx: ImportContext) -> list[str]:
    """(student, flag, begin, end) selects from program associations."""
    general = ctx.rel("GeneralStudentProgramAssociation", [*PROGRAM_KEY, "EndDate"])
    ctx.use(
        "ProgramTypeDescriptor",
        "GeneralStudentProgramAssociation",
        "ProgramTypeDescriptorId",
        "no flag set",
    )
    parts = [f"""
        SELECT g.StudentUSI, p.target, edfi_date(g.BeginDate), edfi_date(g.EndDate)
        FROM {general} g
        {ctx.dj("ProgramTypeDescriptor", "g.ProgramTypeDescriptorId", "p")}
        WHERE p.target IS NOT NULL"""]
    on = " AND ".join(f"g.{c} IS NOT DISTINCT FROM s.{c}" for c in PROGRAM_KEY)
    for flag, table in FLAG_TABLES.items():
        if table and ctx.src.has(table):
            parts.append(f"""
                SELECT s.StudentUSI, '{flag}', edfi_date(s.BeginDate),
                       edfi_date(g.EndDate)
                FROM {ctx.rel(table, PROGRAM_KEY)} s LEFT JOIN {general} g ON {on}""")
    return parts


def _other_flag_sources(ctx: ImportContext) -> list[str]:
    """(student, flag, begin, end) selects: characteristics, LEP, disabilities."""
    char = ctx.rel(CHARACTERISTIC, [
        "StudentUSI", "EducationOrganizationId", "StudentCharacteristicDescriptorId"])
    period = ctx.rel(f"{CHARACTERISTIC}Period", [
        "StudentUSI", "EducationOrganizationId", "StudentCharacteristicDescriptorId",
        "BeginDate", "EndDate"])
    ctx.use(
        "StudentCharacteristicDescriptor",
        CHARACTERISTIC,
        "StudentCharacteristicDescriptorId",
        "no flag set",
    )
    seoa = ctx.rel(SEOA, ["StudentUSI", "LimitedEnglishProficiencyDescriptorId"])
    ctx.use(
        "LimitedEnglishProficiencyDescriptor",
        SEOA,
        "LimitedEnglishProficiencyDescriptorId",
        "not counted as an English learner",
    )
    disability = ctx.rel(f"{SEOA}Disability", ["StudentUSI"])
    same = " AND ".join(
        f"p.{c} = c.{c}"
        for c in ("StudentUSI", "EducationOrganizationId",
                  "StudentCharacteristicDescriptorId")
    )
    characteristic = ctx.dj(
        "StudentCharacteristicDescriptor", "c.StudentCharacteristicDescriptorId", "d"
    )
    lep = ctx.dj(
        "LimitedEnglishProficiencyDescriptor",
        "s.LimitedEnglishProficiencyDescriptorId",
        "l",
    )
    return [
        f"""SELECT c.StudentUSI, d.target, edfi_date(p.BeginDate), edfi_date(p.EndDate)
            FROM {char} c {characteristic}
            LEFT JOIN {period} p ON {same}
            WHERE d.target IS NOT NULL""",
        f"""SELECT s.StudentUSI, 'english_learner', NULL::DATE, NULL::DATE
            FROM {seoa} s {lep} WHERE l.target = 'true'""",
        f"""SELECT StudentUSI, 'students_with_disabilities', NULL::DATE, NULL::DATE
            FROM {disability}""",
    ]


def _flag_available(ctx: ImportContext, flag: str) -> bool:
    """Whether the export has any table that could set ``flag`` (else it is unknown)."""
    candidates = ["GeneralStudentProgramAssociation", CHARACTERISTIC]
    if FLAG_TABLES[flag]:
        candidates.append(str(FLAG_TABLES[flag]))
    if flag == "english_learner" and ctx.src.has_column(
        SEOA, "LimitedEnglishProficiencyDescriptorId"
    ):
        return True
    if flag == "students_with_disabilities":
        candidates.append(f"{SEOA}Disability")
    return any(ctx.src.has(t) for t in candidates)


def write_student_years(ctx: ImportContext) -> None:
    """student_years: one row per accepted student × school year, with subgroup flags.

    A flag is true when a source overlapping the school year (Jul 1 - Jun 30) sets it,
    false otherwise, and blank when the export has no table that could set it.
    """
    flags = []
    for flag in FLAG_TABLES:
        if _flag_available(ctx, flag):
            flags.append(f"coalesce(bool_or(f.flag = '{flag}'), false) AS {flag}")
        else:
            flags.append(f"NULL::BOOLEAN AS {flag}")
            ctx.log.note(f"student_years: no Ed-Fi table can set {flag}; left blank.")
    ctx.log.note(
        "student_years: gpa is not imported (Ed-Fi GPAs are per term or cumulative, "
        "not per school year); ontrack computes GPA from final marks."
    )
    sources = "\nUNION ALL\n".join(_program_sources(ctx) + _other_flag_sources(ctx))
    ctx.write("student_years", f"""
        WITH sy AS (SELECT DISTINCT student_id, school_year FROM edfi_enr_ok),
        src(student_id, flag, begin_date, end_date) AS ({sources})
        SELECT sy.student_id, sy.school_year, {", ".join(flags)}
        FROM sy LEFT JOIN src f ON f.student_id = sy.student_id
         AND (f.begin_date IS NULL OR f.begin_date <= make_date(sy.school_year, 6, 30))
         AND (f.end_date IS NULL OR f.end_date >= make_date(sy.school_year - 1, 7, 1))
        GROUP BY sy.student_id, sy.school_year
        ORDER BY sy.school_year, TRY_CAST(sy.student_id AS BIGINT), sy.student_id
    """)
