"""Every row rule of validation, each with a failing example: the row is quarantined with
its reason, the line it came from and its text (names withheld, formulas defused), and
the accounting holds (rows in = accepted + quarantined), never a traceback.

Reading whole tables (encodings, Parquet, headers, unusable files that stop with exit 1)
is tested in tests/test_validation_reading.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_DISTRICT, write_district

from ontrack.cli import main
from tests.validation_runs import assert_accounting, quarantine, report, run_validate


def test_clean_district_is_accepted_whole(tiny_district: Path, tmp_path: Path, capsys) -> None:
    code, text = run_validate(tiny_district, tmp_path / "out", capsys)
    assert code == 0
    rep = report(tmp_path / "out")
    assert {t: v["rows_quarantined"] for t, v in rep["tables"].items()} == {
        "schools": 0, "students": 0, "enrollments": 0, "attendance": 0, "course_marks": 0,
    }
    assert rep["config_hash"] and rep["config_version"] == 1
    assert "student_years" in rep["missing_tables"]
    assert "enrollments" in text  # the readable summary lists tables


def test_ids_keep_leading_zeros_and_types(tiny_district: Path, tmp_path: Path, capsys) -> None:
    run_validate(tiny_district, tmp_path / "out", capsys)
    students = pd.read_parquet(tmp_path / "out" / "validated" / "students.parquet")
    assert sorted(students["student_id"]) == ["00017", "00018"]
    marks = pd.read_parquet(tmp_path / "out" / "validated" / "course_marks.parquet")
    by_course = marks.set_index("course_id")
    assert by_course.loc["MATH8", "mark_points"] == pytest.approx(3.3)
    assert by_course.loc["ELA8", "mark_letter"] == "A"  # numeric 91 on the default scale
    assert pd.isna(by_course.loc["ART8", "mark_points"])  # P carries no grade points


# (table, replacement text, expected error kind in the quarantine reason)
ROW_PROBLEMS = [
    pytest.param(
        "enrollments",
        TINY_DISTRICT["enrollments"] + "00017,002,2024,8,2024-03-01,2024-02-01,transfer\n",
        "exit_before_entry[exit_date]",
        id="exit-before-entry",
    ),
    pytest.param(
        "enrollments",
        TINY_DISTRICT["enrollments"] + "00017,002,2024,14,2024-03-01,,\n",
        "out_of_range[grade_level]",
        id="grade-level-out-of-range",
    ),
    pytest.param(
        "enrollments",
        TINY_DISTRICT["enrollments"] + "00017,002,2024,9,2022-03-01,,\n",
        "outside_school_year[entry_date]",
        id="entry-outside-school-year",
    ),
    pytest.param(
        "enrollments",
        TINY_DISTRICT["enrollments"] + "99999,001,2024,8,2023-08-21,,\n",
        "unknown_reference[student_id]",
        id="unknown-student",
    ),
    pytest.param(
        "attendance",
        TINY_DISTRICT["attendance"] + "00017,002,2023-09-07,present\n",
        "no_enrollment[date]",
        id="orphan-attendance",
    ),
    pytest.param(
        "attendance",
        TINY_DISTRICT["attendance"] + "00017,001,2023-09-07,holiday\n",
        "unknown_value[status]",
        id="unknown-status",
    ),
    pytest.param(
        "attendance",
        TINY_DISTRICT["attendance"] + "00017,001,2024-02-30,present\n",
        "wrong_type[date]",
        id="impossible-date",
    ),
    pytest.param(
        "attendance",
        TINY_DISTRICT["attendance"] + "00017,001,2023-09-05,present\n",
        "duplicate_row",
        id="exact-duplicate",
    ),
    pytest.param(
        "students",
        TINY_DISTRICT["students"] + "00017,M,hispanic,2009-03-01\n",
        "duplicate_key",
        id="conflicting-duplicate-key",
    ),
    pytest.param(
        "course_marks",
        TINY_DISTRICT["course_marks"] + "00017,001,2024,S2,MATH8,math,E,true,0.5\n",
        "mark_outside_scale[mark]",
        id="letter-not-on-scale",
    ),
    pytest.param(
        "course_marks",
        TINY_DISTRICT["course_marks"] + "00017,001,2024,S2,MATH8,math,105,true,0.5\n",
        "mark_outside_scale[mark]",
        id="number-above-100",
    ),
    pytest.param(
        "course_marks",
        TINY_DISTRICT["course_marks"] + "00017,001,2024,S2,SCI8,science,C,true,-0.5\n",
        "out_of_range[credits_earned]",
        id="negative-credits",
    ),
    pytest.param(
        "course_marks",
        TINY_DISTRICT["course_marks"] + "00017,001,2024,S2,SCI8,science,C,maybe,0.5\n",
        "wrong_type[is_final]",
        id="not-a-boolean",
    ),
    pytest.param(
        "enrollments",
        TINY_DISTRICT["enrollments"] + "00017,002,twenty,9,2024-03-01,,\n",
        "wrong_type[school_year]",
        id="wrong-type-integer",
    ),
    pytest.param(
        "attendance",
        TINY_DISTRICT["attendance"] + "00017,001,2023-09-08,present,oops\n",
        "malformed_line",
        id="too-many-fields",
    ),
    pytest.param(
        "students",
        TINY_DISTRICT["students"] + ",F,white,2009-01-01\n",
        "missing_value[student_id]",
        id="empty-required-value",
    ),
]


@pytest.mark.parametrize(("table", "text", "kind"), ROW_PROBLEMS)
def test_bad_rows_are_quarantined_with_reason(
    tmp_path: Path, capsys, table: str, text: str, kind: str
) -> None:
    data = write_district(tmp_path / "data", **{table: text})
    out = tmp_path / "out"
    code, _ = run_validate(data, out, capsys)
    assert code == 0
    rows = quarantine(out, table)
    assert rows, f"nothing quarantined in {table}"
    assert any(r["reason"].startswith(kind) or f"; {kind}" in r["reason"] for r in rows)
    assert report(out)["tables"][table]["errors"].get(kind, 0) >= 1
    assert_accounting(out)


def test_multi_district_school_year_start(tmp_path: Path, capsys) -> None:
    schools = "school_id,school_name,district_id\n001,Lincoln Middle,A\n002,Roosevelt High,B\n"
    enrollments = (
        "student_id,school_id,school_year,grade_level,entry_date,exit_date,exit_reason\n"
        "00017,001,2024,8,2023-07-15,,\n"  # A starts Jul 1: fine
        "00018,002,2024,8,2023-07-15,,\n"  # B starts Aug 1: before its 2024 year
    )
    config = tmp_path / "district.yaml"
    config.write_text("config_version: 1\ndistricts:\n  B:\n    school_year_start: '08-01'\n")
    data = write_district(tmp_path / "data", schools=schools, enrollments=enrollments, attendance=None)
    code = main(["validate", str(data), "--out", str(tmp_path / "out"), "--config", str(config), "--quiet"])
    assert code == 0
    rows = quarantine(tmp_path / "out", "enrollments")
    assert [r["student_id"] for r in rows] == ["00018"]
    assert "outside_school_year[entry_date]" in rows[0]["reason"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_synth_then_validate_catches_every_planted_problem(tmp_path: Path, capsys, fmt: str) -> None:
    """`ontrack synth D && ontrack validate D --out O` exits 0, the accounting holds, and
    each kind of mess the generator plants is quarantined."""
    data, out = tmp_path / "d", tmp_path / "o"
    assert main(["synth", str(data), "--students", "400", "--format", fmt, "--quiet"]) == 0
    code, _ = run_validate(data, out, capsys)
    assert code == 0
    assert_accounting(out)
    tables = report(out)["tables"]
    planted = {
        ("attendance", "duplicate_row"), ("attendance", "unknown_value[status]"),
        ("attendance", "wrong_type[date]"), ("attendance", "no_enrollment[date]"),
        ("course_marks", "mark_outside_scale[mark]"), ("course_marks", "out_of_range[credits_earned]"),
        ("enrollments", "exit_before_entry[exit_date]"), ("students", "duplicate_key"),
    }
    for table, kind in planted:
        assert tables[table]["errors"].get(kind, 0) >= 1, (table, kind)


def test_rerun_replaces_stale_quarantine(tmp_path: Path, capsys) -> None:
    bad = write_district(tmp_path / "bad", attendance=TINY_DISTRICT["attendance"] + "00017,001,2023-09-07,holiday\n")
    out = tmp_path / "out"
    run_validate(bad, out, capsys)
    assert quarantine(out, "attendance")
    good = write_district(tmp_path / "good")
    run_validate(good, out, capsys)
    assert not quarantine(out, "attendance")


def test_quarantine_names_the_csv_line_and_its_text(tmp_path: Path, capsys) -> None:
    """source_line is the 1-based line an editor shows (blank lines and a quoted line
    break counted), raw_line that line's text; malformed lines too."""
    base = TINY_DISTRICT["attendance"].rstrip("\n").split("\n")
    n = len(base)
    extra = [
        "00017,001,2023-09-07,holiday",  # line n + 1: an unknown status
        "",  # line n + 2: blank, not a record
        "00018,001,2023-09-05,tardy,extra",  # line n + 3: malformed
        '00018,001,"2023-09', '-06",present',  # lines n + 4 and n + 5: one record, a bad date
        "00017,001,2023-13-01,present",  # line n + 6: a bad date
    ]
    data = write_district(tmp_path / "data", attendance="\n".join(base + extra) + "\n")
    code, _ = run_validate(data, tmp_path / "out", capsys)
    assert code == 0
    rows = quarantine(tmp_path / "out", "attendance")
    got = {(int(r["source_line"]), r["raw_line"]) for r in rows}
    assert got == {
        (n + 1, extra[0]), (n + 3, extra[2]), (n + 4, extra[3] + "\n" + extra[4]), (n + 6, extra[5]),
    }
    assert_accounting(tmp_path / "out")


