"""One page per school: trends against the district, grades, groups, criteria, rosters."""

from __future__ import annotations

import math

import pandas as pd

from ontrack.reports.district import charts
from ontrack.reports.district.data import FOCUS, ReportData, label
from ontrack.reports.district.html import (
    DASH,
    SUPPRESSION_NOTE,
    cell_attrs,
    count_td,
    esc,
    figure,
    page,
    pct,
    rate_td,
    table,
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
) -> str:
    """The school's three-year trends beside its district's."""
    unit, district = f"school:{school_id}", f"district:{district_id}"
    grades = served(data, unit)
    units = [(unit, "this school"), (district, "district")]
    panels = trend_panels(data, units, grades)
    if not panels:
        return '<section id="trends"><h2>Trends</h2><p>No rates for grades 8 or 9.</p></section>'
    items = [(i, g) for i, gs in grades.items() for g in gs]
    svg = charts.trend_chart(panels, f"{name}: three-year trends against the district")
    return (
        '<section id="trends"><h2>Trends compared with the district</h2>'
        + figure(
            svg,
            "Solid: this school; dashed: the district.",
            trend_table(data, units, items),
        )
        + "</section>"
    )


def grades_section(data: ReportData, unit: str) -> str:
    """Latest-year chronic absence and suspension in every grade the school has."""
    grades = data.grades.get(unit, ())
    if not grades:
        return ""
    indicators = ("hs_readiness_8", "on_track_9", "chronic_absence", "suspension")
    rows = []
    for grade in grades:
        tds = "".join(
            rate_td(data.cell(data.latest, i, unit, grade)) for i in indicators
        )
        rows.append(f'<tr><th scope="row">grade {grade}</th>{tds}</tr>')
    header = [
        "grade",
        "Ready for high school",
        "On track in 9th grade",
        "Chronically absent",
        "Suspended at least once",
    ]
    return (
        f'<section id="grades"><h2>By grade, {year_name(data.latest)}</h2>'
        + table(header, rows, numeric=[False, True, True, True, True])
        + "</section>"
    )


def rosters_section(data: ReportData, school_id: str) -> str:
    """Students on the current rosters by tier: counts only, suppressed."""
    head = '<section id="rosters"><h2>Students on current rosters</h2>'
    if data.rosters is None:
        return head + (
            "<p>No rosters yet: students have not been scored. Rosters themselves "
            "stay separate files for authorised staff; this page only ever shows "
            "how many students each tier holds.</p></section>"
        )
    counts = data.rosters.get(school_id)
    if counts is None or counts.empty:
        return head + "<p>No roster for this school.</p></section>"
    rows = [
        f'<tr><th scope="row">{esc(r.model or DASH)}</th><td>{esc(r.risk_tier)}</td>'
        f"{count_td(r.n, data.min_size)}</tr>"
        for r in counts.itertuples(index=False)
    ]
    as_of = counts["as_of_date"].iloc[0]
    when = f" as of {esc(as_of)}" if isinstance(as_of, str) and as_of else ""
    return (
        head + f"<p>How many students each support tier holds{when}. Names are only in "
        "the rosters, which stay with authorised staff. Counts from 1 to "
        f"{data.min_size - 1} are withheld.</p>"
        + table(["model", "tier", "students"], rows, numeric=[False, False, True])
        + "</section>"
    )


def similar_section(data: ReportData, profiles: pd.DataFrame, school_id: str) -> str:
    """This school beside schools of similar size and share disadvantaged."""
    peers = similar_schools(profiles, school_id)
    me = profiles[profiles["school_id"] == school_id]
    head = '<section id="similar"><h2>Similar schools</h2>'
    if me.empty or len(peers) < 2:
        return head + (
            "<p>No similar schools to compare with (size or share of "
            "socioeconomically disadvantaged students not published, or no other "
            "school in the same bands).</p></section>"
        )
    mine = me.iloc[0]
    items = [
        (i, g)
        for i, g in FOCUS
        if any(not math.isnan(v) for v in peers[f"{i}_{g}"].astype(float))
    ]
    rows = []
    for rec in peers.itertuples(index=False):
        unit = f"school:{rec.school_id}"
        tds = "".join(rate_td(data.cell(data.latest, i, unit, g)) for i, g in items)
        mark = " (this school)" if rec.school_id == school_id else ""
        rows.append(
            f'<tr><th scope="row" data-sort="{esc(rec.school_name.lower())}">'
            f'<a href="{school_page(rec.school_id)}">{esc(rec.school_name)}</a>'
            f"{mark}</th>{tds}</tr>"
        )
    return (
        head + f"<p>Schools that are also {esc(mine['size_band'])} and have a "
        f"{esc(mine['sed_band'])} of socioeconomically disadvantaged students, in "
        f"{year_name(data.latest)}.</p>"
        + table(
            ["school", *[label(i, g) for i, g in items]],
            rows,
            sortable=True,
            numeric=[False, *[True] * len(items)],
        )
        + "</section>"
    )


def render_school(data: ReportData, profiles: pd.DataFrame, school: dict) -> str:
    """The complete HTML page of one school."""
    school_id, name = school["school_id"], school["school_name"]
    unit = f"school:{school_id}"
    grades = served(data, unit)
    items = [(i, g) for i, gs in grades.items() for g in gs]
    lead = []
    for indicator, grade in items:
        now = data.cell(data.latest, indicator, unit, grade)
        if now is not None:
            lead.append(
                f"<li>{esc(label(indicator, grade))}: "
                f"<strong{cell_attrs(now)}>{pct(now.rate)}</strong>"
                f"{'' if now.rate is not None else ' (withheld: small group)'}</li>"
            )
    body = [
        '<p><a href="index.html">&larr; District report</a></p>',
        (
            f"<p>School year {year_name(data.latest)}. These numbers help a school team see where "
            "students may need support; they are not a grade for the school or its students.</p>"
        ),
        f"<ul>{''.join(lead)}</ul>" if lead else "<p>No rates for grades 8 or 9.</p>",
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
        f'<p class="note">{esc(SUPPRESSION_NOTE.format(dash=DASH, n=data.min_size))}</p>',
    ]
    subtitle = f"School {esc(school_id)} &middot; district {esc(school['district_id'])}"
    return page(f"{name}", subtitle, NAV, "".join(body))
