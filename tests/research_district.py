"""A "research-shaped" district: two 8th-grade cohorts followed to graduation.

The usual shape of research and state files (issue #15): only annual summaries, no
daily attendance, no course marks, no discipline. Tables written (CSV): ``schools``,
``students``, ``enrollments`` (grades 8 to 12, a 5th year for some), ``student_years``
(official ``gpa`` and subgroup flags per year), ``attendance_summary`` (one undated
row per student-year: the year's totals, no ``period_end_date``), ``assessments``
(ELA and math in grades 7, 8 and 11, undated) and ``outcomes``.

Cohorts: 8th grade in school years 2016 and 2017 (2015-16 and 2016-17), so 9th grade
starts in 2017 / 2018 and the 4-year graduation deadlines are 2020-06-30 / 2021-06-30.
The extract is dated 2021-09-30 (the ``still_enrolled`` outcomes carry that date), after
the newer cohort's deadline, so both cohorts' graduation labels have closed.

Each student has a latent risk ``z``; 8th-grade GPA, absences and test scores fall as
``z`` rises, and the chance of not graduating on time rises with it, so a model can
learn. Non-graduates drop out (dated, with a ``dropout`` exit) or graduate late: in the
summer after the deadline, or after a 5th year in grade 12 (the older cohort graduates
in June 2021; the newer one is still enrolled at the extract). A few students transfer
out in high school (their labels are excluded, not failures).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

EIGHTH_GRADE_YEARS: tuple[int, ...] = (2016, 2017)
EXTRACT_DATE = date(2021, 9, 30)
DISTRICT = "D01"
MIDDLE_SCHOOLS = ("M01", "M02")
HIGH_SCHOOLS = ("H01", "H02")
DAYS_IN_YEAR = 180
TRANSFER_RATE = 0.06
RACES = ("hispanic", "white", "asian", "black", "other")
LEVEL_CUTS = (2440.0, 2500.0, 2560.0)  # scale score -> performance level 1..4


def first_day(school_year: int) -> date:
    """First instructional day of ``school_year`` (mid-August of the year before)."""
    return date(school_year - 1, 8, 17)


def last_day(school_year: int) -> date:
    """Last instructional day of ``school_year`` (early June)."""
    return date(school_year, 6, 9)


def _day_in_year(rng: np.random.Generator, school_year: int) -> date:
    """A date between October and May of ``school_year`` (a leaving date)."""
    start = date(school_year - 1, 10, 1)
    span = (date(school_year, 5, 15) - start).days
    return start + timedelta(days=int(rng.integers(0, span)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _level(score: float) -> int:
    return 1 + int(np.searchsorted(LEVEL_CUTS, score, side="right"))


class _Tables:
    """Rows of every table, appended per student."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {
            name: []
            for name in (
                "schools",
                "students",
                "enrollments",
                "student_years",
                "attendance_summary",
                "assessments",
                "outcomes",
            )
        }

    def add(self, table: str, **row: object) -> None:
        self.rows[table].append(row)

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in self.rows.items():
            with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)


def _path(rng: np.random.Generator, eighth: int, z: float) -> tuple[str, int]:
    """How high school ends (on_time, summer, fifth_year, dropout or transfer) and the
    last school year enrolled."""
    deadline_year = eighth + 4  # 9th grade starts in eighth + 1; 4 years to graduate
    leave_year = int(rng.integers(eighth + 1, deadline_year + 1))
    if rng.random() < TRANSFER_RATE:
        return "transfer", leave_year
    if rng.random() >= _sigmoid(-2.1 + 1.4 * z):
        return "on_time", deadline_year
    kind = rng.random()
    if kind < 0.6:
        return "dropout", leave_year
    if kind < 0.8:
        return "summer", deadline_year
    return "fifth_year", deadline_year + 1


