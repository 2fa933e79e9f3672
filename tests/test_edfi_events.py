"""Ed-Fi event tables map to the contract's: course transcripts and grades, attendance
events, calendar dates, discipline incidents and assessments.

Each test edits the tiny export of tests/edfi_export.py that it is about.
"""

from __future__ import annotations

import pytest

from tests.edfi_export import (
    FALL,
    SCHOOL,
    base_tables,
    column,
    mapping_file,
    run,
)


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
