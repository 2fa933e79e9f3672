"""Tiny hand-built Ed-Fi exports for the mapping tests (a few rows per table).

``base_tables()`` is one school, three students in 9th grade and a two-week fall
session; a test edits the tables it is about, and ``run`` writes them as CSV files into
its ``tmp_path`` and imports them. Descriptor ids are the small integers in
``DESCRIPTORS``. Used by tests/test_edfi_mappings.py and tests/test_edfi_events.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

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