def test_quarantine_rows_of_parquet_and_of_names(tiny_district: Path, tmp_path: Path, capsys) -> None:
    """Parquet: source_line is the 1-based row, raw_line empty. A table with names:
    the line is given, its text withheld (names never reach a quarantine file)."""
    frame = pd.read_csv(tiny_district / "attendance.csv", dtype=str)
    frame.loc[2, "status"] = "holiday"
    (tiny_district / "attendance.csv").unlink()
    frame.to_parquet(tiny_district / "attendance.parquet")
    students = ("student_id,first_name,last_name,birth_date\n00017,Zelda,Quist,2009-03-01\n"
                "00018,Ann,Lee,2009-07-15\n00019,Yorick,Pemberton,2009-02-30\n00020,Xavier,Oddly,2009-01-01,extra\n")
    (tiny_district / "students.csv").write_text(students, encoding="utf-8")
    code, _ = run_validate(tiny_district, tmp_path / "out", capsys)
    assert code == 0
    rows = quarantine(tmp_path / "out", "attendance")
    assert [(r["source_line"], r["raw_line"]) for r in rows] == [("3", "")]
    named = quarantine(tmp_path / "out", "students")
    assert sorted((r["source_line"], r["raw_line"]) for r in named) == [
        ("4", "(withheld: a name)"), ("5", "(withheld: a name)")]
    text = (tmp_path / "out" / "validation" / "quarantine" / "students.csv").read_text()
    assert not any(name in text for name in ("Yorick", "Pemberton", "Xavier", "Oddly"))


