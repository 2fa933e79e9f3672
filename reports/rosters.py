"""Roster files: one school's (or one counselor's) scored students as CSV, XLSX, HTML.

The scorer hands over a finished, ranked frame, one row per student; this module only
formats it (it never fits, scores or re-ranks) and renders whatever columns it gets, in
order, because the rule's criterion columns differ between models. :func:`write_roster`
checks the frame and writes all three files; the CSV (for tools: exactly the frame's
columns, IDs as text, spreadsheet-formula prefixes neutralised) and the XLSX (for
spreadsheets: "roster" and "about" sheets (the run, the follow-up items, the alerts), student data only as literal strings, never
formulas) are written here, the HTML page for people by :mod:`reports.roster_html`.
How a column's values read is shared by all three (:mod:`reports.roster_values`).
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter
from ontrack.reports.roster_html import render_html
from ontrack.reports.roster_values import (
    NO_STUDENTS,
    NOTES,
    NOTHING_NEW,
    NOTHING_TO_FOLLOW,
    Columns,
    RosterMeta,
    as_day,
    by_value,
    is_number,
    label,
    missing,
    plain_strings,
    plain_text,
)
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from ontrack.paths import write_atomically

__all__ = ["BAD_RISK", "BAD_STEM", "DUPLICATE_COLUMNS", "NOTHING_NEW", "NOT_A_FRAME",
           "NO_STUDENTS", "NO_STUDENT_ID", "RosterMeta", "render_html", "write_roster"]

NOT_A_FRAME = "frame must be a pandas DataFrame. Got {kind} instead."
NO_STUDENT_ID = ("frame must have a 'student_id' column. Got columns {columns} instead; "
                 "rename the ID column to 'student_id'.")
DUPLICATE_COLUMNS = "frame columns must be unique. Got {columns} more than once instead."
BAD_STEM = "stem must be a plain file name without a folder. Got {stem!r} instead."
BAD_RISK = ("risk must be a probability between 0 and 1. Got {value!r} for student "
            "{student!r} instead.")
NUMBER_FORMATS = {"risk": "0.0%", "rate": "0.0%", "float": "0.00", "int": "0", "date": "yyyy-mm-dd"}
# Decimal places in the CSV: risk and rates 3, GPA 2, any other decimal number 3.
PLACES = {"risk": 3, "rate": 3, "float": 3}
# A text cell starting with one of these is prefixed with ' so no spreadsheet runs it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d+)?([eE][+-]?\d+)?")
MIN_WIDTH, MAX_WIDTH = 8, 60


def write_roster(frame: pd.DataFrame, meta: RosterMeta, folder: Path,
                 stem: str) -> dict[str, Path]:
    """Write ``folder/<stem>.csv``, ``.xlsx`` and ``.html`` and return their paths.

    Rows are written in the frame's order (the scorer ranks them). An empty frame still
    gives three files with headers, so a school with no students in the cohort gets a
    roster that says so. Each file is written to a temporary name and then moved into
    place, so a reader never sees half a roster.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(NOT_A_FRAME.format(kind=type(frame).__name__))
    if frame.columns.has_duplicates:
        raise ValueError(DUPLICATE_COLUMNS.format(
            columns=sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})))
    if "student_id" not in frame.columns:
        raise ValueError(NO_STUDENT_ID.format(columns=list(frame.columns)))
    if not stem or stem in {".", ".."} or any(c in stem for c in "/\\\0"):
        raise ValueError(BAD_STEM.format(stem=stem))
    _check_risk(frame)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns = Columns(frame)  # read once, shared by the three files
    paths = {ext: folder / f"{stem}.{ext}" for ext in ("csv", "xlsx", "html")}
    write_atomically(paths["csv"], lambda p: _write_csv(columns, p))
    write_atomically(paths["xlsx"], lambda p: _write_xlsx(columns, meta, p))
    write_atomically(paths["html"], lambda p: p.write_text(
        render_html(frame, meta, columns=columns), encoding="utf-8", newline="\n"))
    return paths


