"""``ontrack report``'s pages: every shown rate is a published rates.csv cell, small
groups are withheld exactly as rates.csv withholds them, every school page is linked,
and nothing outside the report's folder is referenced or let in.

The model section is tested in tests/test_report_models.py, the command and its inputs
in tests/test_report_command.py; all three share tests/report_district.py."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports.district import parse_pair, render_report
from ontrack.reports.district.words import school_page

from tests.report_district import (
    CONFIG,
    MIN,
    Links,
    data_cells,
    read_pages,
    read_rates,
    reported_district,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shared reported district (read only)."""
    yield from reported_district(tmp_path_factory)


def test_every_school_has_a_page_linked_from_the_index(built):
    pages = read_pages(built)
    schools = read_rates(built).query("level == 'school'")["school_id"].unique()
    assert len(schools) >= 3
    for school_id in schools:
        name = school_page(school_id)
        assert name in pages, name
        assert f'href="{name}"' in pages["index.html"]
        assert "District report" in pages[name]


def test_every_shown_rate_is_a_published_cell_and_withheld_cells_show_no_number(built):
    rates = read_rates(built)
    rates["unit"] = ("district:" + rates["district_id"]).where(
        rates["level"] == "district", "school:" + rates["school_id"].fillna("")
    )
    lookup = {
        f"{r.school_year}|{r.indicator}|{r.unit}|{r.grade_level}|{r.group_type}|{r.group}": r
        for r in rates.itertuples(index=False)
    }
    shown = withheld = counts = 0
    for name, html in read_pages(built).items():
        for item in data_cells(html):
            if "data-count" in item:
                value = int(item["data-count"])
                assert value == 0 or value >= MIN, (name, item)
                counts += 1
                continue
            row = lookup[item["data-cell"]]
            text = item["text"].strip()
            if row.suppressed:
                assert item.get("data-suppressed") == "1", (name, item)
                assert not re.search(r"\d", text), (name, item)
                withheld += 1
            else:
                assert row.n >= MIN
                assert text.startswith(f"{row.rate * 100:.1f}%"), (name, item, row.rate)
                shown += 1
    assert shown > 50 and withheld > 20 and counts > 5


def test_no_percentage_in_a_table_without_its_source_cell(built):
    """Outside the models section, every % in a table cell is a rates.csv cell or a
    share derived from published counts."""
    for name, html in read_pages(built).items():
        html = re.sub(r'<section id="models">.*?</section>', "", html, flags=re.DOTALL)
        html = re.sub(r"<svg.*?</svg>", "", html, flags=re.DOTALL)
        for td in re.findall(r"<td([^>]*)>([^<]*%)</td>", html):
            assert "data-cell" in td[0] or "derived" in td[0], (name, td)


def test_criteria_counts_match_students_csv_and_small_counts_are_withheld(built):
    students = pd.read_csv(
        built / "indicators" / "students.csv",
        dtype={"school_id": str},
        low_memory=False,
    )
    latest = int(students["school_year"].max())
    ready = students[
        (students["indicator"] == "hs_readiness_8")
        & (students["school_year"] == latest)
    ]
    failing = int((ready["attendance_ok"].astype(str).str.lower() == "false").sum())
    html = read_pages(built)["index.html"]
    row = re.search(
        r"attendance of 96% or higher</th>(.*?)</tr>", html, flags=re.DOTALL
    ).group(1)
    first = data_cells(f"<table><tr>{row}</tr></table>")[0]
    assert failing >= MIN and int(first["data-count"]) == failing


def test_no_external_resource_is_referenced(built):
    pattern = re.compile(
        r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//|@import|url\(\s*[\"']?\s*(?:https?:)?//"
        r"|<link\b|<script[^>]+src=|<iframe|<object|<embed",
        re.IGNORECASE,
    )
    for name, html in read_pages(built).items():
        assert not pattern.search(html), (name, pattern.search(html).group(0))
        if not name.startswith("model_card"):  # a card's text may mention a site
            assert "http://" not in html and "https://" not in html, name
    assert not list((built / "report").glob("*.js")) and not list(
        (built / "report").glob("*.css")
    )


def test_every_chart_is_inline_svg_with_a_table_beside_it(built):
    for name, html in read_pages(built).items():
        figures = re.findall(
            r'<figure class="chart[^"]*".*?</figure>', html, flags=re.DOTALL
        )
        if name.startswith("school_") or name == "index.html":
            assert figures, name
        for fig in figures:
            assert "<svg" in fig and "<path" in fig and "<table" in fig, name
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), f"duplicate ids in {name}"


def test_roster_counts_by_tier_withhold_small_tiers(built):
    html = read_pages(built)[school_page("0503")]
    rosters = re.search(
        r'<details class="section" id="rosters">.*?</details>', html, flags=re.DOTALL
    ).group(0)
    # 5 is too small; 25 goes with it, or 25 + 5 = total - 30 would give it away
    assert 'data-count="30"' in rosters
    assert 'data-count="25"' not in rosters and ">5<" not in rosters
    other = next(
        p
        for n, p in read_pages(built).items()
        if n.startswith("school_") and n != school_page("0503")
    )
    assert "No roster for this school" in other