def _years(
    out: _Tables, rng: np.random.Generator, student: dict, path: str, last_year: int
) -> date:
    """Enrollments, student_years and attendance_summary rows from 8th grade to
    ``last_year``; return the date the student left (or the last day enrolled)."""
    sid, eighth, z = student["student_id"], student["eighth"], student["z"]
    gpa8 = float(np.clip(2.9 - 0.65 * z + rng.normal(0, 0.35), 0.0, 4.0))
    absence8 = float(np.clip(0.045 * np.exp(0.55 * z + rng.normal(0, 0.35)), 0, 0.6))
    left_on = last_day(last_year)
    for year in range(eighth, last_year + 1):
        grade = min(12, 8 + year - eighth)
        school = student["middle"] if grade == 8 else student["high"]
        entry, exit_date, reason = first_day(year), last_day(year), "completed"
        if year == last_year and path in ("transfer", "dropout"):
            exit_date, reason = _day_in_year(rng, year), path
            left_on = exit_date
        elif year == last_year and path in ("on_time", "fifth_year"):
            reason = "graduated"
        running = last_day(year) > EXTRACT_DATE  # a 5th year still under way
        out.add(
            "enrollments", student_id=sid, school_id=school, school_year=year,
            grade_level=grade, entry_date=entry, exit_date="" if running else exit_date,
            exit_reason="" if running else reason,
        )
        drift = rng.normal(0, 0.3) - 0.08 * (year - eighth) * max(z, 0.0)
        gpa = gpa8 if year == eighth else float(np.clip(gpa8 + drift, 0, 4))
        closed = not running and reason != "dropout"
        out.add(
            "student_years", student_id=sid, school_year=year, **student["flags"],
            gpa=round(gpa, 2) if closed else "",
        )
        if running:
            continue  # no totals for a year still under way
        days = (exit_date - entry).days * DAYS_IN_YEAR // (last_day(year) - entry).days
        rate = absence8 * float(np.exp(0.15 * (year - eighth) * z + rng.normal(0, 0.2)))
        out.add(
            "attendance_summary", student_id=sid, school_id=school, school_year=year,
            days_enrolled=days, days_absent=int(round(min(rate, 0.8) * days)),
        )
    return left_on


def _student(
    out: _Tables, rng: np.random.Generator, student_id: str, eighth: int, z: float
) -> None:
    """Write one student's rows, 8th grade in school year ``eighth``."""
    student = {
        "student_id": student_id,
        "eighth": eighth,
        "z": z,
        "middle": str(rng.choice(MIDDLE_SCHOOLS)),
        "high": str(rng.choice(HIGH_SCHOOLS)),
        "flags": {
            "english_learner": bool(rng.random() < 0.15),
            "students_with_disabilities": bool(rng.random() < _sigmoid(0.5 * z - 2)),
            "socioeconomically_disadvantaged": bool(rng.random() < _sigmoid(0.6 * z)),
        },
    }
    born = date(eighth - 14, 1 + int(rng.integers(0, 12)), 1 + int(rng.integers(0, 28)))
    out.add(
        "students", student_id=student_id, gender=str(rng.choice(["F", "M"])),
        race_ethnicity=str(rng.choice(RACES)), birth_date=born,
    )
    path, last_year = _path(rng, eighth, z)
    left_on = _years(out, rng, student, path, last_year)
    gone = path in ("transfer", "dropout")
    for grade, year in ((7, eighth - 1), (8, eighth), (11, eighth + 3)):
        if year > last_year or (gone and year == last_year):
            continue
        for subject in ("ela", "math"):
            score = 2500.0 + 12.0 * (grade - 8) - 70.0 * z + rng.normal(0, 35.0)
            out.add(
                "assessments", student_id=student_id, school_year=year,
                subject=subject, scale_score=round(score), grade_level=grade,
                performance_level=_level(score),
            )
    deadline = last_day(eighth + 4)
    outcome, when = "graduated", deadline
    if gone:
        outcome = "transferred_out" if path == "transfer" else "dropped_out"
        when = left_on
    elif path == "summer":
        when = date(deadline.year, 8, 6)  # after the June 30 deadline: late
    elif path == "fifth_year":
        when = last_day(last_year)
        if when > EXTRACT_DATE:
            outcome, when = "still_enrolled", EXTRACT_DATE
    out.add("outcomes", student_id=student_id, outcome=outcome, outcome_date=when)


def write_research_district(
    folder: Path, *, students_per_cohort: int = 600, seed: int = 0
) -> Path:
    """Write the research-shaped district as CSV files into ``folder``; return it."""
    if students_per_cohort < 1:
        raise ValueError(
            "students_per_cohort must be at least 1. "
            f"Got {students_per_cohort} instead."
        )
    rng = np.random.default_rng(seed)
    out = _Tables()
    for school in (*MIDDLE_SCHOOLS, *HIGH_SCHOOLS):
        level = "middle" if school.startswith("M") else "high"
        out.add(
            "schools", school_id=school, school_name=f"{level.title()} {school[1:]}",
            district_id=DISTRICT, school_level=level,
        )
    number = 0
    for eighth in EIGHTH_GRADE_YEARS:
        for z in rng.normal(0.0, 1.0, students_per_cohort):
            number += 1
            _student(out, rng, f"{number:06d}", eighth, float(z))
    out.write(Path(folder))
    return Path(folder)