def write_table_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table of text cells as CSV, atomically, every cell defused against
    spreadsheet formulas (the reasons table of ``OUT/rosters/reasons.csv``)."""
    out = pd.DataFrame({c: [_defuse(plain_text(v)) for v in frame[c].tolist()] for c in frame.columns},
                       columns=list(frame.columns))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda p: out.to_csv(p, index=False, lineterminator="\n"))
    return path


def _check_risk(frame: pd.DataFrame) -> None:
    if "risk" not in frame.columns or frame.empty:
        return
    risk = pd.to_numeric(frame["risk"], errors="coerce")
    bad = risk.notna() & ~risk.between(0, 1) | risk.isna() & frame["risk"].notna()
    if bad.any():
        at = int(np.flatnonzero(bad.to_numpy())[0])
        student = plain_text(frame["student_id"].tolist()[at])
        raise ValueError(BAD_RISK.format(value=frame["risk"].tolist()[at], student=student))



# --- CSV ---------------------------------------------------------------------------

def _defuse(text: str) -> str:
    """Stop a spreadsheet from running a text cell such as ``=HYPERLINK(...)`` or
    ``-2+3+cmd|' /C calc'!A0`` as a formula: any text starting with ``= + - @``, a tab
    or a line break gets a leading apostrophe, unless the whole text is one negative
    number ("-0.25" in reasons.csv stays a number). A carriage return inside a cell
    becomes a line feed, so every CSV reader sees the cell quoted and whole."""
    text = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    if text.startswith(FORMULA_STARTS) and not _NEGATIVE_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _csv_number(value: object, kind: str, name: str) -> str:
    """A number as the CSV writes it: rounded (GPA 2 places, risk, rates and other
    decimals 3), without trailing zeros; integers as integers."""
    if missing(value) or not is_number(value):
        return _defuse(plain_text(value))
    if kind == "int":
        return str(int(value))
    places = 2 if "gpa" in name else PLACES[kind]
    text = f"{float(value):.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_text(kind: str, name: str, value: object) -> str:
    """One CSV cell: numbers rounded, ISO dates, booleans as yes/no, text defused."""
    if missing(value):
        return ""
    if kind in ("risk", "rate", "float", "int"):
        return _csv_number(value, kind, name)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    if kind == "date":
        day = as_day(value)
        return day.isoformat() if day else _defuse(plain_text(value))
    return _defuse(plain_text(value))


def csv_column(kind: str, name: str, values: list) -> list[str]:
    """:func:`csv_text` of every value of one column."""
    if plain_strings(kind, values):
        return by_value(_defuse, values)  # csv_text of a string: the string, defused
    return by_value(lambda value: csv_text(kind, name, value), values)


def _write_csv(columns: Columns, path: Path) -> None:
    """The frame's columns, in order, as text (see :func:`csv_text`), written by the csv
    module as pandas' ``to_csv`` writes text (minimal quoting, ``\n`` line ends) without
    first building a frame of them."""
    cells = [csv_column(columns.kinds[name], name, columns.values[name]) for name in columns.names]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(columns.names)
        writer.writerows(zip(*cells, strict=True))


# --- XLSX --------------------------------------------------------------------------

def _xlsx_value(kind: str, value: object) -> object:
    if missing(value):
        return None
    if kind in ("risk", "rate", "float") and is_number(value):
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    if kind == "date":
        day = as_day(value)
        return datetime(day.year, day.month, day.day) if day else _clean(value)
    return _clean(value)


def _clean(value: object) -> str:
    """Text without the control characters that XLSX cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", plain_text(value))


def _widths(columns: Columns) -> list[int]:
    """Column widths in characters: the longest header or value, within bounds."""
    widths = []
    for name in columns.names:
        longest = max([len(label(name)) + 1] + [len(text) for text in columns.shown(name)])
        widths.append(max(MIN_WIDTH, min(MAX_WIDTH, longest + 2)))  # +1: filter arrow
    return widths


def xlsx_column(kind: str, values: list) -> list:
    """The cells of one column as the XLSX holds them (:func:`_xlsx_value`)."""
    if plain_strings(kind, values):
        return by_value(_clean, values)
    return by_value(lambda value: _xlsx_value(kind, value), values)


def _write_xlsx(columns: Columns, meta: RosterMeta, path: Path) -> None:
    """The roster sheets, built by xlsxwriter in memory (a school's roster is small; its
    streaming mode would leave temporary files holding student IDs in /tmp when a run is
    killed); text is always written as text, never as a formula or a link."""
    book = xlsxwriter.Workbook(str(path), {"in_memory": True, "strings_to_formulas": False,
                                           "strings_to_urls": False, "strings_to_numbers": False})
    sheet = book.add_worksheet("roster")
    names, kinds, n_rows = columns.names, columns.kinds, columns.rows
    header = book.add_format({"bold": True, "bg_color": "#E8EEF4"})
    formats = {kind: book.add_format({"num_format": fmt}) for kind, fmt in NUMBER_FORMATS.items()}
    for position, width in enumerate(_widths(columns)):
        sheet.set_column(position, position, width)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, n_rows, max(len(names) - 1, 0))
    for position, name in enumerate(names):
        sheet.write_string(0, position, _clean(label(name)), header)
    for position, name in enumerate(names):  # a column at a time: its kind and format once
        _write_cells(sheet, position, xlsx_column(kinds[name], columns.values[name]), formats.get(kinds[name]))
    if not n_rows:
        sheet.write_string(1, 0, NO_STUDENTS)
    _write_columns(book, names, kinds)
    _write_about(book, meta, n_rows)
    book.close()


