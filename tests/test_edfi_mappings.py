"""Ed-Fi descriptors, students and enrollments map to the contract's codes: grade
levels, exit reasons (district mapping files by namespace), race, gender, Hispanic
ethnicity, student-year flags and enrollments spanning two school years.

Each test edits the tiny export of tests/edfi_export.py that it is about; the event
tables (transcripts, attendance, calendars, discipline, assessments) are tested in
tests/test_edfi_events.py.
"""

from __future__ import annotations

from tests.edfi_export import (
    LEA,
    SCHOOL,
    STATE,
    base_tables,
    column,
    mapping_file,
    run,
    unmapped,
)


def test_grade_level_descriptors_map_to_integers(tmp_path):
    tables = base_tables()
    for row, grade in zip(tables["StudentSchoolAssociation"], (2, 3, 1), strict=True):
        row["EntryGradeLevelDescriptorId"] = grade
    _, out = run(tmp_path, tables)
    assert column(out["enrollments"], "grade_level") == {"1": "0", "2": "-1", "3": "9"}


def test_unmapped_grade_level_is_rejected_and_reported_with_count(tmp_path):
    tables = base_tables()
    for row in tables["StudentSchoolAssociation"][:2]:
        row["EntryGradeLevelDescriptorId"] = 4
    report, out = run(tmp_path, tables)
    assert list(out["enrollments"].student_id) == ["3"]
    assert unmapped(report, "GradeLevelDescriptor") == {"Grade Nine (state)": 2}
    assert report.rejected("enrollments") == {"entry grade level not in the mapping": 2}
    item = next(u for u in report.unmapped if u.descriptor == "GradeLevelDescriptor")
    assert item.namespace == STATE + "GradeLevelDescriptor"
    assert item.source == "StudentSchoolAssociation.EntryGradeLevelDescriptorId"
    assert item.effect == "enrollment rejected"


def test_unmapped_exit_reason_becomes_other_and_is_reported(tmp_path):
    tables = base_tables()
    enrollments = tables["StudentSchoolAssociation"]
    for row, day, exit_type in zip(
        enrollments, ("2010-08-27", "2010-08-30"), (11, 10), strict=False
    ):
        row.update(ExitWithdrawDate=day, ExitWithdrawTypeDescriptorId=exit_type)
    report, out = run(tmp_path, tables)
    reasons = column(out["enrollments"], "exit_reason")
    assert reasons == {"1": "other", "2": "transfer", "3": ""}
    exits = unmapped(report, "ExitWithdrawTypeDescriptor")
    assert exits == {"Moved to another planet": 1}
    # No attendance days after the exit date (the last enrolled day).
    days = out["attendance"].groupby("student_id").size().to_dict()
    assert days == {"1": 5, "2": 6, "3": 10}


def test_mapping_file_maps_a_state_code_by_namespace(tmp_path):
    tables = base_tables()
    tables["StudentSchoolAssociation"][0]["EntryGradeLevelDescriptorId"] = 4
    key = f"{STATE}GradeLevelDescriptor#Grade Nine (state)"
    mapping = mapping_file(
        tmp_path, f'descriptors:\n  GradeLevelDescriptor:\n    "{key}": 9\n'
    )
    report, out = run(tmp_path, tables, mapping_file=mapping)
    assert sorted(out["enrollments"].grade_level) == ["9", "9", "9"]
    assert not report.unmapped
    assert report.mapping_files[-1] == str(mapping)


def test_students_race_gender_and_hispanic(tmp_path):
    tables = base_tables()
    org = {"EducationOrganizationId": LEA}
    tables["StudentEducationOrganizationAssociation"] = [
        {**org, "StudentUSI": s, "SexDescriptorId": sex, "HispanicLatinoEthnicity": h}
        for s, sex, h in (("1", 30, "False"), ("2", 31, "True"), ("3", 31, "False"))
    ]
    tables["StudentEducationOrganizationAssociationRace"] = [
        {**org, "StudentUSI": s, "RaceDescriptorId": race}
        for s, race in (("1", 40), ("1", 41), ("2", 42), ("3", 42))
    ]
    _, out = run(tmp_path, tables)
    students = out["students"]
    assert column(students, "race_ethnicity") == {
        "1": "two_or_more", "2": "hispanic", "3": "black"}
    assert column(students, "gender") == {"1": "female", "2": "male", "3": "male"}
    assert set(students.birth_date) == {"1996-05-01"}


def test_student_year_flags(tmp_path):
    tables = base_tables()
    program = {"EducationOrganizationId": LEA, "ProgramEducationOrganizationId": LEA,
               "BeginDate": "2010-08-23"}
    tables["GeneralStudentProgramAssociation"] = [
        {**program, "StudentUSI": "1", "ProgramName": "ESL",
         "ProgramTypeDescriptorId": 100},
        {**program, "StudentUSI": "2", "ProgramName": "Migrant",
         "ProgramTypeDescriptorId": 101},
        {**program, "StudentUSI": "3", "ProgramName": "ESL",
         "ProgramTypeDescriptorId": 100, "BeginDate": "2008-08-25",
         "EndDate": "2009-06-01"},  # ended before 2010-11
    ]
    tables["StudentSchoolFoodServiceProgramAssociation"] = [
        {**program, "StudentUSI": "2", "ProgramName": "Lunch",
         "ProgramTypeDescriptorId": 101}]
    tables["StudentEducationOrganizationAssociationStudentCharacteristic"] = [
        {"StudentUSI": "3", "EducationOrganizationId": LEA,
         "StudentCharacteristicDescriptorId": 102}]
    _, out = run(tmp_path, tables)
    flags = out["student_years"]
    no, yes = "false", "true"
    assert column(flags, "english_learner") == {"1": yes, "2": no, "3": no}
    poor = column(flags, "socioeconomically_disadvantaged")
    assert poor == {"1": no, "2": yes, "3": no}
    assert column(flags, "foster_youth") == {"1": no, "2": no, "3": yes}
    assert set(flags.school_year) == {"2011"}


def test_enrollment_spanning_two_school_years_assumes_promotion(tmp_path):
    tables = base_tables()
    tables["Session"].append(
        {"SchoolId": SCHOOL, "SchoolYear": 2012, "SessionName": "Fall 2",
         "BeginDate": "2011-08-22", "EndDate": "2011-08-26"})
    report, out = run(tmp_path, tables)
    rows = out["enrollments"][out["enrollments"].student_id == "1"]
    assert rows[["school_year", "grade_level", "entry_date"]].values.tolist() == [
        ["2011", "9", "2010-08-23"], ["2012", "10", "2011-08-22"]]
    assert any("assumes promotion" in n for n in report.notes)
    only_2012, out = run(tmp_path / "y", tables, school_year=2012)
    assert set(out["enrollments"].school_year) == {"2012"}
    assert only_2012.rejected("enrollments") == {"outside --school-year": 3}
