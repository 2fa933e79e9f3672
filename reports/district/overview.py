"""District sections of index.html: latest rates and trends, student groups and gaps,
and the criteria that keep students from being ready or on track."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup
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
    figure,
    fragment,
    pct,
    points,
    rate_td,
    row,
    section,
    table,
    td,
    th,
    withheld_words,
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
) -> Markup:
    """Rows: indicator x unit; columns: the trend years."""
    rows = []
    for indicator, grade in items:
        for unit, name in units:
            cells = [data.cell(y, indicator, unit, grade) for y in data.years]
            if all(c is None for c in cells):
                continue
            rows.append(
                row([th(label(indicator, grade)), td(name), *(rate_td(c) for c in cells)])
            )
    header = ["indicator", "who", *[year_name(y) for y in data.years]]
    return table(header, rows, numeric=[False, False, *[True] * len(data.years)])


def headline_cards(data: ReportData, unit: str) -> list[dict]:
    """One card per focus indicator: the latest rate, its size and its change."""
    cards = []
    for indicator, grade in FOCUS:
        now = data.cell(data.latest, indicator, unit, grade)
        if now is None:
            continue
        before = data.cell(data.latest - 1, indicator, unit, grade)
        size = (
            f"of {now.n:,} students with a known status"
            if now.n is not None
            else withheld_words(now)
        )
        change = change_words(now, before, good_is_high(indicator))
        cards.append(
            {
                "what": label(indicator, grade),
                "attrs": cell_attrs(now),
                "rate": pct(now.rate),
                "note": size + ("; " + change if change else ""),
            }
        )
    return cards


def overview_section(data: ReportData) -> Markup:
    """Section 1: each district's latest rates and three-year trends."""
    districts = []
    for district_id in district_units(data):
        unit = f"district:{district_id}"
        panels = trend_panels(data, [(unit, "district")])
        chart = None
        if panels:
            svg = charts.trend_chart(
                panels, f"Three-year trends, district {district_id}"
            )
            alt = trend_table(data, [(unit, "district")], list(FOCUS))
            chart = figure(
                svg,
                "Three-year trends of the district's rates (higher is better for "
                "readiness and on-track, lower for chronic absence and suspension).",
                alt,
            )
        districts.append(
            {"id": district_id, "cards": headline_cards(data, unit), "chart": chart}
        )
    body = fragment(
        "report_overview.html.j2",
        latest=year_name(data.latest),
        years=", ".join(year_name(y) for y in data.years),
        districts=districts,
        named=len(districts) > 1,
    )
    return section("overview", "District overview", body, opened=True)


def group_rows(data: ReportData, unit: str, items: list[tuple[str, int]]) -> list[dict]:
    """Rows of the group table: one per student group, a rate and its gap per item."""
    present: dict[tuple[str, str], None] = {}
    for indicator, grade in items:
        for pair in data.groups_of(indicator, grade, unit):
            present.setdefault(pair, None)
    rows = []
    for group_type, group in present:
        cells = [th(group_name(group_type, group))]
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
                gap = points(found.rate - everyone.rate)
            cells.append(rate_td(found, gap))
        rows.append(row(cells, data_group_type=group_type, data_group=group))
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


def group_alternative(
    data: ReportData, unit: str, indicator: str, grade: int
) -> Markup:
    """The published rates of one indicator's groups as a small table."""
    rows = []
    for group_type, group in data.groups_of(indicator, grade, unit):
        found = data.cell(data.latest, indicator, unit, grade, group_type, group)
        if found is not None and found.rate is not None:
            rows.append(row([th(group_name(group_type, group)), rate_td(found)]))
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
            f"{label(indicator, grade)}: {(high - low) * 100:.1f} points between "
            f"{high_name} students ({pct(high)}) and {low_name} students "
            f"({pct(low)}), among {len(rated)} groups large enough to publish."
        )
    return lines