def _write_cells(sheet, col: int, cells: list, number_format) -> None:
    """One column's cells from row 1 down: text as text, numbers and days in the
    column's format, nothing for an empty cell."""
    write_string, write_number, write_datetime = sheet.write_string, sheet.write_number, sheet.write_datetime
    for row, value in enumerate(cells, start=1):
        if value is None:
            continue
        if value.__class__ is str:
            write_string(row, col, value)
        elif isinstance(value, datetime):
            write_datetime(row, col, value, number_format)
        else:
            write_number(row, col, value, number_format)


def _write_columns(book, names: list[str], kinds: dict[str, str]) -> None:
    """The "columns" sheet: each roster column's header, its CSV name and what it means."""
    sheet = book.add_worksheet("columns")
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF4"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    for col, (title, width) in enumerate((("Column", 28), ("CSV name", 26), ("Meaning", 100))):
        sheet.write_string(0, col, title, bold)
        sheet.set_column(col, col, width)
    sheet.freeze_panes(1, 0)
    for row, name in enumerate(names, start=1):
        sheet.write_string(row, 0, _clean(label(name)), wrap)
        sheet.write_string(row, 1, _clean(name), wrap)
        sheet.write_string(row, 2, _clean(column_note(name, kinds[name])), wrap)


def column_note(name: str, kind: str) -> str:
    """What a column means, for the "columns" sheet."""
    if name in NOTES:
        return NOTES[name]
    if name.startswith("rule_") and kind == "bool":
        return f"The rule's criterion ({label(name)}): yes met, no not met, empty unknown."
    if name.startswith("rule_"):
        return f"The student's value behind the rule's criterion ({label(name)}), year to date."
    return f"{label(name)} (as scored)."


def _write_about(book, meta: RosterMeta, n_rows: int) -> None:
    sheet = book.add_worksheet("about")
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 90)
    styles = {
        "key": book.add_format({"bold": True, "valign": "top"}),
        "heading": book.add_format({"bold": True, "font_size": 12, "valign": "top"}),
        "value": book.add_format({"text_wrap": True, "valign": "top"}),
        "warn_key": book.add_format({"bold": True, "valign": "top", "bg_color": "#FFF1C9"}),
        "warn_value": book.add_format({"text_wrap": True, "valign": "top", "bg_color": "#FFF1C9"}),
    }
    row = [0]

    def put(key: str, value: object = "", *, heading: bool = False, warn: bool = False) -> None:
        left = styles["warn_key" if warn else "heading" if heading else "key"]
        right = styles["warn_value" if warn else "value"]
        sheet.write_string(row[0], 0, _clean(key), left)
        if isinstance(value, int) and not isinstance(value, bool):
            sheet.write_number(row[0], 1, value, right)
        else:
            sheet.write_string(row[0], 1, _clean(value), right)
        row[0] += 1

    put(meta.title, heading=True)
    if meta.banner:
        put("Warning", meta.banner, warn=True)
    for key, value in (("Model", meta.model), ("Model version", meta.model_version),
                       ("As of", meta.as_of_date), ("Valid until", meta.expires),
                       ("Config hash", meta.config_hash), ("Students", n_rows)):
        put(key, value)
    for header in meta.models:
        put(f"{header.model}", f"as of {header.as_of_date}, {header.ranking}; tiers: {header.tiers}")
    for rule in meta.rules:
        put("Rule", rule)
    put("")
    put("Support tiers", heading=True)
    for tier, count in meta.tier_counts.items():
        put(tier, int(count))
    put("")
    put("Follow up this week", heading=True)
    for student_id, name, item, since, detail in meta.followup:
        put(student_id, f"{name + ': ' if name else ''}{item} since {since} ({detail})")
    if not meta.followup:
        put("", NOTHING_TO_FOLLOW)
    put("")
    put("New since last run", heading=True)
    for student_id, alert in meta.alerts:
        put(student_id, alert)
    if not meta.alerts:
        put("", NOTHING_NEW)
    if meta.notes:
        put("")
        put("Notes", heading=True)
        for note in meta.notes:
            put("", note)
