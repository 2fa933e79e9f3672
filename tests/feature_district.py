"""A small hand-built district for the feature, label and time-travel tests.

School year 2024 (2023-07-01 to 2024-06-30) is the cohort year, 2023 the year before.
Instructional days are the weekdays from late August to early June (no holidays), so
the expected values in the tests can be counted by hand.

Students (9th graders in 2024 unless said otherwise):

- ``S1`` in H1 all year, daily attendance: unexcused absences on the Mondays of
  October 2023, one excused absence on 2024-01-10, tardy on Fridays (= present);
  8th grade in 2023 at M1 with an official GPA; marks, incidents and test scores.
- ``S2`` moves from H1 to H2 in January (exit 2024-01-12, entry 2024-01-16) and is
  absent (unexcused) every day at H2 until the end of January.
- ``S3`` enters H1 late (2023-09-25) and has no other records at all.
- ``S4`` at H2, attendance from summaries only (cumulative, at Oct 31 and Jan 31, and
  one undated annual total).
- ``S5`` repeats 9th grade (9th grade in 2023 too), official GPA for 2024.
- ``S6`` is an 8th grader at M1 (for the grade-8 cohort).
- ``S7`` transfers out of H1 on 2023-12-15 and never comes back.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

FIRST_DAY = {2023: date(2022, 8, 22), 2024: date(2023, 8, 21)}
LAST_DAY = {2023: date(2023, 6, 9), 2024: date(2024, 6, 7)}


def school_days(start: date, end: date) -> list[date]:
    """Weekdays from ``start`` to ``end`` inclusive."""
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _s1_status(day: date) -> str:
    if day.month == 10 and day.year == 2023 and day.weekday() == 0:
        return "absent_unexcused"
    if day == date(2024, 1, 10):
        return "absent_excused"
    if day.weekday() == 4:
        return "tardy"
    return "present"


def attendance_rows() -> list[str]:
    """Daily rows: student, school, date, status."""
    rows = []
    for day in school_days(FIRST_DAY[2023], LAST_DAY[2023]):  # the year before
        rows.append(f"S1,M1,{day},present")
        rows.append(f"S5,H1,{day},{'absent_unexcused' if day.month == 3 else 'present'}")
    for day in school_days(FIRST_DAY[2024], LAST_DAY[2024]):
        rows.append(f"S1,H1,{day},{_s1_status(day)}")
        if day <= date(2024, 1, 12):
            rows.append(f"S2,H1,{day},present")
        elif day >= date(2024, 1, 16):
            status = "absent_unexcused" if day <= date(2024, 1, 31) else "present"
            rows.append(f"S2,H2,{day},{status}")
        rows.append(f"S5,H1,{day},present")
        rows.append(f"S6,M1,{day},present")
        if day <= date(2023, 12, 15):
            rows.append(f"S7,H1,{day},present")
    return rows


TABLES: dict[str, str] = {
    "schools": (
        "school_id,school_name,district_id,school_level\n"
        "M1,Middle One,D1,middle\nH1,High One,D1,high\nH2,High Two,D1,high\n"
    ),
    "students": (
        "student_id,gender,race_ethnicity,birth_date\n"
        "S1,F,hispanic,2009-09-15\nS2,M,white,2009-03-01\nS3,F,asian,2008-06-01\n"
        "S4,M,black,2009-05-05\nS5,F,white,2008-02-02\nS6,M,hispanic,2010-04-04\n"
        "S7,F,white,2009-01-01\n"
    ),
    "enrollments": (
        "student_id,school_id,school_year,grade_level,entry_date,exit_date,exit_reason\n"
        "S1,M1,2023,8,2022-08-22,2023-06-09,completed\n"
        "S1,H1,2024,9,2023-08-21,2024-06-07,completed\n"
        "S2,H1,2024,9,2023-08-21,2024-01-12,transfer\n"
        "S2,H2,2024,9,2024-01-16,,\n"
        "S3,H1,2024,9,2023-09-25,,\n"
        "S4,H2,2024,9,2023-08-21,,\n"
        "S5,H1,2023,9,2022-08-22,2023-06-09,completed\n"
        "S5,H1,2024,9,2023-08-21,,\n"
        "S6,M1,2024,8,2023-08-21,,\n"
        "S7,H1,2024,9,2023-08-21,2023-12-15,transfer\n"
    ),
    "student_years": (
        "student_id,school_year,english_learner,students_with_disabilities,"
        "socioeconomically_disadvantaged,gpa\n"
        "S1,2023,false,false,true,2.8\n"
        "S1,2024,true,false,true,\n"
        "S5,2024,false,true,false,1.5\n"
    ),
    "attendance_summary": (
        "student_id,school_id,school_year,days_enrolled,days_absent,period_end_date\n"
        "S4,H2,2024,50,5,2023-10-31\n"
        "S4,H2,2024,110,22,2024-01-31\n"
        "S4,H2,2024,180,40,\n"
    ),
    "course_marks": (
        "student_id,school_id,school_year,term,course_id,subject,mark,is_final,"
        "term_end_date,credits_attempted,credits_earned\n"
        "S1,M1,2023,Y,ENG8,ela,B,true,2023-06-09,1,1\n"
        "S1,M1,2023,Y,MATH8,math,D,true,2023-06-09,1,1\n"
        "S1,M1,2023,Y,SCI8,science,B,true,2023-06-09,1,1\n"
        "S1,H1,2024,Q1,ENG9,ela,C,false,2023-10-20,,\n"
        "S1,H1,2024,Q1,ALG1,math,D,false,2023-10-20,,\n"
        "S1,H1,2024,Q1,BIO,science,B,false,2023-10-20,,\n"
        "S1,H1,2024,Q1,PE,other,A,false,2023-10-20,,\n"
        "S1,H1,2024,S1,ENG9,ela,C+,true,2024-01-19,0.5,0.5\n"
        "S1,H1,2024,S1,ALG1,math,F,true,2024-01-19,0.5,0\n"
        "S1,H1,2024,S1,BIO,science,B,true,2024-01-19,0.5,0.5\n"
        "S1,H1,2024,S1,PE,other,A,true,2024-01-19,0.5,0.5\n"
        "S1,H1,2024,Q3,ALG1,math,C,false,2024-03-22,,\n"
        "S5,H1,2024,S1,ENG9,ela,NP,true,,0.5,0\n"
    ),
    "discipline": (
        "student_id,school_id,incident_date,action,days\n"
        "S1,M1,2023-03-01,referral,\n"
        "S1,H1,2023-11-06,referral,\n"
        "S1,H1,2024-02-20,out_of_school_suspension,3\n"
        "S2,H1,2023-12-01,in_school_suspension,\n"
    ),
    "assessments": (
        "student_id,school_year,subject,scale_score,performance_level,test_date\n"
        "S1,2022,ELA,2450,2,\n"
        "S1,2023,ELA,2500,2,2023-04-20\n"
        "S1,2023,Mathematics,2480,1,2023-04-21\n"
        "S6,2024,ela,2510,3,2024-04-15\n"
    ),
}


def write_feature_district(
    folder: Path, *, drop: tuple[str, ...] = (), **replace: str
) -> Path:
    """Write the district as CSV into ``folder``; ``drop`` leaves tables out."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = dict(TABLES)
    tables["attendance"] = "student_id,school_id,date,status\n" + "\n".join(attendance_rows()) + "\n"
    tables.update(replace)
    for name, text in tables.items():
        if name not in drop:
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


