"""The roster's HTML page: self-contained, shows every student and the run, escapes
student, school and course data, sorts in Chromium, puts the students to follow up
first, folds all but the first-screen columns and gives each model its own header."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from ontrack.reports.roster_values import NOTHING_TO_FOLLOW
from ontrack.reports.rosters import write_roster

from ontrack.paths import file_stem
from tests.roster_frames import BANNER, EVIL, roster_frame, roster_meta


@pytest.fixture
def written(tmp_path: Path) -> dict[str, Path]:
    """The three files of the small roster, written to ``tmp_path/rosters``."""
    return write_roster(roster_frame(), roster_meta(), tmp_path / "rosters", "001")


def test_html_is_self_contained(written):
    page = written["html"].read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page, re.IGNORECASE)
    assert not re.search(r"@import|url\(", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<img" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 1 and "sortBy" in scripts[0] and "localeCompare" in scripts[0]


def test_html_shows_every_student_and_the_run(written):
    page = written["html"].read_text(encoding="utf-8")
    for student_id in roster_frame()["student_id"]:
        assert f"<td>{student_id}</td>" in page
    assert '<div class="banner" role="alert">' + BANNER in page
    assert "New since last run" in page and "Absences rose in the last 30 days" in page
    assert '<a href="#row-0">00017</a>' in page
    assert "intensive support: 1" in page and "flashlight" in page
    assert 'data-sort="0.8123">81%</td>' in page
    assert 'data-sort="0.0041">&lt;1%</td>' in page
    assert "88.1%" in page  # a rate column reads as a percentage
    assert re.search(r'data-col="risk" data-type="num"', page)
    assert re.search(r'data-col="student_id" data-type="text"', page)
    assert "danger" not in page.lower()


def test_html_escapes_student_data(written):
    page = written["html"].read_text(encoding="utf-8")
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1


def test_script_in_school_student_and_course_names_is_escaped(tmp_path):
    from ontrack.reports.roster_html import render_index

    frame = roster_frame().assign(school_name=[EVIL, "Other", EVIL], current_support=[EVIL, "", ""],
                                  reason_1=[f"Failing {EVIL} (course)", "", ""])
    frame.insert(1, "student_name", [EVIL, "Ana", "Bo"])
    page = write_roster(frame, roster_meta(title=EVIL, rules=(EVIL,)), tmp_path, "s")["html"].read_text("utf-8")
    assert EVIL not in page and page.count("<script>") == 1
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    index = render_index([{"title": EVIL, "href": "s.html", "kind": "school", "students": 3,
                           "tiers": {EVIL: 1}, "followup": 0, "models": [EVIL]}])
    assert EVIL not in index and index.count("<script>") == 1


@pytest.mark.parametrize(("sort", "order"), [
    ("risk:asc", ["1", "2", "0"]),  # <1%, 35%, 81%: by data-sort, not the text
    ("risk_tier:desc", ["1", "2", "0"]),  # on track, check in, intensive support: by tier order
    ("change:asc", ["2", "0", "1"]),  # moved up, new to the list, no change
])
def test_chromium_parses_and_sorts_the_page(written, tmp_path, sort, order):
    chromium = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.skip("Chromium is not installed (/usr/bin/chromium); the page is "
                    "checked as text only")
    url = f"{written['html'].resolve().as_uri()}#sort={sort}"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-extensions", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
        capture_output=True, text=True, timeout=60, check=False)
    dom = done.stdout
    assert 'data-ready="1"' in dom, done.stderr[-2000:]  # the script ran to the end
    assert f'data-sorted="{sort}"' in dom
    assert re.findall(r'<tr id="row-(\d+)"', dom) == order
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_first_screen_columns_and_the_rest_folded(written):
    page = written["html"].read_text(encoding="utf-8")
    table = page[page.index('<table id="roster"'):page.index("</table>", page.index('<table id="roster"'))]
    heads = re.findall(r'data-col="([^"]+)"', table)
    assert heads == ["student_id", "grade_level", "risk_tier", "risk", "rule_status", "reason_1", "change"]
    first = table[table.index('<tr id="row-0">'):table.index("</tr>", table.index('<tr id="row-0">'))]
    assert '<span class="not-met">not met</span><br><span class="small">GPA, attendance</span>' in first
    assert "<details><summary>more</summary>" in first and "<dt>Reason 2</dt>" in first
    assert "<dt>Alerts</dt>" in first and "<dt>GPA</dt><dd>1.75</dd>" in first
    third = table[table.index('<tr id="row-2">'):]
    assert "attendance; unknown: GPA" in third


def test_rule_not_met_in_the_lowest_tier_is_marked_and_counted(tmp_path):
    frame = roster_frame().assign(rule_status=["not_met", "not_met", "met"])  # 00203: on track, rule not met
    page = write_roster(frame, roster_meta(), tmp_path, "m")["html"].read_text(encoding="utf-8")
    row = page[page.index('<tr id="row-1">'):page.index("</tr>", page.index('<tr id="row-1">'))]
    assert '<span class="tier tlast">on track</span> <span class="mark warn">rule not met</span>' in row
    assert "1 student fails the rule but sits in “on track”" in page
    assert page.count('<span class="mark warn">rule not met</span>') == 1  # 00017 is not in the lowest tier


def test_each_model_of_a_file_gets_its_own_header(tmp_path):
    from ontrack.reports.roster_values import ModelHeader

    frame = pd.concat([roster_frame(), roster_frame().assign(student_id=["9001", "9002", "9003"], model="grade9",
                                                             grade_level=9)], ignore_index=True)
    meta = roster_meta(models=(
        ModelHeader("grade8", "2026-11-15", "ranked by the model, version 7", "intensive support at risk ≥ 50%"),
        ModelHeader("grade9", "2026-11-15", "ranked by the rule because no champion", "by the rule's criteria")))
    page = write_roster(frame, meta, tmp_path, "mm")["html"].read_text(encoding="utf-8")
    assert page.count("<h2>grade8: 3 students</h2>") == 1 and page.count("<h2>grade9: 3 students</h2>") == 1
    assert page.index("grade8</strong>: as of 2026-11-15 · ranked by the model, version 7") < \
        page.index('id="roster"') < page.index("ranked by the rule because no champion") < page.index('id="roster-2"')
    assert 'data-filter="roster roster-2"' in page


def test_follow_up_section_comes_first_links_profiles_and_escapes(tmp_path):
    frame = roster_frame()
    frame.insert(1, "student_name", ["Ávila, Ana", EVIL, ""])
    meta = roster_meta(profiles="../profiles/", followup=[
        ("00017", "Ávila, Ana", "flagged, no support", "2026-10-31", "no support recorded since 2026-10-31"),
        ("99999", EVIL, "risk up", "2026-10-31", "risk 0.31 → 0.45")])
    paths = write_roster(frame.assign(school_id=["N/7", "N/7", "001"]), meta, tmp_path, "x")
    page = paths["html"].read_text(encoding="utf-8")
    assert page.index("Follow up this week") < page.index("New since last run") < page.index('id="roster"')
    assert '<td><a href="#row-0">00017</a> Ávila, Ana</td><td>flagged, no support</td><td class="nowrap">2026-10-31</td>' in page
    assert "<td>99999 &lt;script&gt;" in page and EVIL not in page  # not on this roster: no link
    assert f'<a href="../profiles/{file_stem("N/7")}/00017.html">00017</a>' in page
    assert '<a href="../profiles/001/01000.html">01000</a>' in page
    assert '<th scope="col" data-col="student_name" data-type="text" title="student_name"><button ' \
           'type="button">Name</button>' in page
    about = openpyxl.load_workbook(paths["xlsx"])["about"]
    text = "\n".join(str(v) for row in about.iter_rows(values_only=True) for v in row if v)
    assert "Ávila, Ana: flagged, no support since 2026-10-31 (no support recorded since 2026-10-31)" in text
    empty = write_roster(roster_frame(), roster_meta(), tmp_path, "y")["html"].read_text(encoding="utf-8")
    assert NOTHING_TO_FOLLOW in empty and "../profiles/" not in empty
