"""The schools section of index.html: a sortable, filterable table and the scatter."""

from __future__ import annotations

import math

import pandas as pd

from ontrack.reports.district import charts
from ontrack.reports.district.data import FOCUS, ReportData, good_is_high, label
from ontrack.reports.district.html import DASH, esc, figure, pct, rate_td, table
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


def _select(name: str, text: str, options: list[str]) -> str:
    opts = "".join(f'<option value="{esc(o)}">{esc(o)}</option>' for o in options)
    return (
        f'<label>{esc(text)}<br><select name="{esc(name)}" data-filter="{TABLE_ID}">'
        f'<option value="">all</option>{opts}</select></label>'
    )


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text)


def schools_table(data: ReportData, profiles: pd.DataFrame, bright: set[str]) -> str:
    """Every school with its latest rates; rows carry their bands for the filters."""
    items = [(i, g) for i, g in FOCUS]
    rows = []
    for rec in profiles.itertuples(index=False):
        unit = f"school:{rec.school_id}"
        share = (
            DASH
            if rec.sed_share is None or math.isnan(rec.sed_share)
            else pct(rec.sed_share, 0)
        )
        size = (
            DASH if rec.size is None or math.isnan(rec.size) else f"{int(rec.size):,}"
        )
        size_sort = "" if size == DASH else str(int(rec.size))
        share_sort = "" if share == DASH else f"{rec.sed_share:.4f}"
        tds = "".join(rate_td(data.cell(data.latest, i, unit, g)) for i, g in items)
        spot = '<span class="tag">bright spot</span>' if rec.school_id in bright else ""
        rows.append(
            f'<tr data-size="{esc(rec.size_band)}" data-sed="{esc(rec.sed_band)}" '
            f'data-grades="{esc(rec.grades)}" data-district="{esc(rec.district_id)}">'
            f'<th scope="row" data-sort="{esc(rec.school_name.lower())}">'
            f'<a href="{school_page(rec.school_id)}">{esc(rec.school_name)}</a></th>'
            f"<td>{esc(rec.school_level)}</td>"
            f'<td class="num" data-sort="{size_sort}">{size}</td>'
            f'<td class="num derived" data-sort="{share_sort}">{share}</td>'
            f"<td>{esc(rec.size_band)}</td><td>{esc(rec.sed_band)}</td>{tds}<td>{spot}</td></tr>"
        )
    header = [
        "school",
        "level",
        "students",
        "share disadvantaged",
        "size band",
        "share band",
        *[label(i, g) for i, g in items],
        "bright spot",
    ]
    numeric = [False, False, True, True, False, False, *[True] * len(items), False]
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
    return (
        f'<div class="filters" role="group" aria-label="compare similar schools">'
        f"{''.join(filters)}</div>"
        + '<div class="scroll">'
        + table(header, rows, sortable=True, table_id=TABLE_ID, numeric=numeric)
        + "</div>"
    )


def scatter_figures(
    data: ReportData, profiles: pd.DataFrame, default: ScatterPair
) -> tuple[str, set[str]]:
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
    if not figures:
        return (
            "<p>Fewer than two schools have both rates published; no scatter.</p>",
            set(),
        )
    pick = "".join(f'<option value="{esc(s)}">{esc(t)}</option>' for s, t in options)
    chooser = (
        f'<div class="filters"><label>Compare<br><select id="scatter-pick">{pick}'
        "</select></label></div>"
    )
    return chooser + "".join(figures), bright_default


def _scatter_figure(
    data: ReportData, pair: ScatterPair, found: Quadrants, bright: set[str]
) -> str:
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
    attrs = f' data-pair="{pair.slug}" id="scatter-{_slug(pair.slug)}"'
    return figure(svg, caption, alt, attrs, classes="chart scatter")


def _scatter_table(
    data: ReportData, pair: ScatterPair, found: Quadrants, bright: set[str]
) -> str:
    """The scatter's numbers: the quartiles, and each school's two rates by name."""
    xl, yl = label(pair.x, pair.grade), label(pair.y, pair.grade)
    rows = []
    for rec in sorted(
        found.points.itertuples(index=False), key=lambda r: r.school_name
    ):
        unit = f"school:{rec.school_id}"
        rows.append(
            f'<tr><th scope="row">{esc(rec.school_name)}</th>'
            f"{rate_td(data.cell(data.latest, pair.x, unit, pair.grade))}"
            f"{rate_td(data.cell(data.latest, pair.y, unit, pair.grade))}"
            f"<td>{'bright spot' if rec.school_id in bright else ''}</td></tr>"
        )
    quart = (
        f'<p class="note">Quartiles: {esc(xl)} {", ".join(pct(q) for q in found.x_quartiles)}; '
        f"{esc(yl)} {', '.join(pct(q) for q in found.y_quartiles)}.</p>"
    )
    return quart + table(
        ["school", xl, yl, ""],
        rows,
        sortable=True,
        numeric=[False, True, True, False],
    )


def schools_section(
    data: ReportData, profiles: pd.DataFrame, default: ScatterPair
) -> str:
    """Section 3 of index.html."""
    if profiles.empty:
        return '<section id="schools"><h2>Schools</h2><p>No school-level rates.</p></section>'
    scatter, bright = scatter_figures(data, profiles, default)
    return (
        '<section id="schools"><h2>Schools</h2>'
        f"<p>{len(profiles)} schools, {year_name(data.latest)}. Click a column heading to "
        "sort. To compare a school with similar ones, pick its size and its share of "
        "socioeconomically disadvantaged students (each is the school's third among the "
        "district's schools, from published counts; 'not published' where a count is "
        "withheld). Follow a school's name for its own page.</p>"
        + schools_table(data, profiles, bright)
        + "<h3>Where to look: two indicators side by side</h3>"
        "<p>Bright spots are schools doing well on both: places to learn from. Schools far "
        "from them are where support may matter most.</p>" + scatter + "</section>"
    )
