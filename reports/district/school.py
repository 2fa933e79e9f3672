"""One page per school: trends against the district, grades, groups, criteria, rosters."""

from __future__ import annotations

import math

import pandas as pd
from markupsafe import Markup
from ontrack.reports.district import charts
from ontrack.reports.district.data import FOCUS, ReportData, label
from ontrack.reports.district.html import (
    DASH,
    SUPPRESSION_NOTE,
    cell_attrs,
    count_td,
    figure,
    fragment,
    page,
    pct,
    rate_td,
    row,
    section,
    table,
    td,
    th,
    withheld_words,
)
from ontrack.reports.district.overview import (
    criteria_section,
    groups_section,
    trend_panels,
    trend_table,
)
from ontrack.reports.district.profiles import similar_schools
from ontrack.reports.district.words import school_page, year_name

NAV = (
    ("index.html", "District report"),
    ("#trends", "Trends"),
    ("#grades", "Grades"),
    ("#groups", "Groups"),
    ("#criteria", "Why"),
    ("#rosters", "Rosters"),
    ("#similar", "Similar schools"),
)


def served(data: ReportData, unit: str) -> dict[str, tuple[int, ...]]:
    """The focus grades a school has rates for, per indicator (any trend year)."""
    grades: dict[str, tuple[int, ...]] = {}
    for indicator, grade in FOCUS:
        if any(data.cell(y, indicator, unit, grade) is not None for y in data.years):
            grades[indicator] = (*grades.get(indicator, ()), grade)
    return grades


def trends_section(
    data: ReportData, school_id: str, name: str, district_id: str
) -> Markup:
    """The school's three-year trends beside its district's."""
    unit, district = f"school:{school_id}", f"district:{district_id}"
    grades = served(data, unit)
    units = [(unit, "this school"), (district, "district")]
    panels = trend_panels(data, units, grades)
    chart = None
    if panels:
        items = [(i, g) for i, gs in grades.items() for g in gs]
        svg = charts.trend_chart(
            panels, f"{name}: three-year trends against the district"
        )
        chart = figure(
            svg, "Solid: this school; dashed: the district.",
            trend_table(data, units, items),
        )  # fmt: skip
    body = fragment("report_school_trends.html.j2", chart=chart)
    return section("trends", "Trends compared with the district", body, opened=True)


def grades_section(data: ReportData, unit: str) -> Markup:
    """Latest-year chronic absence and suspension in every grade the school has."""
    grades = data.grades.get(unit, ())
    if not grades:
        return Markup("")
    indicators = ("hs_readiness_8", "on_track_9", "chronic_absence", "suspension")
    rows = [
        row(
            [th(f"grade {grade}")]
            + [rate_td(data.cell(data.latest, i, unit, grade)) for i in indicators]
        )
        for grade in grades
    ]
    header = [
        "grade",
        "Ready for high school",
        "On track in 9th grade",
        "Chronically absent",
        "Suspended at least once",
    ]
    body = table(header, rows, numeric=[False, True, True, True, True])
    return section("grades", f"By grade, {year_name(data.latest)}", body)


def rosters_section(data: ReportData, school_id: str) -> Markup:
    """Students on the current rosters by tier: counts only, suppressed."""
    counts = None if data.rosters is None else data.rosters.get(school_id)
    context: dict = {"scored": data.rosters is not None, "table": None, "when": ""}
    if counts is not None and not counts.empty:
        rows = [
            row([th(r.model or DASH), td(r.risk_tier), count_td(r.n, data.min_size)])
            for r in counts.itertuples(index=False)
        ]
        as_of = counts["as_of_date"].iloc[0]
        context.update(
            when=f" as of {as_of}" if isinstance(as_of, str) and as_of else "",
            min_size=data.min_size,
            table=table(
                ["model", "tier", "students"], rows, numeric=[False, False, True]
            ),
        )
    body = fragment("report_school_rosters.html.j2", **context)
    return section("rosters", "Students on current rosters", body)


def similar_section(data: ReportData, profiles: pd.DataFrame, school_id: str) -> Markup:
    """This school beside schools of similar size and share disadvantaged."""
    peers = similar_schools(profiles, school_id)
    me = profiles[profiles["school_id"] == school_id]
    if me.empty or len(peers) < 2:
        body = fragment("report_school_similar.html.j2", table=None)
        return section("similar", "Similar schools", body)
    mine = me.iloc[0]
    items = [
        (i, g)
        for i, g in FOCUS
        if any(not math.isnan(v) for v in peers[f"{i}_{g}"].astype(float))
    ]
    rows = []
    for rec in peers.itertuples(index=False):
        unit = f"school:{rec.school_id}"
        name = th(
            rec.school_name, href=school_page(rec.school_id),
            data_sort=rec.school_name.lower(),
            after=" (this school)" if rec.school_id == school_id else "",
        )  # fmt: skip
        rows.append(
            row([name, *(rate_td(data.cell(data.latest, i, unit, g)) for i, g in items)])
        )
    body = fragment(
        "report_school_similar.html.j2",
        size_band=mine["size_band"],
        sed_band=mine["sed_band"],
        latest=year_name(data.latest),
        table=table(
            ["school", *[label(i, g) for i, g in items]], rows, sortable=True,
            numeric=[False, *[True] * len(items)],
        ),
    )  # fmt: skip
    return section("similar", "Similar schools", body)


def _lead(data: ReportData, unit: str, items: list[tuple[str, int]]) -> Markup:
    """The top of a school's page: what it is for, and its latest rates."""
    lines = []
    for indicator, grade in items:
        now = data.cell(data.latest, indicator, unit, grade)
        if now is not None:
            lines.append(
                {
                    "what": label(indicator, grade),
                    "attrs": cell_attrs(now),
                    "rate": pct(now.rate),
                    "withheld": None if now.rate is not None else withheld_words(now),
                }
            )
    return fragment(
        "report_school_lead.html.j2",
        latest=year_name(data.latest),
        lines=lines,
        note=SUPPRESSION_NOTE.format(dash=DASH, n=data.min_size),
    )


def render_school(data: ReportData, profiles: pd.DataFrame, school: dict) -> str:
    """The complete HTML page of one school."""
    school_id, name = school["school_id"], school["school_name"]
    unit = f"school:{school_id}"
    grades = served(data, unit)
    items = [(i, g) for i, gs in grades.items() for g in gs]
    sections = [
        trends_section(data, school_id, name, school["district_id"]),
        grades_section(data, unit),
        groups_section(
            data,
            unit,
            "By student group",
            items or None,
            charted=(),  # the table says it; one chart a page keeps 200 schools fast
        ),
        criteria_section(data, unit),
        rosters_section(data, school_id),
        similar_section(data, profiles, school_id),
    ]
    subtitle = f"School {school_id} \u00b7 district {school['district_id']}"
    return page(name, subtitle, NAV, sections, lead=_lead(data, unit, items))
