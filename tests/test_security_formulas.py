"""No CSV ontrack writes holds a cell a spreadsheet would run (issue 20, item 4).

A small synthetic district is made hostile: a school ID, a student ID, school, student,
staff, course and intervention names, incident types and a test name that a spreadsheet
reads as formulas. After validate, indicators, score (ranked by the rule: no model) and
report, every CSV under OUT is read back and no text cell may start with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return unless it is a plain number.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from ontrack.cli import main

pytestmark = pytest.mark.slow  # the weekly pipeline on a small district

FORMULAS = ('=HYPERLINK("http://x.test","a")', "+SUM(1,1)", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1)", "\t=1+1", "\r=1+1")
HOSTILE_SCHOOL, HOSTILE_STUDENT = "=2+5", "-1+1"
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _make_hostile(data: Path) -> None:
    """IDs and text fields a spreadsheet would run, everywhere they appear."""
    enrollments = pd.read_parquet(data / "enrollments.parquet")
    latest = enrollments[(enrollments["school_year"] == enrollments["school_year"].max())
                         & (enrollments["grade_level"] == 8)].iloc[0]  # on this year's roster
    school, student = str(latest["school_id"]), str(latest["student_id"])
    texts = {"school_name": 0, "first_name": 1, "last_name": 2, "staff_name": 3,
             "course_name": 4, "intervention_type": 5, "incident_type": 0, "test_name": 1}
    for path in data.glob("*.parquet"):
        frame = pd.read_parquet(path)
        if "school_id" in frame:
            frame["school_id"] = frame["school_id"].replace({school: HOSTILE_SCHOOL})
        if "student_id" in frame:
            frame["student_id"] = frame["student_id"].replace({student: HOSTILE_STUDENT})
        for column, which in texts.items():
            if column in frame and len(frame):
                frame.loc[frame.index[::3], column] = FORMULAS[which]
        frame.to_parquet(path, index=False)


def _cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_no_csv_cell_starts_a_formula(tmp_path: Path) -> None:
    from ontrack.synth import generate_district

    data, out = tmp_path / "data", tmp_path / "out"
    generate_district(data, n_students=200, n_years=3, seed=11)
    _make_hostile(data)
    for command in (["validate"], ["indicators"], ["score", "--model", "grade8"], ["report"]):
        assert main([command[0], str(data), *command[1:], "--out", str(out), "--quiet"]) == 0, command
    written = sorted(out.rglob("*.csv"))
    folders = {p.relative_to(out).parts[0] for p in written}
    assert {"indicators", "rosters", "followup"} <= folders, folders  # what was checked
    hits, defused = {}, set()
    for path in written:
        cells = _cells(path)
        bad = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")
               and not NUMBER.fullmatch(c)]
        if bad:
            hits[str(path.relative_to(out))] = bad[:3]
        defused |= {c for c in cells if c[:2] in ("'=", "'+", "'-", "'@")}
    assert hits == {}
    assert len(defused) >= 3, defused  # the hostile values reached the files, as text
    roster = pd.concat(pd.read_csv(p, dtype=str, keep_default_na=False)
                       for p in (out / "rosters").glob("*.csv") if p.name != "reasons.csv")
    assert f"'{HOSTILE_STUDENT}" in set(roster["student_id"])  # kept, and shown as text
    assert f"'{HOSTILE_SCHOOL}" in set(roster["school_id"])
