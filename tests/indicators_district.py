"""A readable builder for small district data directories, shared by the indicator tests."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

YEAR = 2024
FIRST_DAY = date(2023, 9, 4)  # a Monday
STATUS = {
    "P": "present",
    "T": "tardy",
    "E": "absent_excused",
    "U": "absent_unexcused",
    "S": "suspended",
}


class District:
    """Builds a district data directory row by row, in readable calls."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = defaultdict(list)

    def school(self, school_id: str, district_id: str = "D1") -> None:
        self.rows["schools"].append(
            {"school_id": school_id, "school_name": f"School {school_id}", "district_id": district_id}
        )

    def student(self, sid: str, grade: int = 8, school: str = "M1", **year_flags) -> None:
        """A student enrolled for the whole year at one school."""
        self.rows["students"].append(
            {"student_id": sid, "gender": "F", "race_ethnicity": "hispanic"}
        )
        self.enroll(sid, school, grade)
        if year_flags:
            self.rows["student_years"].append({"student_id": sid, "school_year": YEAR, **year_flags})

    def enroll(self, sid, school, grade, entry="2023-08-21", exit=None) -> None:
        self.rows["enrollments"].append(
            {"student_id": sid, "school_id": school, "school_year": YEAR,
             "grade_level": grade, "entry_date": entry, "exit_date": exit or ""}
        )

    def days(self, sid: str, school: str, codes: str, start: date = FIRST_DAY) -> None:
        """One attendance row per weekday from ``start``, status by letter (P/T/E/U/S)."""
        day = start
        for code in codes:
            while day.weekday() >= 5:
                day += timedelta(days=1)
            self.rows["attendance"].append(
                {"student_id": sid, "school_id": school, "date": day.isoformat(), "status": STATUS[code]}
            )
            day += timedelta(days=1)

    def mark(self, sid, course, subject, mark, term="Y", final=True, school="M1", **extra) -> None:
        self.rows["course_marks"].append(
            {"student_id": sid, "school_id": school, "school_year": YEAR, "term": term,
             "course_id": course, "subject": subject, "mark": mark,
             "is_final": "true" if final else "false", **extra}
        )

    def core_pass(self, sid: str, ela: str = "B", math: str = "B", school: str = "M1") -> None:
        self.mark(sid, "ELA", "ela", ela, school=school)
        self.mark(sid, "MATH", "math", math, school=school)

    def incident(self, sid, action, day="2024-03-05", school="M1") -> None:
        self.rows["discipline"].append(
            {"student_id": sid, "school_id": school, "incident_date": day, "action": action}
        )

    def summary(self, sid, school, enrolled, absent, period_end="") -> None:
        self.rows["attendance_summary"].append(
            {"student_id": sid, "school_id": school, "school_year": YEAR,
             "days_enrolled": enrolled, "days_absent": absent, "period_end_date": period_end}
        )

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for table, rows in self.rows.items():
            columns = list(dict.fromkeys(k for r in rows for k in r))
            with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, columns)
                writer.writeheader()
                writer.writerows(rows)
        return folder
