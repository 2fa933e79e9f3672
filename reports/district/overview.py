"""District sections of index.html: latest rates and trends, student groups and gaps,
and the criteria that keep students from being ready or on track."""

from __future__ import annotations

import pandas as pd

from ontrack.reports.district import charts
from ontrack.reports.district.data import (
    CRITERIA,
    FOCUS,
    LABELS,
    ReportData,
    criterion_label,
    good_is_high,
    label,
)
from ontrack.reports.district.html import (
    DASH,
    cell_attrs,
    count_td,
    esc,
    figure,
    pct,
    points,
    rate_td,
    table,
)
from ontrack.reports.district.words import change_words, group_name, year_name

# Trend panels: an indicator and the grades drawn as its lines.
TREND_PANELS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("hs_readiness_8", (8,)),
    ("on_track_9", (9,)),
    ("chronic_absence", (8, 9)),
    ("suspension", (8, 9)),
)
_GRADE_STYLE = {8: (charts.SCHOOL, False), 9: (charts.ACCENT, True)}


def district_units(data: ReportData) -> list[str]:
    """District ids in rates.csv, in order."""
    return list(data.districts)


def _series(data: ReportData, indicator: str, unit: str, grade: int) -> tuple | None:
    values = []
    for year in data.years:
        found = data.cell(year, indicator, unit, grade)
        values.append(None if found is None else found.rate)
    return None if all(v is None for v in values) else tuple(values)


def trend_panels(
    data: ReportData,
    units: list[tuple[str, str]],
    grades_of: dict[str, tuple[int, ...]] | None = None,
) -> list[charts.TrendPanel]:
    """Trend panels of published rates.

    One unit (the district): one panel per indicator, a line per grade. Several units
    (a school and its district): one panel per indicator and grade, a line per unit,
    so that every line's meaning is in the legend.
    """
    panels = []
    for indicator, grades in TREND_PANELS:
        grades = tuple(
            g for g in grades if grades_of is None or g in grades_of.get(indicator, ())
        )
        if len(units) == 1:
            unit = units[0][0]
            series = []
            for grade in grades:
                values = _series(data, indicator, unit, grade)
                if values is not None:
                    color, dashed = _GRADE_STYLE.get(grade, (charts.SCHOOL, False))
                    series.append(
                        charts.Series(f"grade {grade}", values, color, dashed)
                    )
            if series:
                panels.append(
                    charts.TrendPanel(LABELS[indicator], data.years, tuple(series))
                )
            continue
        for grade in grades:
            series = []
            for k, (unit, name) in enumerate(units):
                values = _series(data, indicator, unit, grade)
                if values is not None:
                    color, dashed = (
                        (charts.SCHOOL, False) if k == 0 else (charts.DISTRICT, True)
                    )
                    series.append(charts.Series(name, values, color, dashed))
            if series:
                title = f"{LABELS[indicator]}, grade {grade}"
                panels.append(charts.TrendPanel(title, data.years, tuple(series)))
    return panels


def trend_table(
    data: ReportData, units: list[tuple[str, str]], items: list[tuple[str, int]]
) -> str:
    """Rows: indicator x unit; columns: the trend years."""
    rows = []
    for indicator, grade in items:
        for unit, name in units:
            cells = [data.cell(y, indicator, unit, grade) for y in data.years]
            if all(c is None for c in cells):
                continue
            tds = "".join(rate_td(c) for c in cells)
            rows.append(
                f'<tr><th scope="row">{esc(label(indicator, grade))}</th>'
                f"<td>{esc(name)}</td>{tds}</tr>"
            )
    header = ["indicator", "who", *[year_name(y) for y in data.years]]
    return table(header, rows, numeric=[False, False, *[True] * len(data.years)])