def _group_figures(
    data: ReportData, unit: str, items: list[tuple[str, int]], charted: tuple[str, ...]
) -> list[Markup]:
    """One bar chart (with its table) per charted indicator with two groups or more."""
    figures = []
    for indicator, grade in items:
        if indicator not in charted:
            continue
        title = f"{label(indicator, grade)} by group"
        svg = group_chart(data, unit, indicator, grade, title)
        if svg:
            figures.append(
                figure(
                    svg,
                    f"{label(indicator, grade)} in {year_name(data.latest)} "
                    "by published student group.",
                    group_alternative(data, unit, indicator, grade),
                )
            )
    return figures


def groups_section(
    data: ReportData,
    unit: str,
    heading: str = "Student groups",
    items: list[tuple[str, int]] | None = None,
    anchor: str = "groups",
    charted: tuple[str, ...] = ("hs_readiness_8", "on_track_9", "chronic_absence"),
) -> Markup:
    """Section 2 of the overview (also used on school pages): rates by group, gaps."""
    items = items or list(FOCUS)
    items = [(i, g) for i, g in items if data.cell(data.latest, i, unit, g) is not None]
    if not items:
        return Markup("")
    header = ["student group", *[label(i, g) for i, g in items]]
    body = fragment(
        "report_groups.html.j2",
        latest=year_name(data.latest),
        min_size=data.min_size,
        table=table(
            header, group_rows(data, unit, items), numeric=[False, *[True] * len(items)]
        ),
        gaps=gap_lines(data, unit, items),
        figures=_group_figures(data, unit, items, charted),
    )
    return section(anchor, heading, body)


def _criterion_rows(
    part: pd.DataFrame, names: dict[str, str], min_size: int
) -> list[dict]:
    """One row per criterion: not met, missed only this one, data missing, a bar."""
    rows = []
    top = max((int(v) for v in part["not_met"].dropna()), default=0)
    for rec in part.itertuples(index=False):
        bar = None
        if not pd.isna(rec.not_met):
            bar = 0 if not top else int(120 * int(rec.not_met) / top)
        rows.append(
            row(
                [
                    th(names.get(rec.criterion, rec.criterion)),
                    count_td(rec.not_met, min_size),
                    count_td(rec.only, min_size),
                    count_td(rec.missing, min_size),
                    td(bar=bar),
                ]
            )
        )
    return rows


def criteria_table(data: ReportData, unit: str, indicator: str) -> dict | None:
    """Which criterion keeps most students from meeting the indicator, latest year."""
    part = data.criteria[
        (data.criteria["unit"] == unit)
        & (data.criteria["school_year"] == data.latest)
        & (data.criteria["indicator"] == indicator)
    ]
    if part.empty:
        return None
    rules = data.rules_of(unit)
    names = {flag: criterion_label(rules, flag) for flag in CRITERIA[indicator]}
    n_students = part["n_students"].iloc[0]
    found = {"indicator": LABELS[indicator], "small": pd.isna(n_students), "lead": None}
    if found["small"]:
        return found
    known = part.dropna(subset=["not_met"])
    if len(known) and int(known["not_met"].max()) > 0:
        best = known.loc[known["not_met"].astype(int).idxmax()]
        found["lead"] = {
            "criterion": names.get(best["criterion"], best["criterion"]),
            "not_met": f"{int(best['not_met']):,}",
            "of": f"{int(n_students):,}",
        }
    header = [
        "criterion",
        "students not meeting it",
        "missed only this one",
        "data missing",
        "",
    ]
    found["table"] = table(
        header,
        _criterion_rows(part, names, data.min_size),
        numeric=[False, True, True, True, False],
    )
    return found


def criteria_section(data: ReportData, unit: str, anchor: str = "criteria") -> Markup:
    """Section: the 'why' behind readiness and on-track rates."""
    tables = [criteria_table(data, unit, indicator) for indicator in CRITERIA]
    tables = [t for t in tables if t]
    if not tables:
        return Markup("")
    body = fragment(
        "report_criteria.html.j2",
        latest=year_name(data.latest),
        min_size=data.min_size,
        dash=DASH,
        tables=tables,
    )
    return section(anchor, "Why students are not yet ready or on track", body)
