"""The roster writers read a frame a column at a time (reports.roster_values.Columns) and
render each distinct HTML cell once: these tests hold that to the value-by-value
functions it replaced, and keep hostile text escaped when rendered cells are joined."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from ontrack.reports import roster_values
from ontrack.reports.roster_html import render_html
from ontrack.reports.roster_values import (
    Columns,
    by_value,
    column_kind,
    kind_of,
    shown_text,
)
from ontrack.reports.rosters import (
    _xlsx_value,
    csv_column,
    csv_text,
    write_roster,
    xlsx_column,
)

from tests.roster_frames import roster_frame, roster_meta

MIXED = [1, 1.0, True, "1", 0.0, -0.0, np.nan, None, pd.NA, -0.25, 0.004, 0.999, "=cmd", "a\rb", " x ",
         pd.Timestamp("2026-01-02"), date(2026, 1, 3), "2026-01-04", "x\x01y", 7, 7, "x\x01y"]


@pytest.mark.parametrize("kind", ["id", "text", "risk", "rate", "float", "int", "bool", "date"])
def test_a_column_reads_as_its_values_one_by_one(kind: str) -> None:
    numbers = [v for v in MIXED if isinstance(v, int | float) or v is None or v is pd.NA]
    values = {"int": [v for v in MIXED if isinstance(v, int)], "rate": numbers, "float": numbers}.get(kind, MIXED)
    columns = Columns(pd.DataFrame({"c": pd.Series(values, dtype=object)}), {"c": kind})
    assert columns.shown("c") == [shown_text(kind, v) for v in values]
    assert csv_column(kind, "c", values) == [csv_text(kind, "c", v) for v in values]
    assert xlsx_column(kind, values) == [_xlsx_value(kind, v) for v in values]


def test_values_that_compare_equal_but_read_differently_stay_apart() -> None:
    assert by_value(repr, [1, 1.0, True, 0.0, -0.0, 1]) == ["1", "1.0", "True", "0.0", "-0.0", "1"]
    assert Columns(pd.DataFrame({"risk": [0.0, -0.0]})).shown("risk") == ["0%", "-0%"]


@pytest.mark.parametrize(("name", "values", "kind"), [
    ("risk", ["0.5", "high"], "risk"), ("note", ["2026-01-02"], "text"), ("next_date", ["2026-01-02"], "date"),
    ("expires", ["2026-01-02", "later"], "text"), ("staff_id", [1.0, 2.0], "id"), ("reason_1", ["a", None], "text"),
    ("rule_gpa_ok", [1, 0, None], "bool"), ("rule_gpa", [1.5, np.nan], "float"), ("grade_level", [8, 9], "int"),
])
def test_a_columns_kind_is_read_from_its_list_as_from_its_series(name: str, values: list, kind: str) -> None:
    series = pd.Series(values, dtype=object)
    assert kind_of(name, values) == column_kind(name, series) == kind


def test_hostile_text_stays_escaped_when_rendered_cells_are_joined(tmp_path) -> None:
    frame = roster_frame()
    frame.loc[0, "reason_1"] = "</td><td>x</td>"
    frame.loc[1, "reason_2"] = "</dd><dt>fake</dt><dd>"
    frame.loc[2, "staff_name"] = '"></td></tr><script>alert(1)</script>'
    page = write_roster(frame, roster_meta(), tmp_path, "school")["html"].read_text(encoding="utf-8")
    assert "&lt;/td&gt;&lt;td&gt;x&lt;/td&gt;" in page
    assert "&lt;/dd&gt;&lt;dt&gt;fake&lt;/dt&gt;&lt;dd&gt;" in page
    assert "<script>alert(1)</script>" not in page
    rows = re.findall(r'<tr id="row-\d+">.*</tr>', page)
    assert len(rows) == 3
    heads = page.count('<th scope="col" data-col=')
    assert all(row.count("<td") == heads + 1 for row in rows)  # the shown columns and "more"


def test_rows_sharing_a_tier_keep_their_own_rule_mark() -> None:
    frame = pd.concat([roster_frame()] * 2, ignore_index=True)
    frame["risk_tier"] = "on track"
    frame["rule_status"] = ["not_met", "met", "unknown"] * 2
    rows = re.findall(r'<tr id="row-\d+">.*</tr>', render_html(frame, roster_meta()))
    assert ["rule not met" in row for row in rows] == [True, False, False] * 2


def test_a_big_roster_reads_each_distinct_value_once(tmp_path, monkeypatch) -> None:
    frame = pd.concat([roster_frame()] * 400, ignore_index=True)
    frame["student_id"] = [f"{i:05d}" for i in range(len(frame))]
    calls = []

    def counted(kind: str, value: object) -> str:
        calls.append((kind, value))
        return shown_text(kind, value)

    monkeypatch.setattr(roster_values, "shown_text", counted)
    write_roster(frame, roster_meta(), tmp_path, "big")
    distinct = sum(frame[c].nunique(dropna=False) for c in frame.columns)
    assert len(calls) <= distinct  # not 1,200 rows x 24 columns, read again per file


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"student_id": ["1", "", 'a "quoted", id'], "note": ["x\ny", "", "=1+2"], "risk": [0.5, np.nan, 1.0]}),
    pd.DataFrame({"student_id": [""]}),
    pd.DataFrame({"student_id": pd.Series([], dtype=object), "note": pd.Series([], dtype=object)}),
])
def test_the_csv_is_what_pandas_to_csv_wrote(frame: pd.DataFrame, tmp_path) -> None:
    path = write_roster(frame, roster_meta(), tmp_path, "school")["csv"]
    columns = Columns(frame)
    text = pd.DataFrame({n: csv_column(columns.kinds[n], n, columns.values[n]) for n in columns.names},
                        index=range(len(frame)), dtype=object)
    text.to_csv(tmp_path / "pandas.csv", index=False, encoding="utf-8", lineterminator="\n")
    assert path.read_bytes() == (tmp_path / "pandas.csv").read_bytes()