def headline_cards(data: ReportData, unit: str) -> str:
    """One card per focus indicator: the latest rate and its change."""
    cards = []
    for indicator, grade in FOCUS:
        now = data.cell(data.latest, indicator, unit, grade)
        if now is None:
            continue
        before = data.cell(data.latest - 1, indicator, unit, grade)
        size = (
            f"of {now.n:,} students with a known status"
            if now.n is not None
            else "withheld: small group"
        )
        change = change_words(now, before, good_is_high(indicator))
        cards.append(
            f'<div class="card"><div class="what">{esc(label(indicator, grade))}</div>'
            f'<div class="big"{cell_attrs(now)}>{pct(now.rate)}</div>'
            f'<div class="note">{esc(size)}'
            f"{'; ' + esc(change) if change else ''}</div></div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def overview_section(data: ReportData) -> str:
    """Section 1: each district's latest rates and three-year trends."""
    parts = [
        '<section id="overview"><h2>District overview</h2>',
        (
            f"<p>School year {year_name(data.latest)}, with the trend over "
            f"{', '.join(year_name(y) for y in data.years)}. Readiness is measured in grade 8, "
            "on-track in grade 9; chronic absence and suspension are shown for both grades "
            "(rates are never added up across grades).</p>"
        ),
    ]
    for district_id in district_units(data):
        unit = f"district:{district_id}"
        if len(district_units(data)) > 1:
            parts.append(f"<h3>District {esc(district_id)}</h3>")
        parts.append(headline_cards(data, unit))
        panels = trend_panels(data, [(unit, "district")])
        if panels:
            svg = charts.trend_chart(
                panels, f"Three-year trends, district {district_id}"
            )
            alt = trend_table(data, [(unit, "district")], list(FOCUS))
            parts.append(
                figure(
                    svg,
                    "Three-year trends of the district's rates "
                    "(higher is better for readiness and on-track, lower for "
                    "chronic absence and suspension).",
                    alt,
                )
            )
    parts.append("</section>")
    return "".join(parts)


def group_rows(data: ReportData, unit: str, items: list[tuple[str, int]]) -> list[str]:
    """Rows of the group table: one per student group, a rate and its gap per item."""
    present: dict[tuple[str, str], None] = {}
    for indicator, grade in items:
        for pair in data.groups_of(indicator, grade, unit):
            present.setdefault(pair, None)
    rows = []
    for group_type, group in present:
        tds = []
        for indicator, grade in items:
            found = data.cell(data.latest, indicator, unit, grade, group_type, group)
            everyone = data.cell(data.latest, indicator, unit, grade)
            gap = ""
            if (
                group_type != "all"
                and found is not None
                and found.rate is not None
                and everyone is not None
                and everyone.rate is not None
            ):
                gap = f'<span class="gap">{points(found.rate - everyone.rate)}</span>'
            tds.append(rate_td(found, gap))
        name = group_name(group_type, group)
        rows.append(f'<tr><th scope="row">{esc(name)}</th>{"".join(tds)}</tr>')
    return rows


def group_chart(
    data: ReportData, unit: str, indicator: str, grade: int, title: str
) -> str | None:
    """Bars of the published group rates of one indicator (None if fewer than two)."""
    labels, values = [], []
    for group_type, group in data.groups_of(indicator, grade, unit):
        if group_type == "all":
            continue
        found = data.cell(data.latest, indicator, unit, grade, group_type, group)
        if found is not None and found.rate is not None:
            labels.append(group_name(group_type, group))
            values.append(found.rate)
    if len(labels) < 2:
        return None
    everyone = data.cell(data.latest, indicator, unit, grade)
    return charts.group_bars(
        title, labels, values, None if everyone is None else everyone.rate
    )


def group_alternative(data: ReportData, unit: str, indicator: str, grade: int) -> str:
    """The published rates of one indicator's groups as a small table."""
    rows = []
    for group_type, group in data.groups_of(indicator, grade, unit):
        found = data.cell(data.latest, indicator, unit, grade, group_type, group)
        if found is not None and found.rate is not None:
            rows.append(
                f'<tr><th scope="row">{esc(group_name(group_type, group))}</th>'
                f"{rate_td(found)}</tr>"
            )
    return table(
        ["student group", label(indicator, grade)], rows, numeric=[False, True]
    )


def gap_lines(data: ReportData, unit: str, items: list[tuple[str, int]]) -> list[str]:
    """Plain sentences: the widest gap between published racial/ethnic groups."""
    lines = []
    for indicator, grade in items:
        rated = []
        for group_type, group in data.groups_of(indicator, grade, unit):
            if group_type != "race_ethnicity" or group == "not_reported":
                continue
            found = data.cell(data.latest, indicator, unit, grade, group_type, group)
            if found is not None and found.rate is not None:
                rated.append((found.rate, group_name(group_type, group)))
        if len(rated) < 2:
            continue
        rated.sort()
        (low, low_name), (high, high_name) = rated[0], rated[-1]
        lines.append(
            f"<li>{esc(label(indicator, grade))}: {(high - low) * 100:.1f} points between "
            f"{esc(high_name)} students ({pct(high)}) and {esc(low_name)} students "
            f"({pct(low)}), among {len(rated)} groups large enough to publish.</li>"
        )
    return lines


def groups_section(
    data: ReportData,
    unit: str,
    heading: str = "Student groups",
    items: list[tuple[str, int]] | None = None,
    anchor: str = "groups",
    charted: tuple[str, ...] = ("hs_readiness_8", "on_track_9", "chronic_absence"),
) -> str:
    """Section 2 of the overview (also used on school pages): rates by group, gaps."""
    items = items or list(FOCUS)
    items = [(i, g) for i, g in items if data.cell(data.latest, i, unit, g) is not None]
    if not items:
        return ""
    header = ["student group", *[label(i, g) for i, g in items]]
    parts = [
        f'<section id="{anchor}"><h2>{esc(heading)}</h2>',
        (
            f"<p>Rates in {year_name(data.latest)} by student group. The small grey number is "
            "the gap to all students in percentage points. Groups are published only when "
            f"at least {data.min_size} students have a known status.</p>"
        ),
        table(
            header, group_rows(data, unit, items), numeric=[False, *[True] * len(items)]
        ),
    ]
    gaps = gap_lines(data, unit, items)
    if gaps:
        parts.append(f"<h3>Gaps between groups</h3><ul>{''.join(gaps)}</ul>")
    figures = []
    for indicator, grade in items:
        if indicator not in charted:
            continue
        svg = group_chart(
            data, unit, indicator, grade, f"{label(indicator, grade)} by group"
        )
        if svg:
            figures.append(
                figure(
                    svg,
                    f"{label(indicator, grade)} in {year_name(data.latest)} "
                    "by published student group.",
                    group_alternative(data, unit, indicator, grade),
                )
            )
    if figures:
        parts.append(f'<div class="grid2">{"".join(figures)}</div>')
    parts.append("</section>")
    return "".join(parts)


def criteria_table(data: ReportData, unit: str, indicator: str) -> str:
    """Which criterion keeps most students from meeting the indicator, latest year."""
    part = data.criteria[
        (data.criteria["unit"] == unit)
        & (data.criteria["school_year"] == data.latest)
        & (data.criteria["indicator"] == indicator)
    ]
    if part.empty:
        return ""
    rules = data.rules_of(unit)
    names = {flag: criterion_label(rules, flag) for flag in CRITERIA[indicator]}
    n_students = part["n_students"].iloc[0]
    if pd.isna(n_students):
        return (
            f"<p>{esc(LABELS[indicator])}: fewer than {data.min_size} students, so the "
            "criteria are not shown.</p>"
        )
    rows = []
    top = max((int(v) for v in part["not_met"].dropna()), default=0)
    for rec in part.itertuples(index=False):
        share = ""
        if not pd.isna(rec.not_met) and n_students:
            width = 0 if not top else int(120 * int(rec.not_met) / top)
            share = f'<span class="bar" style="width:{width}px"></span>'
        rows.append(
            f'<tr><th scope="row">{esc(names.get(rec.criterion, rec.criterion))}</th>'
            f"{count_td(rec.not_met, data.min_size)}{count_td(rec.only, data.min_size)}"
            f"{count_td(rec.missing, data.min_size)}<td>{share}</td></tr>"
        )
    known = part.dropna(subset=["not_met"])
    lead = ""
    if len(known) and int(known["not_met"].max()) > 0:
        best = known.loc[known["not_met"].astype(int).idxmax()]
        lead = (
            f"<p>The criterion that holds back the most students is "
            f"<strong>{esc(names.get(best['criterion'], best['criterion']))}</strong> "
            f"({int(best['not_met']):,} of {int(n_students):,} students did not meet it).</p>"
        )
    header = [
        "criterion",
        "students not meeting it",
        "missed only this one",
        "data missing",
        "",
    ]
    return f"<h3>{esc(LABELS[indicator])}: what stands in the way</h3>{lead}" + table(
        header, rows, numeric=[False, True, True, True, False]
    )


def criteria_section(data: ReportData, unit: str, anchor: str = "criteria") -> str:
    """Section: the 'why' behind readiness and on-track rates."""
    tables = [criteria_table(data, unit, indicator) for indicator in CRITERIA]
    tables = [t for t in tables if t]
    if not tables:
        return ""
    return (
        f'<section id="{anchor}"><h2>Why students are not yet ready or on track</h2>'
        f"<p>Counts of students in {year_name(data.latest)} who did not meet each "
        "criterion (one student can miss several). 'Missed only this one' counts "
        "students for whom this criterion alone stood in the way: often the closest to "
        f"being ready. Counts from 1 to {data.min_size - 1} are withheld ({DASH}*).</p>"
        + "".join(tables)
        + "</section>"
    )
