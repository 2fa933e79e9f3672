"""Roster files: three per school, named by its stem; the CSV round-trips with IDs as
text, rounded numbers, ISO dates and yes/no; the XLSX is a usable spreadsheet; formula
payloads are defused; bad input is refused; rows are ordered by tier, then risk; no
temporary file is written outside the roster folder.

The HTML page is tested in tests/test_rosters_html.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from ontrack.reports.roster_values import label
from ontrack.reports.rosters import (
    BAD_RISK,
    NO_STUDENT_ID,
    NO_STUDENTS,
    NOTHING_NEW,
    write_roster,
)

from tests.roster_frames import BANNER, EVIL, roster_frame, roster_meta

PAYLOADS = ["=1+1", "+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx"]


@pytest.fixture
def written(tmp_path: Path) -> dict[str, Path]:
    """The three files of the small roster, written to ``tmp_path/rosters``."""
    return write_roster(roster_frame(), roster_meta(), tmp_path / "rosters", "001")


def test_writes_three_files_named_by_stem(written, tmp_path):
    folder = tmp_path / "rosters"
    assert written == {ext: folder / f"001.{ext}" for ext in ("csv", "xlsx", "html")}
    assert all(path.stat().st_size > 0 for path in written.values())
    assert sorted(p.name for p in folder.iterdir()) == ["001.csv", "001.html", "001.xlsx"]


def test_csv_round_trips_with_ids_as_text(written):
    frame = roster_frame()
    back = pd.read_csv(written["csv"], dtype=str, keep_default_na=False)
    assert list(back.columns) == list(frame.columns)
    assert back["student_id"].tolist() == ["00017", "00203", "01000"]
    assert back["staff_id"].tolist() == ["0042", "0042", ""]
    assert back["school_id"].tolist() == ["001"] * 3
    assert back["rule_gpa"].tolist()[2] == ""  # NaN is empty
    assert float(back["risk"][0]) == pytest.approx(0.812)
    assert back["reason_1"][1] == EVIL  # data is kept as data; HTML escapes it
    assert back["reason_2"][2].startswith("'=")  # no formula when opened in a spreadsheet
    assert "Ms. Ávila" in written["csv"].read_text(encoding="utf-8")


def test_csv_rounds_numbers_writes_iso_dates_and_yes_no(tmp_path):
    frame = roster_frame().assign(
        risk=[0.81234567, 0.0041, 0.35], rule_gpa=[2.3456789, 3.5, np.nan],
        rule_attendance_rate=[0.8765432, 0.97, 0.955], rule_credits_vs_pace=[-1.23456, 0.5, 0.0],
        as_of_date=pd.to_datetime(["2026-11-15"] * 3), expires=[pd.Timestamp("2027-01-31").date()] * 3)
    path = write_roster(frame, roster_meta(), tmp_path, "r")["csv"]
    text = path.read_text(encoding="utf-8")
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(back.columns) == list(frame.columns)  # stable order, machine names
    assert not re.search(r"\d\.\d{4,}", text)  # no float with more than 3 decimals
    assert back["risk"].tolist() == ["0.812", "0.004", "0.35"]
    assert back["rule_gpa"].tolist() == ["2.35", "3.5", ""]
    assert back["rule_attendance_rate"].tolist() == ["0.877", "0.97", "0.955"]
    assert back["rule_credits_vs_pace"].tolist() == ["-1.235", "0.5", "0"]  # numbers stay numbers
    assert back["rule_gpa_ok"].tolist() == ["no", "yes", ""]
    assert back["as_of_date"].tolist() == ["2026-11-15"] * 3 and back["expires"].tolist() == ["2027-01-31"] * 3
    assert "True" not in text and "False" not in text


def test_xlsx_is_a_usable_spreadsheet(written):
    frame = roster_frame()
    book = openpyxl.load_workbook(written["xlsx"])
    assert book.sheetnames == ["roster", "columns", "about"]
    sheet = book["roster"]
    header = [c.value for c in sheet[1]]
    assert header == [label(c) for c in frame.columns]
    assert header[:3] == ["Student ID", "School ID", "School"] and not any("_" in h for h in header)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:X{len(frame) + 1}"
    col = {name: header.index(label(name)) for name in frame.columns}
    rows = list(sheet.iter_rows(min_row=2, values_only=False))
    assert [r[col["student_id"]].value for r in rows] == ["00017", "00203", "01000"]
    assert all(r[col["student_id"]].data_type == "s" for r in rows)
    assert rows[0][col["risk"]].value == pytest.approx(0.8123)
    assert "%" in rows[0][col["risk"]].number_format
    assert [r[col["risk"]].value for r in rows] == pytest.approx([0.8123, 0.0041, 0.35])
    assert [r[col["rank"]].value for r in rows] == [1, 3, 2]
    assert [r[col["rule_gpa_ok"]].value for r in rows] == ["no", "yes", None]
    for name in ("as_of_date", "expires"):  # real dates, shown as dates
        assert all(r[col[name]].is_date and r[col[name]].number_format == "yyyy-mm-dd" for r in rows)
    assert rows[0][col["as_of_date"]].value.date().isoformat() == "2026-11-15"
    assert all(r[col["rule_gpa"]].data_type == "n" for r in rows[:2])
    assert rows[0][col["rule_attendance_rate"]].number_format == "0.0%"
    assert rows[0][col["grade_level"]].value == 8
    assert rows[2][col["rule_gpa"]].value is None
    formula = rows[2][col["reason_2"]]
    assert formula.data_type == "s" and formula.value.startswith("=HYPERLINK")
    # Equal neighbouring widths may be stored as one range: every column is covered.
    dims = list(sheet.column_dimensions.values())
    covered = {i for d in dims for i in range(d.min, d.max + 1)}
    assert covered >= set(range(1, len(header) + 1)) and all(8 <= d.width <= 60 for d in dims)
    width = {i: d.width for d in dims for i in range(d.min, d.max + 1)}
    assert width[col["reason_1"] + 1] > width[col["grade_level"] + 1]


def test_xlsx_about_sheet_has_the_run_facts(written):
    about = openpyxl.load_workbook(written["xlsx"])["about"]
    text = "\n".join(str(v) for row in about.iter_rows(values_only=True) for v in row if v)
    for fact in ("grade8", "2026-11-15", "2027-01-31", "0a1b2c3d", BANNER,
                 "New since last run", "intensive support", "flashlight", EVIL):
        assert fact in text


def test_empty_school_still_gets_three_files(tmp_path):
    empty = roster_frame().iloc[0:0]
    meta = roster_meta(banner=None, alerts=[], tier_counts={})
    paths = write_roster(empty, meta, tmp_path, "009")
    back = pd.read_csv(paths["csv"], dtype=str)
    assert list(back.columns) == list(empty.columns) and back.empty
    sheet = openpyxl.load_workbook(paths["xlsx"])["roster"]
    assert [c.value for c in sheet[1]] == [label(c) for c in empty.columns]
    assert sheet["A2"].value == NO_STUDENTS
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:X1"
    page = paths["html"].read_text(encoding="utf-8")
    assert NO_STUDENTS in page and NOTHING_NEW in page
    assert 'role="alert"' not in page and "<th scope" in page


def test_ids_that_arrive_as_numbers_are_written_as_text(tmp_path):
    frame = roster_frame()[["student_id", "risk"]].assign(student_id=[17.0, 203.0, 1000.0])
    paths = write_roster(frame, roster_meta(), tmp_path, "x")
    sheet = openpyxl.load_workbook(paths["xlsx"])["roster"]
    assert [sheet.cell(row=r, column=1).value for r in (2, 3, 4)] == ["17", "203", "1000"]


def test_nullable_dtypes_render(tmp_path):
    frame = roster_frame().astype({"student_id": "string", "grade_level": "Int64",
                                   "risk": "Float64", "rank": "Int64"})
    frame.loc[2, ["risk", "grade_level", "rank"]] = pd.NA
    paths = write_roster(frame, roster_meta(), tmp_path, "n")
    back = pd.read_csv(paths["csv"], dtype=str, keep_default_na=False)
    assert back["student_id"].tolist() == ["00017", "00203", "01000"]
    assert back.loc[2, ["risk", "grade_level", "rank"]].tolist() == ["", "", ""]
    sheet = openpyxl.load_workbook(paths["xlsx"])["roster"]
    assert [sheet.cell(row=r, column=8).value for r in (2, 3, 4)] == [0.8123, 0.0041, None]
    page = paths["html"].read_text(encoding="utf-8")
    assert '<td class="num" data-sort=""></td>' in page  # blank risk sorts last


@pytest.mark.parametrize(("frame", "error", "match"), [
    ([1, 2], TypeError, "frame must be a pandas DataFrame. Got list instead."),
    (pd.DataFrame({"id": ["1"]}), ValueError, re.escape(NO_STUDENT_ID[:40])),
    (pd.DataFrame({"student_id": ["1"], "risk": [1.7]}), ValueError,
     re.escape(BAD_RISK.format(value=1.7, student="1"))),
])
def test_bad_input_is_refused(tmp_path, frame, error, match):
    with pytest.raises(error, match=match):
        write_roster(frame, roster_meta(), tmp_path, "x")


@pytest.mark.parametrize("stem", ["", "../x", "a/b", ".."])
def test_stem_must_be_a_plain_name(tmp_path, stem):
    with pytest.raises(ValueError, match="stem must be a plain file name"):
        write_roster(roster_frame(), roster_meta(), tmp_path, stem)


def test_formula_payloads_are_defused_in_csv_and_text_in_xlsx(tmp_path):
    frame = pd.DataFrame({"student_id": ["1", "2", "3", "4", "5", "6"], "student_name": PAYLOADS,
                          "school_name": list(reversed(PAYLOADS)), "reason_1": PAYLOADS})
    paths = write_roster(frame, roster_meta(), tmp_path, "f")
    back = pd.read_csv(paths["csv"], dtype=str, keep_default_na=False)
    for column in ("student_name", "school_name", "reason_1"):
        assert all(v.startswith("'") for v in back[column]), column
    assert back["student_name"].tolist() == ["'" + p.replace("\r", "\n") for p in PAYLOADS]
    sheet = openpyxl.load_workbook(paths["xlsx"])["roster"]
    cells = [sheet.cell(row=r, column=2) for r in range(2, 8)]
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    assert [c.value.replace("_x000D_", "\r").strip() for c in cells] == [p.strip() for p in PAYLOADS]


def test_plain_numbers_in_text_tables_are_not_defused(tmp_path):
    from ontrack.reports.rosters import write_table_csv

    path = write_table_csv(pd.DataFrame({"value": ["-0.25", "-2+3+cmd|' /C calc'!A0", "1e-05"]}), tmp_path / "t.csv")
    assert pd.read_csv(path, dtype=str)["value"].tolist() == ["-0.25", "'-2+3+cmd|' /C calc'!A0", "1e-05"]


def test_rows_sort_by_tier_then_risk_never_by_school_first():
    from ontrack.reports.roster_values import roster_order

    frame = pd.DataFrame({"student_id": list("abcdef"), "school_id": ["B", "A", "B", "A", "A", "B"],
                          "model": "grade8", "risk_tier": ["on track", "check in", "intensive support",
                                                            "intensive support", "on track", "check in"],
                          "risk": [0.1, 0.3, 0.6, 0.9, 0.15, 0.4], "rank": [6, 4, 2, 1, 5, 3]})
    ordered = roster_order(frame, ["intensive support", "check in", "on track"])
    assert ordered["student_id"].tolist() == ["d", "c", "f", "b", "e", "a"]
    rule = frame.assign(risk=np.nan, rank=[1, 2, 3, 1, 2, 3])  # ranked by the rule: its rank within a tier
    assert roster_order(rule, ["intensive support", "check in", "on track"])["student_id"].tolist() == \
        ["d", "c", "b", "f", "a", "e"]


def test_tier_cuts_are_stated_from_the_config():
    from ontrack.reports.publish import model_header, tiers_text

    from ontrack.config import config_from_dict

    bands = config_from_dict({})
    assert tiers_text("model", bands) == "intensive support at risk ≥ 50%, check in at risk ≥ 20%, on track below 20%"
    capacity = config_from_dict({"scoring": {"tier_mode": "capacity", "capacity_per_school": [10, 25]}})
    assert tiers_text("model", capacity).startswith("intensive support: the 10 highest-risk students of each school")
    assert "two or more criteria are not met" in tiers_text("rule", bands)
    run = {"model": "grade8", "version": "3", "as_of": "2026-01-31", "ranked_by": "rule",
           "banner": "This list is ranked by the rule, not the model, because no champion is set. No risk is shown."}
    assert model_header(run, bands).ranking == "ranked by the rule because no champion is set"


def test_no_temporary_file_outside_the_roster_folder(tmp_path: Path, monkeypatch) -> None:
    """A killed run must not leave student IDs in /tmp: the spreadsheet is built in
    memory (no temporary file is made anywhere while the three files are written)."""
    import tempfile

    def refuse(*_args, **_kwargs):
        raise AssertionError("a roster must not write temporary files outside its folder")

    for name in ("mkstemp", "mkdtemp", "TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, refuse)
    paths = write_roster(roster_frame(), roster_meta(), tmp_path / "rosters", "001")
    assert all(p.is_file() for p in paths.values())
