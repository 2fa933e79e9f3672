"""Building blocks of the report's pages: table cells as data, tables, figures, pages.

No HTML is written here: cells are small dicts (tag, attributes, text) that the
autoescaping templates ``reports/templates/report_*.html.j2`` render, so every school
name, group label or ID from the data reaches a page as escaped text.

Every rate shown in the report goes through :func:`rate_td`, which writes the cell's
key (``data-cell``) so that a test can map each number back to its row of rates.csv;
a withheld cell shows a dash and never a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd
from markupsafe import Markup
from ontrack.reports.district.data import Cell
from ontrack.reports.templating import render

DASH = "\u2014"
# What a withheld cell says about itself (its tooltip), by why it was withheld.
WITHHELD = {
    "primary": "withheld: small group",
    "complementary": "withheld to protect a smaller group",
}
# The mark a withheld cell shows after its dash: * small group, † protecting one.
MARK = {"primary": "*", "complementary": "\u2020"}


def fragment(name: str, **context: object) -> Markup:
    """A rendered template (already escaped) to place inside another template."""
    return Markup(render(name, **context))


def pct(rate: float | None, digits: int = 1) -> str:
    """A rate as a percentage, or a dash."""
    return DASH if rate is None else f"{rate * 100:.{digits}f}%"


def points(diff: float | None) -> str:
    """A difference of two rates in percentage points, signed."""
    return "" if diff is None else f"{diff * 100:+.1f} pts"


def td(
    text: object = "",
    *,
    tag: str = "td",
    href: str | None = None,
    gap: str = "",
    bar: int | None = None,
    label: str = "",
    after: str = "",
    **attrs: object,
) -> dict:
    """One table cell as data: ``attrs`` become attributes (``data_cell`` ->
    ``data-cell``; ``klass`` -> ``class``); ``href`` makes the text a link."""
    named = {
        ("class" if k == "klass" else k.replace("_", "-")): v
        for k, v in attrs.items()
        if v is not None
    }
    return {
        "tag": tag, "attrs": named, "text": str(text), "href": href, "gap": gap,
        "bar": bar, "label": label, "after": after,
    }  # fmt: skip


def th(text: object, **kwargs: object) -> dict:
    """A row-heading cell."""
    return td(text, tag="th", scope="row", **kwargs)


def row(cells: Sequence[dict], **attrs: object) -> dict:
    """A table row: its cells and its own attributes (``data_size`` -> ``data-size``)."""
    return {
        "cells": list(cells),
        "attrs": {k.replace("_", "-"): v for k, v in attrs.items() if v is not None},
    }


def withheld_words(cell: Cell) -> str:
    """Why a withheld cell is withheld, in words ("withheld: small group", ...)."""
    return WITHHELD.get(cell.suppression or "primary", WITHHELD["primary"])


def cell_attrs(cell: Cell) -> dict[str, str]:
    """The data attributes that tie a shown rate to its row of rates.csv."""
    attrs = {"data-cell": cell.key}
    if cell.suppressed or cell.rate is None:
        attrs["data-suppressed"] = "1"
        attrs["data-suppression"] = cell.suppression or "primary"
    return attrs


def rate_td(cell: Cell | None, gap: str = "") -> dict:
    """A table cell for a published rate: the rate, or a dash when withheld or absent."""
    if cell is None:
        return td(DASH, klass="sup", title="no students")
    if cell.suppressed or cell.rate is None:
        return td(
            DASH + MARK.get(cell.suppression or "primary", "*"), klass="sup",
            data_cell=cell.key, data_suppressed="1",
            data_suppression=cell.suppression or "primary", data_sort="",
            title=withheld_words(cell),
        )  # fmt: skip
    tip = (
        f"{cell.n_met:,} of {cell.n:,} students"
        if cell.n is not None and cell.n_met is not None
        else ""
    )
    return td(
        pct(cell.rate), klass="num", data_cell=cell.key,
        data_sort=f"{cell.rate:.4f}", title=tip, gap=gap,
    )  # fmt: skip


def count_td(value: object, min_size: int) -> dict:
    """A count cell: the number, or a dash when it was withheld (fewer than min_size)."""
    if (
        value is None
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    ):
        return td(
            f"{DASH}*", klass="sup", data_sort="", title=f"fewer than {min_size} students"
        )
    number = int(value)
    return td(f"{number:,}", klass="num", data_count=str(number), data_sort=str(number))


def table(
    header: Sequence[str],
    rows: Iterable[dict],
    *,
    sortable: bool = False,
    table_id: str | None = None,
    caption: str | None = None,
    numeric: Sequence[bool] | None = None,
) -> Markup:
    """A table from header labels and rows made with :func:`row`."""
    heads = [
        {"text": h, "num": bool(numeric and numeric[i])} for i, h in enumerate(header)
    ]
    return fragment(
        "report_table.html.j2", heads=heads, rows=list(rows), sortable=sortable,
        table_id=table_id, caption=caption,
    )  # fmt: skip


def figure(
    svg: str,
    caption: str,
    alternative: Markup,
    *,
    pair: str | None = None,
    figure_id: str | None = None,
    classes: str = "chart",
) -> Markup:
    """A chart (inline SVG from :mod:`charts`, its texts escaped there) with its caption
    and its table alternative (open by default)."""
    return fragment(
        "report_figure.html.j2", svg=Markup(svg), caption=caption,
        alternative=alternative, pair=pair, figure_id=figure_id, classes=classes,
    )  # fmt: skip


def page(
    title: str,
    subtitle: str,
    nav: Sequence[tuple[str, str]],
    sections: Sequence[Markup],
    lead: Markup | str = "",
) -> str:
    """A complete, self-contained page on the shared shell: no external resource.
    ``sections`` are rendered fragments (:func:`section`)."""
    return render(
        "report_page.html.j2", title=title, subtitle=subtitle, nav=list(nav),
        sections=list(sections), lead=lead,
    )  # fmt: skip


SUPPRESSION_NOTE = (
    "{dash}* means withheld because fewer than {n} students had a known status; "
    "{dash}\u2020 means withheld to protect a smaller group, so that its number could not "
    "be worked out by subtraction from the totals. Withheld values are never shown, in "
    "tables or charts. {dash} alone means there are no such students (the grade is not "
    "taught there, or the group is empty)."
)


def section(anchor: str, heading: str, body: Markup, *, opened: bool = False) -> Markup:
    """A collapsible section (``<details>``) whose summary is its heading; links to
    ``#anchor`` open it."""
    return fragment(
        "report_section.html.j2", anchor=anchor, heading=heading, body=body, open=opened
    )
