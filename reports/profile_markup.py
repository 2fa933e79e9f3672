"""The parts of a profile page that many students share, rendered once a batch.

A batch's pages repeat the same mark records, months, attendance bars, credit rows,
chart grid lines and waterfall labels over and over; each distinct one is worked out
and rendered here once by a macro of ``templates/profile_rows.html.j2`` (autoescaped like
the rest of the page) and kept in the batch's cache ``rendered`` (a plain dict the caller
makes per batch and drops after it: each forked page writer has its own, nothing is
shared between threads). :mod:`reports.profiles` joins the pieces into each page.
"""

from __future__ import annotations

from functools import cache
from operator import itemgetter
from typing import Any

from markupsafe import Markup
from ontrack.reports.profile_charts import (
    attendance_axes,
    attendance_bar,
    month_label,
    waterfall_chart,
)
from ontrack.reports.profile_values import cell_text, formatted, missing
from ontrack.reports.templating import template


def attendance_section(months: list[dict], summary: list[dict], rendered: dict[tuple, Any]) -> dict:
    """The attendance section: the chart's axes, and its bars and the months table as
    markup. A month's row and its bar depend only on a few numbers many students share
    (the bar also on its place and the chart's top): each is worked out and rendered once
    a batch and kept in ``rendered`` by those numbers. Equal numbers read alike here
    (every use goes through int() or a division), so they need no types in the key."""
    chart = attendance_axes(months) if months else None
    rows, bars = [], []
    macros = row_macros()
    for i, m in enumerate(months):
        numbers = (m["year"], m["month"], m["days"], m["absent"])
        key = ("month", m["school_year"], *numbers)
        row = rendered.get(key)
        if row is None:
            row = rendered[key] = str(macros.month_row(_month_row(m)))
        rows.append(row)
        key = ("bar", i, len(months), chart["peak"], *numbers)
        bar = rendered.get(key)
        if bar is None:
            bar = rendered[key] = str(macros.attendance_bar(attendance_bar(i, len(months), chart["peak"], *numbers)))
        bars.append(bar)
    summary = sorted(summary, key=lambda s: (s["school_year"], str(s["school_id"]), cell_text(s["period_end_date"])))
    totals = [{"school_year": int(s["school_year"]), "school_id": str(s["school_id"]),
               "days": formatted(s["days_enrolled"], "{:g}"), "absent": formatted(s["days_absent"], "{:g}"),
               "period_end": cell_text(s["period_end_date"])} for s in summary]
    return {"chart": with_ticks(chart, rendered), "totals": totals, "totals_html": rows_html("total_row", totals, rendered),
            "months_html": Markup("".join(rows)), "bars_html": Markup("".join(bars))}


def with_ticks(chart: dict | None, rendered: dict[tuple, Any]) -> dict | None:
    """``chart`` with its grid lines and their labels as markup (``ticks_html``),
    rendered once a batch per distinct set (kept in ``rendered``)."""
    if chart is None:
        return None
    key = ("chart_ticks", chart["left"], chart["right"], *[(t["y"], t["label"]) for t in chart["ticks"]])
    done = rendered.get(key)
    if done is None:
        done = rendered[key] = Markup(str(row_macros().chart_ticks(chart)))
    chart["ticks_html"] = done
    return chart


def _month_row(m: dict) -> dict:
    """A row of the months table: the month, its school year, days recorded and absent,
    the share attended."""
    return {"label": month_label(m["year"], m["month"]), "school_year": int(m["school_year"]),
            "days": int(m["days"]), "absent": int(m["absent"]),
            "rate": f"{1 - m['absent'] / m['days']:.1%}" if m["days"] else ""}


def mark_rows(marks: list[dict]) -> list[dict]:
    ordered = sorted(marks, key=_mark_order)
    return [{"school_year": int(m["school_year"]), "term": cell_text(m["term"]),
             "course": cell_text(m["course_name"]) or cell_text(m["course_id"]),
             "subject": cell_text(m["subject"]), "mark": cell_text(m["mark"]),
             "final": "final" if m["is_final"] else "progress",
             "attempted": formatted(m["credits_attempted"], "{:g}"), "earned": formatted(m["credits_earned"], "{:g}")}
            for m in ordered]


