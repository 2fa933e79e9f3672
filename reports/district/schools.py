"""The schools section of index.html: a sortable, filterable table and the scatter."""

from __future__ import annotations

import math

import pandas as pd
from markupsafe import Markup
from ontrack.reports.district import charts
from ontrack.reports.district.data import FOCUS, ReportData, good_is_high, label
from ontrack.reports.district.html import (
    DASH,
    figure,
    fragment,
    pct,
    rate_td,
    row,
    section,
    table,
    td,
    th,
)
from ontrack.reports.district.profiles import (
    PAIRS,
    SED_BANDS,
    SIZE_BANDS,
    UNKNOWN_BAND,
    Quadrants,
    ScatterPair,
    quadrants,
)
from ontrack.reports.district.words import school_page, year_name

TABLE_ID = "schools-table"


def _select(name: str, text: str, options: list[str]) -> dict:
    """A filter of the schools table: the row attribute it matches and its choices."""
    return {"name": name, "text": text, "options": options, "table": TABLE_ID}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text)


def _school_row(data: ReportData, rec: object, bright: set[str]) -> dict:
    """One school's row: name (linked), level, size, share, bands, rates, bright spot."""
    unit = f"school:{rec.school_id}"
    known_share = not (rec.sed_share is None or math.isnan(rec.sed_share))
    known_size = not (rec.size is None or math.isnan(rec.size))
    cells = [
        th(rec.school_name, href=school_page(rec.school_id),
           data_sort=rec.school_name.lower()),
        td(rec.school_level),
        td(f"{int(rec.size):,}" if known_size else DASH, klass="num",
           data_sort=str(int(rec.size)) if known_size else ""),
        td(pct(rec.sed_share, 0) if known_share else DASH, klass="num derived",
           data_sort=f"{rec.sed_share:.4f}" if known_share else ""),
        td(rec.size_band),
        td(rec.sed_band),
        *(rate_td(data.cell(data.latest, i, unit, g)) for i, g in FOCUS),
        td(label="bright spot" if rec.school_id in bright else ""),
    ]  # fmt: skip
    return row(
        cells, data_size=rec.size_band, data_sed=rec.sed_band, data_grades=rec.grades,
        data_district=rec.district_id,
    )  # fmt: skip


def schools_table(data: ReportData, profiles: pd.DataFrame, bright: set[str]) -> Markup:
    """Every school with its latest rates; rows carry their bands for the filters."""
    rows = [_school_row(data, rec, bright) for rec in profiles.itertuples(index=False)]
    header = [
        "school",
        "level",
        "students",
        "share disadvantaged",
        "size band",
        "share band",
        *[label(i, g) for i, g in FOCUS],
        "bright spot",
    ]
    numeric = [False, False, True, True, False, False, *[True] * len(FOCUS), False]
    filters = [
        _select("size", "Size (thirds of schools)", [*SIZE_BANDS, UNKNOWN_BAND]),
        _select(
            "sed", "Share socioeconomically disadvantaged", [*SED_BANDS, UNKNOWN_BAND]
        ),
    ]
    if len(set(profiles["district_id"])) > 1:
        filters.append(
            _select("district", "District", sorted(set(profiles["district_id"])))
        )
    return fragment(
        "report_schools_table.html.j2",
        filters=filters,
        table=table(header, rows, sortable=True, table_id=TABLE_ID, numeric=numeric),
    )


def scatter_figures(
    data: ReportData, profiles: pd.DataFrame, default: ScatterPair
) -> tuple[Markup, set[str]]:
    """One figure per pair with at least two schools, and the default pair's bright spots."""
    pairs = [default, *[p for p in PAIRS if p != default]]
    figures, options, bright_default = [], [], set()
    for pair in pairs:
        found = quadrants(profiles, pair)
        if found is None:
            continue
        bright = set(found.bright)
        if pair == default:
            bright_default = bright
        figures.append(_scatter_figure(data, pair, found, bright))
        xl, yl = label(pair.x, pair.grade), label(pair.y, pair.grade)
        options.append((pair.slug, f"{xl} vs {yl}"))
    chooser = fragment("report_scatter.html.j2", options=options, figures=figures)
    return chooser, bright_default


def _scatter_figure(
    data: ReportData, pair: ScatterPair, found: Quadrants, bright: set[str]
) -> Markup:
    """One pair's scatter with its table of schools and a caption naming the bright
    spots."""
    pts = [
        (r.school_name, float(r.x), float(r.y), r.school_id in bright)
        for r in found.points.itertuples(index=False)
    ]
    xl, yl = label(pair.x, pair.grade), label(pair.y, pair.grade)
    title = f"{xl} and {yl}, {year_name(data.latest)}"
    svg = charts.scatter_chart(
        title, pts, xl, yl, found.x_quartiles, found.y_quartiles
    )
    alt = _scatter_table(data, pair, found, bright)
    best_x = "highest" if good_is_high(pair.x) else "lowest"
    best_y = "highest" if good_is_high(pair.y) else "lowest"
    spots = ", ".join(
        sorted(
            r.school_name
            for r in found.points.itertuples()
            if r.school_id in bright
        )
    )
    caption = (
        f"Each dot is a school whose two rates are both published. Dotted lines are "
        f"the quartiles, dashed the median. Stars are bright spots: in the "
        f"{best_x} quarter for {xl} and the {best_y} quarter for {yl}"
        f"{': ' + spots if spots else ' (none this year)'}."
    )
    return figure(
        svg, caption, alt, pair=pair.slug, figure_id=f"scatter-{_slug(pair.slug)}",
        classes="chart scatter",
    )  # fmt: skip


def _scatter_table(
    data: ReportData, pair: ScatterPair, found: Quadrants, bright: set[str]
) -> Markup:
    """The scatter's numbers: the quartiles, and each school's two rates by name."""
    xl, yl = label(pair.x, pair.grade), label(pair.y, pair.grade)
    rows = []
    for rec in sorted(
        found.points.itertuples(index=False), key=lambda r: r.school_name
    ):
        unit = f"school:{rec.school_id}"
        rows.append(
            row(
                [
                    th(rec.school_name),
                    rate_td(data.cell(data.latest, pair.x, unit, pair.grade)),
                    rate_td(data.cell(data.latest, pair.y, unit, pair.grade)),
                    td("bright spot" if rec.school_id in bright else ""),
                ]
            )
        )
    quartiles = (
        f"Quartiles: {xl} {', '.join(pct(q) for q in found.x_quartiles)}; "
        f"{yl} {', '.join(pct(q) for q in found.y_quartiles)}."
    )
    return fragment(
        "report_note_table.html.j2",
        note=quartiles,
        table=table(
            ["school", xl, yl, ""], rows, sortable=True,
            numeric=[False, True, True, False],
        ),
    )  # fmt: skip


def schools_section(
    data: ReportData, profiles: pd.DataFrame, default: ScatterPair
) -> Markup:
    """Section 3 of index.html."""
    if profiles.empty:
        body = fragment("report_schools.html.j2", empty=True)
    else:
        scatter, bright = scatter_figures(data, profiles, default)
        body = fragment(
            "report_schools.html.j2",
            empty=False,
            n=len(profiles),
            latest=year_name(data.latest),
            table=schools_table(data, profiles, bright),
            scatter=scatter,
        )
    return section("schools", "Schools", body)
