"""Unit tests of the Ed-Fi mappings on tiny hand-built exports (a few rows per table).

Each test starts from ``base_tables()`` - one school, three students in 9th grade, a
two-week fall session - edits the tables it is about, writes them as CSV files into
``tmp_path`` and imports them. Descriptor ids are the small integers in ``DESCRIPTORS``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from ontrack.edfi import import_edfi

ED = "uri://ed-fi.org/"
STATE = "uri://state.example.gov/"
DESCRIPTORS = [  # (id, namespace, code value)
    (1, ED + "GradeLevelDescriptor", "Ninth grade"),
    (2, ED + "GradeLevelDescriptor", "Kindergarten"),
    (3, ED + "GradeLevelDescriptor", "Preschool/Prekindergarten"),
    (4, STATE + "GradeLevelDescriptor", "Grade Nine (state)"),
    (10, ED + "ExitWithdrawTypeDescriptor", "Transferred"),
    (11, STATE + "ExitWithdrawTypeDescriptor", "Moved to another planet"),
    (20, ED + "AttendanceEventCategoryDescriptor", "Excused Absence"),
    (21, ED + "AttendanceEventCategoryDescriptor", "Unexcused Absence"),
    (22, ED + "AttendanceEventCategoryDescriptor", "Tardy"),
    (30, ED + "SexDescriptor", "Female"),
    (31, ED + "SexDescriptor", "Male"),
    (40, ED + "RaceDescriptor", "White"),
    (41, ED + "RaceDescriptor", "Asian"),
    (42, ED + "RaceDescriptor", "Black - African American"),
    (50, ED + "AcademicSubjectDescriptor", "Mathematics"),
    (60, ED + "TermDescriptor", "Fall Semester"),
    (70, ED + "CourseAttemptResultDescriptor", "Pass"),
    (71, ED + "CourseAttemptResultDescriptor", "Fail"),
    (80, ED + "GradingPeriodDescriptor", "First Six Weeks"),
    (81, ED + "GradeTypeDescriptor", "Grading Period"),
    (90, ED + "DisciplineDescriptor", "Out of School Suspension"),
    (91, ED + "BehaviorDescriptor", "School Code of Conduct"),
    (92, ED + "StudentParticipationCodeDescriptor", "Perpetrator"),
    (100, ED + "ProgramTypeDescriptor", "English as a Second Language (ESL)"),
    (101, ED + "ProgramTypeDescriptor", "Migrant Education"),
    (102, ED + "StudentCharacteristicDescriptor", "Foster Care"),
    (110, ED + "AssessmentReportingMethodDescriptor", "Scale score"),
    (111, ED + "AssessmentReportingMethodDescriptor", "Raw score"),
    (112, ED + "PerformanceLevelDescriptor", "Proficient"),
    (120, ED + "CalendarEventDescriptor", "Instructional day"),
    (121, ED + "CalendarEventDescriptor", "Holiday"),
]
SCHOOL = "100200300"
LEA = "100200"
FALL = ("2010-08-23", "2010-09-03")  # two weeks: 10 weekdays
STUDENTS = ("1", "2", "3")


def base_tables() -> dict[str, list[dict[str, object]]]:
    """The smallest export the importer accepts, plus one session and no events."""
    return {
        "Descriptor": [
            {"DescriptorId": i, "Namespace": ns, "CodeValue": code}
            for i, ns, code in DESCRIPTORS
        ],
        "Student": [{"StudentUSI": s, "BirthDate": "1996-05-01"} for s in STUDENTS],
        "School": [{"SchoolId": SCHOOL, "LocalEducationAgencyId": LEA}],
        "EducationOrganization": [
            {"EducationOrganizationId": SCHOOL, "NameOfInstitution": "Tiny High"},
            {"EducationOrganizationId": LEA, "NameOfInstitution": "Tiny ISD"},
        ],
        "StudentSchoolAssociation": [
            {"StudentUSI": s, "SchoolId": SCHOOL, "EntryDate": FALL[0],
             "EntryGradeLevelDescriptorId": 1}
            for s in STUDENTS
        ],
        "Session": [
            {"SchoolId": SCHOOL, "SchoolYear": 2011, "SessionName": "Fall",
             "BeginDate": FALL[0], "EndDate": FALL[1], "TermDescriptorId": 60,
             "TotalInstructionalDays": 10}
        ],
        "StudentSchoolAttendanceEvent": [],  # no events: every enrolled day present
    }


def write_export(folder: Path, tables: dict[str, list[dict[str, object]]]) -> Path:
    """Write each table as ``folder/<Table>.csv`` (header = union of row keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        columns = list(dict.fromkeys(k for row in rows for k in row)) or ["Id"]
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return folder


def run(tmp_path: Path, tables: dict, **kwargs):
    """Import ``tables``; return (report, {contract table: DataFrame of strings})."""
    source = write_export(tmp_path / "edfi", tables)
    report = import_edfi(source, tmp_path / "data", **kwargs)
    frames = {
        p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in (tmp_path / "data").glob("*.csv")
    }
    return report, frames


def column(frame: pd.DataFrame, name: str) -> dict[str, str]:
    """student_id -> value of one column."""
    return dict(zip(frame.student_id, frame[name], strict=True))


def unmapped(report, descriptor: str) -> dict[str, int]:
    """Unmapped code values of one descriptor with their row counts."""
    return {u.code_value: u.rows for u in report.unmapped if u.descriptor == descriptor}


def mapping_file(tmp_path: Path, text: str) -> Path:
    """A district mapping file with ``text``."""
    path = tmp_path / "district.yaml"
    path.write_text(text, encoding="utf-8")
    return path


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


def transcript(student: str, **values) -> dict[str, object]:
    """A CourseTranscript row for ALG-1 in the fall of 2010-11."""
    return {
        "StudentUSI": student, "EducationOrganizationId": SCHOOL, "SchoolYear": 2011,
        "TermDescriptorId": 60, "CourseCode": "ALG-1",
        "CourseEducationOrganizationId": SCHOOL, **values,
    }


def test_transcript_final_mark_with_credits_and_progress_grade(tmp_path):
    tables = base_tables()
    tables["Course"] = [
        {"CourseCode": "ALG-1", "EducationOrganizationId": SCHOOL,
         "CourseTitle": "Algebra I", "AcademicSubjectDescriptorId": 50}]
    tables["CourseTranscript"] = [
        transcript("1", FinalLetterGradeEarned="b+", FinalNumericGradeEarned="88.00",
                   CourseAttemptResultDescriptorId=70, AttemptedCredits="0.500",
                   EarnedCredits="0.500"),
        transcript("2", CourseAttemptResultDescriptorId=71, AttemptedCredits="0.5",
                   EarnedCredits="0"),
    ]
    tables["CourseOffering"] = [
        {"LocalCourseCode": "ALG1-LOCAL", "SchoolId": SCHOOL, "SchoolYear": 2011,
         "SessionName": "Fall", "CourseCode": "ALG-1",
         "EducationOrganizationId": SCHOOL}]
    tables["GradingPeriod"] = [
        {"GradingPeriodDescriptorId": 80, "PeriodSequence": 1, "SchoolId": SCHOOL,
         "SchoolYear": 2011, "BeginDate": FALL[0], "EndDate": FALL[1]}]
    tables["Grade"] = [
        {"StudentUSI": "1", "SchoolId": SCHOOL, "SchoolYear": 2011,
         "LocalCourseCode": "ALG1-LOCAL", "SessionName": "Fall",
         "SectionIdentifier": "S1", "GradingPeriodDescriptorId": 80,
         "GradingPeriodSequence": 1, "GradeTypeDescriptorId": 81,
         "NumericGradeEarned": "62.50"}]
    report, out = run(tmp_path, tables)
    marks = out["course_marks"].set_index(["student_id", "is_final"])
    final = marks.loc[("1", "true")]
    fields = ["term", "course_id", "subject", "mark", "term_end_date"]
    assert final[fields].tolist() == ["S1", "ALG-1", "math", "B+", FALL[1]]
    assert final[["credits_attempted", "credits_earned"]].tolist() == ["0.5", "0.5"]
    assert marks.loc[("2", "true")].mark == "NP"  # no grade: attempt result Fail
    progress = marks.loc[("1", "false")]
    assert progress[["term", "course_id", "mark"]].tolist() == ["6W1", "ALG-1", "62.5"]
    assert progress.credits_earned == ""
    assert report.rows_written["course_marks"] == 3


@pytest.mark.parametrize(("reconcile", "expected"), [(True, "2011"), (False, "2012")])
def test_transcript_dated_after_the_export_moves_to_the_enrolled_year(
    tmp_path, reconcile, expected
):
    tables = base_tables()
    taken = {"FinalNumericGradeEarned": "91", "WhenTakenGradeLevelDescriptorId": 1}
    tables["CourseTranscript"] = [
        transcript("1", **taken, SchoolYear=2012),
        transcript("2", **taken, SchoolYear=2009),  # history: never moved
    ]
    setting = str(reconcile).lower()
    text = f"marks:\n  reconcile_future_transcripts: {setting}\n"
    mapping = mapping_file(tmp_path, text)
    _, out = run(tmp_path, tables, mapping_file=mapping)
    assert column(out["course_marks"], "school_year") == {"1": expected, "2": "2009"}


def event(student: str, day: str, category: int, **values) -> dict[str, object]:
    """A StudentSchoolAttendanceEvent row at the school."""
    return {
        "SchoolId": SCHOOL, "SchoolYear": 2011, "SessionName": "Fall",
        "StudentUSI": student, "EventDate": day,
        "AttendanceEventCategoryDescriptorId": category, **values,
    }


def test_attendance_tardy_absence_and_every_event_accounted_for(tmp_path):
    tables = base_tables()
    tables["StudentSchoolAssociation"][2]["ExitWithdrawDate"] = "2010-08-31"
    tables["StudentSchoolAttendanceEvent"] = [
        event("1", "2010-08-24", 22, SchoolAttendanceDuration="15"),
        event("1", "2010-08-25", 20, EventDuration="1.00"),
        event("1", "2010-08-25", 22, SchoolAttendanceDuration="5"),  # absence wins
        event("2", "2010-08-28", 21),  # a Saturday
        event("3", "2010-09-02", 21),  # after the exit date
        event("9", "2010-09-02", 21),  # unknown student
    ]
    report, out = run(tmp_path, tables)
    att = out["attendance"]
    one = att[att.student_id == "1"].set_index("date")
    assert one.loc["2010-08-24", ["status", "minutes_absent"]].tolist() == [
        "tardy", "15.0"]
    assert one.loc["2010-08-25", "status"] == "absent_excused"
    assert (one.status == "present").sum() == 8
    assert len(att) == 10 + 10 + 7  # student 3 left after Tuesday of week 2
    rejected = report.rejected("attendance", "StudentSchoolAttendanceEvent")
    assert rejected == {
        "another event the same day took precedence": 1,
        "not an instructional day": 1,
        "outside the enrollment dates": 1,
        "no accepted enrollment of the student at the school": 1,
    }
    days_from_events = (att.status != "present").sum()
    events = report.rows_read["StudentSchoolAttendanceEvent"]
    assert events == days_from_events + sum(rejected.values())


def test_calendar_dates_and_non_instructional_override(tmp_path):
    tables = base_tables()
    holidays = "calendar:\n  non_instructional_dates: ['2010-08-30..2010-08-31']\n"
    report, out = run(tmp_path, tables, mapping_file=mapping_file(tmp_path, holidays))
    assert out["attendance"].groupby("student_id").size().tolist() == [8, 8, 8]
    assert any("8 from Session weekdays" in n for n in report.notes)

    calendar = {"CalendarCode": "C", "SchoolId": SCHOOL, "SchoolYear": 2011}
    days = {"2010-08-23": 120, "2010-08-24": 121, "2010-08-25": 120}
    tables["CalendarDate"] = [{**calendar, "Date": d} for d in days]
    tables["CalendarDateCalendarEvent"] = [
        {**calendar, "Date": d, "CalendarEventDescriptorId": e} for d, e in days.items()
    ]
    _, out = run(tmp_path / "calendar", tables)
    assert sorted(set(out["attendance"].date)) == ["2010-08-23", "2010-08-25"]


def test_discipline_actions_and_referrals(tmp_path):
    tables = base_tables()
    key = {"DisciplineActionIdentifier": "A1", "DisciplineDate": "2010-09-01",
           "StudentUSI": "1"}
    tables["DisciplineAction"] = [
        {**key, "DisciplineActionLength": "3", "ActualDisciplineActionLength": "2",
         "ResponsibilitySchoolId": SCHOOL}]
    tables["DisciplineActionDiscipline"] = [{**key, "DisciplineDescriptorId": 90}]
    tables["DisciplineActionStudentDisciplineIncidentAssociation"] = [
        {**key, "IncidentIdentifier": "I1", "SchoolId": SCHOOL}]
    tables["DisciplineIncident"] = [
        {"IncidentIdentifier": i, "SchoolId": SCHOOL, "IncidentDate": d}
        for i, d in (("I1", "2010-08-30"), ("I2", "2010-08-31"))]
    tables["DisciplineIncidentBehavior"] = [
        {"IncidentIdentifier": "I1", "SchoolId": SCHOOL, "BehaviorDescriptorId": 91}]
    tables["StudentDisciplineIncidentAssociation"] = [
        {"IncidentIdentifier": i, "SchoolId": SCHOOL, "StudentUSI": s,
         "StudentParticipationCodeDescriptorId": 92}
        for i, s in (("I1", "1"), ("I2", "2"))]
    _, out = run(tmp_path, tables)
    rows = out["discipline"].set_index("student_id")
    assert rows.loc["1"].tolist() == [
        SCHOOL, "2010-08-30", "out_of_school_suspension", "School Code of Conduct",
        "2.0"]
    assert rows.loc["2", ["incident_date", "action"]].tolist() == [
        "2010-08-31", "referral"]


def test_assessments_best_scale_score_subject_and_level(tmp_path):
    tables = base_tables()
    ns = {"Namespace": "uri://state/Assessment"}
    tables["Assessment"] = [
        {**ns, "AssessmentIdentifier": "STATE-MATH-9",
         "AssessmentTitle": "State Algebra End of Course"},
        {**ns, "AssessmentIdentifier": "ART", "AssessmentTitle": "Visual Arts"}]
    sa = {**ns, "AssessmentIdentifier": "STATE-MATH-9",
          "StudentAssessmentIdentifier": "X1", "StudentUSI": "1"}
    tables["StudentAssessment"] = [
        {**sa, "AdministrationDate": "2011-04-01 09:00:00",
         "WhenAssessedGradeLevelDescriptorId": 1},
        {**ns, "AssessmentIdentifier": "ART", "StudentAssessmentIdentifier": "X2",
         "StudentUSI": "2", "SchoolYear": 2011}]
    tables["StudentAssessmentScoreResult"] = [
        {**sa, "AssessmentReportingMethodDescriptorId": 111, "Result": "41"},
        {**sa, "AssessmentReportingMethodDescriptorId": 110, "Result": "712"}]
    tables["StudentAssessmentPerformanceLevel"] = [
        {**sa, "PerformanceLevelDescriptorId": 112, "PerformanceLevelMet": "true"}]
    report, out = run(tmp_path, tables)
    assert out["assessments"].iloc[0].tolist() == [
        "1", "2011", "math", "712.0", "STATE-MATH-9", "9", "3", "2011-04-01"]
    assert report.rejected("assessments") == {"subject not imported (other)": 1}


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