def test_quarantine_cells_a_spreadsheet_would_run_are_written_as_text(tmp_path: Path) -> None:
    """Rejected rows are the district's own text: ``=HYPERLINK(...)`` in a quarantine
    file opens as text, and the rows still add up."""
    attendance = TINY_DISTRICT["attendance"] + '00017,001,2023-09-07,"=HYPERLINK(""x"")"\n-1+1,001,2023-09-08,present\n'
    data = write_district(tmp_path / "data", attendance=attendance)
    assert main(["validate", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    quarantine = pd.read_csv(tmp_path / "out" / "validation" / "quarantine" / "attendance.csv",
                             dtype=str, keep_default_na=False)
    cells = [v for column in quarantine.columns for v in quarantine[column]]
    assert cells and not [v for v in cells if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"x\")" in set(quarantine["status"]) and "'-1+1" in set(quarantine["student_id"])


def test_repeated_rows_of_a_student_whose_id_is_hostile_sql_are_found(tmp_path: Path, capsys) -> None:
    """The students whose keys repeat are written into the comparison's SQL as quoted
    constants when few: an ID with quotes, a backslash and SQL in it is only a value."""
    hostile = "1'); DROP TABLE flags; --\\"
    quoted = '"' + hostile.replace('"', '""') + '"'
    students = TINY_DISTRICT["students"] + f"{quoted},F,white,2009-01-01\n"
    enrollments = TINY_DISTRICT["enrollments"] + f"{quoted},001,2024,8,2023-08-21,,\n"
    attendance = TINY_DISTRICT["attendance"] + f"{quoted},001,2023-09-05,present\n" * 2 + \
        f"{quoted},001,2023-09-06,absent_excused\n{quoted},001,2023-09-06,present\n"
    data = write_district(tmp_path / "data", students=students, enrollments=enrollments, attendance=attendance)
    code, _ = run_validate(data, tmp_path / "out", capsys)
    assert code == 0
    assert_accounting(tmp_path / "out")
    rows = quarantine(tmp_path / "out", "attendance")
    assert {r["student_id"] for r in rows} == {hostile}
    assert sorted(r["reason"].split(":")[0] for r in rows) == ["duplicate_key", "duplicate_key", "duplicate_row"]
    accepted = pd.read_parquet(tmp_path / "out" / "validated" / "attendance.parquet")
    assert (accepted["student_id"] == hostile).sum() == 1 and len(accepted) == 5