def marks_html(marks: list[dict], rendered: dict[tuple, Any]) -> tuple[list[dict], Markup, list[dict]]:
    """The marks table's rows (:func:`mark_rows`) and markup in the table's order, and the
    credits by term (:func:`_credit_sums`). A mark record is one dict shared by every student
    who has it (gathered so), so its row, markup, place in the order and credits are
    worked out once a batch and kept in ``rendered`` by the record's identity; the entry
    holds the record, so no other record can take that identity while ``rendered`` lives."""
    memo = rendered.get(_MARK_ENTRIES)
    if memo is None:
        memo = rendered[_MARK_ENTRIES] = {}
    entries = list(map(memo.get, map(id, marks)))
    if None in entries:
        for i, m in enumerate(marks):
            if entries[i] is None:
                entries[i] = memo[id(m)] = _mark_entry(m)
    credits = _credit_sums(entries)  # in the records' order, as the plain sums ran
    entries.sort(key=itemgetter(0))  # stable: ties keep the records' order
    return list(map(itemgetter(1), entries)), Markup("".join(map(itemgetter(2), entries))), credits


_MARK_ENTRIES = ("mark_entries",)  # the key of the per-record entries in ``rendered``


def _mark_entry(m: dict) -> tuple:
    """A mark record's place in the table's order, row, markup, the record itself and,
    for a final mark, its term and credits attempted and earned (None when missing)."""
    row = mark_rows([m])[0]
    credit = None
    if m["is_final"]:
        credit = ((int(m["school_year"]), cell_text(m["term"])),
                  *(None if missing(m[c]) else float(m[c]) for c in ("credits_attempted", "credits_earned")))
    return _mark_order(m), row, str(row_macros().mark_row(row)), m, credit


def _credit_sums(entries: list[tuple]) -> list[dict]:
    """Credits attempted and earned by school year and term, from final marks (their
    entries, :func:`_mark_entry`), summed in the records' order."""
    sums: dict[tuple, list] = {}
    for entry in entries:
        credit = entry[4]
        if credit is not None:
            total = sums.setdefault(credit[0], [None, None])
            for i in (0, 1):
                if credit[i + 1] is not None:
                    total[i] = (total[i] or 0.0) + credit[i + 1]
    return [{"school_year": y, "term": t, "attempted": formatted(a, "{:g}"), "earned": formatted(e, "{:g}")}
            for (y, t), (a, e) in sorted(sums.items())]


def _mark_order(m: dict) -> tuple:
    return m["school_year"], str(m["term"]), str(m["subject"]), str(m["course_id"])


def rows_html(macro: str, rows: list[dict], rendered: dict[tuple, Any]) -> Markup:
    """Table rows (or cells) as markup, each distinct one rendered and escaped once by
    ``macro`` of ``profile_rows.html.j2`` and kept in ``rendered`` for the next pages
    (students share most: escaping every cell of every page was most of rendering).
    A key holds each value's type too: 1, 1.0 and True are equal keys but read apart."""
    keys = [(macro, *[(type(v), v) for v in row.values()]) for row in rows]
    for key, row in zip(keys, rows):
        if key not in rendered:
            rendered[key] = str(getattr(row_macros(), macro)(row))
    return Markup("".join([rendered[key] for key in keys]))


@cache
def row_macros() -> Any:  # the template's module: its macros, built once
    return template("profile_rows.html.j2").module


def waterfall(shap: dict, rendered: dict[tuple, Any]) -> dict:
    """:func:`waterfall_chart`, each row with its grid line and feature name as markup
    (``label_html``): they depend only on the row's place and name, so each is rendered
    once a batch and kept in ``rendered``."""
    chart = waterfall_chart(shap)
    for row in chart["rows"]:
        key = ("waterfall_label", chart["left"], chart["right"], row["label_y"], row["label"])
        done = rendered.get(key)
        if done is None:
            done = rendered[key] = Markup(str(row_macros().waterfall_label(chart, row)))
        row["label_html"] = done
    return chart
