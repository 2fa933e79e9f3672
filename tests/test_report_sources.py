"""The report's criterion counts are kept per process by students.csv's content
(reports/district/sources.py): a copy of the same file reuses them, any edit counts
again, and what a caller gets is its own frame."""

from __future__ import annotations

import shutil
from pathlib import Path

from ontrack.reports.district import sources

from ontrack.config import load_config

HEADER = "student_id,district_id,school_id,school_year,indicator,gpa_ok,attendance_ok,df_ok,suspension_ok,credits_ok,fs_ok\n"


def _students(path: Path, swapped: int) -> Path:
    """30 grade-8 students; the first ``swapped`` miss their GPA instead of attendance."""
    rows = []
    for k in range(30):
        gpa, attendance = ("false", "true") if k < swapped else ("true", "false")
        if k >= 12:
            gpa, attendance = "true", "true"
        rows.append(f"{k:05d},0600001,0101,2025,hs_readiness_8,{gpa},{attendance},true,true,,\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _not_met(counts, criterion: str) -> int:
    row = counts.query("unit == 'school:0101' and criterion == @criterion")
    return int(row["not_met"].iloc[0])


def test_counts_follow_the_files_content_even_at_the_same_size(tmp_path):
    config = load_config()
    path = _students(tmp_path / "a" / "indicators" / "students.csv", swapped=0)
    first = sources.criteria_counts(path, (2025,), 10, config)
    assert _not_met(first, "gpa_ok") == 0 and _not_met(first, "attendance_ok") == 12
    size = path.stat().st_size
    _students(path, swapped=12)  # same bytes count, other flags
    assert path.stat().st_size == size
    again = sources.criteria_counts(path, (2025,), 10, config)
    assert _not_met(again, "gpa_ok") == 12 and _not_met(again, "attendance_ok") == 0
    withheld = sources.criteria_counts(path, (2025,), 13, config)  # another minimum size
    assert withheld.query("unit == 'school:0101' and criterion == 'gpa_ok'")["not_met"].isna().all()


def test_a_copy_reuses_the_counts_and_each_caller_gets_its_own_frame(tmp_path, monkeypatch):
    config = load_config()
    path = _students(tmp_path / "a" / "indicators" / "students.csv", swapped=5)
    first = sources.criteria_counts(path, (2025,), 10, config)
    copy = tmp_path / "b" / "indicators" / "students.csv"
    copy.parent.mkdir(parents=True)
    shutil.copy(path, copy)

    def no_reading(*_args):
        raise AssertionError("read again")

    monkeypatch.setattr(sources, "_criteria_counts", no_reading)
    second = sources.criteria_counts(copy, (2025,), 10, config)
    assert second.equals(first) and second is not first
    second.loc[:, "not_met"] = -1
    assert sources.criteria_counts(path, (2025,), 10, config).equals(first)
