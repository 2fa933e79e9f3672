"""Validation reads whole tables: BOMs, semicolons and Latin-1, Parquet like CSV (typed or
not), very long lines, unknown columns ignored with a warning; a table it cannot use
(missing, empty, a column missing or repeated) stops with exit 1 and a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_DISTRICT, write_district

from ontrack.cli import main
from tests.validation_runs import report, run_validate

TABLE_PROBLEMS = [
    pytest.param("enrollments", "student_id,school_id,school_year,grade_level\n00017,001,2024,8\n",
                 "missing required column entry_date", id="missing-column"),
    pytest.param("students", b"", "the file is empty", id="empty-file"),
    pytest.param("students", "student_id,gender\n", "has a header but no rows", id="header-only-required"),
    pytest.param("schools", None, "table schools is required", id="missing-table"),
    pytest.param("students", "student_id,Student_ID\n1,2\n", "column names must be unique", id="duplicate-header"),
]


@pytest.mark.parametrize(("table", "text", "message"), TABLE_PROBLEMS)
def test_unusable_tables_stop_with_exit_1(
    tmp_path: Path, capsys, table: str, text: str | bytes | None, message: str
) -> None:
    data = write_district(tmp_path / "data", **{table: text})
    code, output = run_validate(data, tmp_path / "out", capsys)
    assert code == 1
    assert message in output
    if text is not None:
        assert f"{table}.csv" in output  # names the file


def test_missing_column_message_shows_the_column_diff(tmp_path: Path, capsys) -> None:
    data = write_district(tmp_path / "data", enrollments="student_id,school_id\n1,2\n")
    _, output = run_validate(data, tmp_path / "out", capsys)
    assert "expected (required): student_id, school_id, school_year, grade_level, entry_date" in output
    assert "missing:             school_year, grade_level, entry_date" in output


def test_header_only_optional_table_is_fine(tmp_path: Path, capsys) -> None:
    data = write_district(tmp_path / "data", discipline="student_id,school_id,incident_date,action\n")
    code, _ = run_validate(data, tmp_path / "out", capsys)
    assert code == 0
    assert report(tmp_path / "out")["tables"]["discipline"]["rows_in"] == 0


def test_bom_semicolons_and_latin1_are_read(tmp_path: Path, capsys) -> None:
    students = "\ufeffstudent_id;gender;race_ethnicity\n00017;F;hispanic\n00018;M;white\n"
    schools = "school_id,school_name,district_id\n001,Escuela Muñoz,0600001\n002,Roosevelt High,0600001\n"
    data = write_district(
        tmp_path / "data",
        students=students.encode("utf-8"),
        schools=schools.encode("latin-1"),
    )
    out = tmp_path / "out"
    code, output = run_validate(data, out, capsys)
    assert code == 0
    assert "semicolon" in output and "Latin-1" in output
    names = pd.read_parquet(out / "validated" / "schools.parquet")["school_name"]
    assert "Escuela Muñoz" in set(names)
    ids = pd.read_parquet(out / "validated" / "students.parquet")["student_id"]
    assert sorted(ids) == ["00017", "00018"]


def test_unknown_columns_are_ignored_with_a_warning(tmp_path: Path, capsys) -> None:
    text = "student_id,favourite_colour\n00017,red\n00018,blue\n"
    data = write_district(tmp_path / "data", students=text)
    code, output = run_validate(data, tmp_path / "out", capsys)
    assert code == 0
    assert "ignored unknown column(s) favourite_colour" in output


def test_parquet_input_is_equivalent_to_csv(tiny_district: Path, tmp_path: Path, capsys) -> None:
    pq = tmp_path / "pq"
    pq.mkdir()
    for name in TINY_DISTRICT:
        frame = pd.read_csv(tiny_district / f"{name}.csv", dtype=str)
        frame.to_parquet(pq / f"{name}.parquet")
    run_validate(tiny_district, tmp_path / "o_csv", capsys)
    code, _ = run_validate(pq, tmp_path / "o_pq", capsys)
    assert code == 0
    for name in TINY_DISTRICT:
        a = pd.read_parquet(tmp_path / "o_csv" / "validated" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "o_pq" / "validated" / f"{name}.parquet")
        key = [c for c in a.columns if a[c].notna().all()]
        pd.testing.assert_frame_equal(
            a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
        )


def test_parquet_with_its_own_file_row_number_column(tiny_district: Path, tmp_path: Path, capsys) -> None:
    """Rows are numbered by ``file_row_number``; a file with a column of that name is
    copied first (as a CSV is) and gives the same accepted rows, the column ignored."""
    run_validate(tiny_district, tmp_path / "o_csv", capsys)
    frame = pd.read_csv(tiny_district / "attendance.csv", dtype=str).assign(file_row_number="7")
    (tiny_district / "attendance.csv").unlink()
    frame.to_parquet(tiny_district / "attendance.parquet")
    code, output = run_validate(tiny_district, tmp_path / "o_pq", capsys)
    assert code == 0 and "ignored unknown column(s) file_row_number" in output
    a = pd.read_parquet(tmp_path / "o_csv" / "validated" / "attendance.parquet")
    b = pd.read_parquet(tmp_path / "o_pq" / "validated" / "attendance.parquet")
    key = ["student_id", "school_id", "date"]
    pd.testing.assert_frame_equal(
        a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    )


def test_typed_parquet_with_integer_ids_is_read(tiny_district: Path, tmp_path: Path, capsys) -> None:
    (tiny_district / "students.csv").unlink()
    pd.DataFrame({"student_id": [17, 18], "birth_date": pd.to_datetime(["2009-03-01", "2009-07-15"])}).to_parquet(
        tiny_district / "students.parquet"
    )
    code, _ = run_validate(tiny_district, tmp_path / "out", capsys)
    assert code == 0
    # integer IDs lost their zeros upstream: they no longer match enrollments, and say so
    assert report(tmp_path / "out")["tables"]["enrollments"]["errors"]["unknown_reference[student_id]"] == 3


def test_a_line_longer_than_duckdbs_default_is_read_and_counted(tmp_path: Path) -> None:
    """DuckDB skips a line over its default 2 MB limit without a word: a long free-text
    cell must still be a row in (here accepted), never a silent drop."""
    long_cell = "x" * 3_000_000
    discipline = ("student_id,school_id,incident_date,action,incident_type\n"
                  "00017,001,2023-10-02,referral,short\n"
                  f"00017,001,2023-10-03,referral,{long_cell}\n"
                  "00017,001,2023-10-04,referral,short\n")
    data = write_district(tmp_path / "data", discipline=discipline)
    assert main(["validate", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "validation" / "report.json").read_text(encoding="utf-8"))
    table = report["tables"]["discipline"]
    assert table["rows_in"] == 3 == table["rows_accepted"] + table["rows_quarantined"]