def test_a_cell_withheld_to_protect_another_says_so(built):
    rates = read_rates(built)
    shown = set(rates["school_year"].drop_duplicates().nlargest(3))
    why = {
        f"{r.school_year}|{r.indicator}|"
        + (f"district:{r.district_id}" if r.level == "district" else f"school:{r.school_id}")
        + f"|{r.grade_level}|{r.group_type}|{r.group}": r.suppression
        for r in rates[rates["suppressed"] & rates["school_year"].isin(shown)].itertuples()
    }
    assert "complementary" in why.values() and "primary" in why.values()
    seen = set()
    for html in read_pages(built).values():
        for cell in data_cells(html):
            if cell.get("data-suppressed") != "1" or cell["tag"] != "td":
                continue
            kind = why[cell["data-cell"]]
            seen.add(kind)
            assert cell["data-suppression"] == kind
            if kind == "complementary":
                assert cell["title"] == "withheld to protect a smaller group"
                assert cell["text"] == "\u2014\u2020"
            else:
                assert cell["title"] == "withheld: small group" and cell["text"] == "\u2014*"
    assert seen == {"primary", "complementary"}


def test_the_top_of_the_index_says_why_and_how_many_cells_are_withheld(built):
    rates = read_rates(built)
    shown = rates[rates["school_year"].isin(rates["school_year"].drop_duplicates().nlargest(3))]
    html = read_pages(built)["index.html"]
    lead = re.search(r'<p class="why-withheld" id="withheld-share">(.*?)</p>', html,
                     flags=re.DOTALL).group(1)
    lead = " ".join(lead.split())
    withheld = shown["suppressed"]
    complementary = int((withheld & (shown["suppression"] == "complementary")).sum())
    assert f"{withheld.mean():.0%} of the {len(shown):,} rate cells" in lead
    assert f"{int(withheld.sum()) - complementary:,} because fewer than {MIN} students" in lead
    assert f"{complementary:,} to protect a smaller group" in lead
    assert html.index('id="withheld-share"') < html.index('id="overview"')


def test_sections_collapse_under_a_contents_bar(built):
    html = read_pages(built)["index.html"]
    nav = re.search(r'<nav class="sections" aria-label="contents">(.*?)</nav>', html,
                    flags=re.DOTALL).group(1)
    targets = re.findall(r'<a href="#([^"]+)">', nav)
    assert targets[:3] == ["overview", "groups", "schools"] and "about" in targets
    sections = re.findall(r'<details class="section" id="([^"]+)"( open)?>', html)
    ids = [name for name, _ in sections]
    for target in targets:  # every contents link lands in (or on) a collapsible section
        assert target in ids or f'id="{target}"' in html, target
    assert dict(sections)["overview"] == " open"
    assert all(opened == "" for name, opened in sections if name != "overview")
    assert '<meta http-equiv="Content-Security-Policy"' in html


def test_hostile_school_names_and_group_labels_come_out_escaped(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    rates = read_rates(built)
    rates.loc[rates["group"] == "hispanic", "group"] = '<img src=x onerror="alert(1)">'
    rates.to_csv(tmp_path / "indicators" / "rates.csv", index=False)
    ids = sorted(rates["school_id"].dropna().unique())
    hostile = ["<script>alert(1)</script>", "[x](javascript:alert(1))", 'Q "$5" & <b>']
    (tmp_path / "validated").mkdir()
    pd.DataFrame({"school_id": ids, "school_name": [hostile[k % 3] for k in range(len(ids))],
                  "school_level": "middle"}).to_parquet(tmp_path / "validated" / "schools.parquet")
    render_report(tmp_path, CONFIG)
    pages = read_pages(tmp_path)
    for name, html in pages.items():
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>" not in html
        links = Links()
        links.feed(html)
        assert links.handlers == [], name  # no event handler attribute anywhere
        allowed = r"#.*|index\.html|school_[A-Za-z0-9_-]+\.html|model_card_[A-Za-z0-9_-]+\.html"
        assert all(re.fullmatch(allowed, h) for h in links.hrefs), links.hrefs
    index = pages["index.html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "[x](javascript:alert(1))" in index  # shown as text, never a link
    assert "&lt;img src=x onerror=" in index


def test_pages_are_the_same_with_two_processes(built, tmp_path):
    """The fixture's report was rendered in one process (a district of few schools): the
    same outputs (school names, models and rosters too) rendered by two give the same pages."""
    for folder in ("validated", "indicators", "models", "rosters"):
        shutil.copytree(built / folder, tmp_path / folder)
    render_report(tmp_path, CONFIG, pair=parse_pair("hs_readiness_8,chronic_absence"), workers=2)
    serial = read_pages(built)
    assert len(serial) > 1 and read_pages(tmp_path) == serial


def test_criteria_words_follow_the_configs_bars_not_numbers_typed_in_the_report():
    import inspect

    from ontrack.reports.district import data as report_data

    from ontrack.config import DistrictRules

    rules = DistrictRules()
    stricter = rules.model_copy(update={"readiness": rules.readiness.model_copy(
        update={"attendance_min": 0.9, "gpa_min": 3.2})})
    flag = report_data.CRITERIA["hs_readiness_8"]
    words = {f: report_data.criterion_label(rules, f) for f in flag}
    changed = {f: report_data.criterion_label(stricter, f) for f in flag}
    assert sum(words[f] != changed[f] for f in flag) == 2
    assert any("90%" in w for w in changed.values()) and any("3.2" in w for w in changed.values())
    code = inspect.getsource(report_data)
    assert not re.search(r"\b0\.9\d*\b|\b2\.5\b|\b96\b", code)  # no bar typed in data.py