OCT31, JAN31, JUN30 = date(2023, 10, 31), date(2024, 1, 31), date(2024, 6, 30)


def build_matrix(
    root: Path,
    *,
    model: str = "grade9",
    as_of_dates: tuple[date, ...] = (OCT31, JAN31, JUN30),
    config=None,
    drop: tuple[str, ...] = (),
    **replace: str,
):
    """Validate the district under ``root`` and build (connection, cohort, X)."""
    from ontrack.features import FEATURES
    from ontrack.dataset.cohorts import build_cohort
    from ontrack.config import load_config
    from ontrack.dataset.featurize import build_feature_matrix
    from ontrack.validation.store import open_validated, provided
    from ontrack.validation import validate_directory

    config = config or load_config()
    data = write_feature_district(root / "data", drop=drop, **replace)
    validate_directory(data, root / "out", config)
    con = open_validated(root / "out", config)
    cohort = build_cohort(con, config, model=model, as_of_dates=list(as_of_dates))
    matrix = build_feature_matrix(
        con, cohort, FEATURES, config, provided=provided(root / "out")
    )
    return con, cohort, matrix


@lru_cache(maxsize=None)
def shared_matrix(model: str = "grade9"):
    """(cohort, X) of the default district, built once per test session."""
    root = Path(tempfile.mkdtemp(prefix="ontrack-features-"))
    atexit.register(shutil.rmtree, root, True)
    con, cohort, matrix = build_matrix(root, model=model)
    con.close()
    return cohort, matrix
