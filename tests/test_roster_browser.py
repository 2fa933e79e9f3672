"""The rosters in a real browser: headless Chromium at 1400×900, network off, opens a
school roster written by ``publish_rosters`` (names, follow-up items, counselors) and
the rosters' index page. The first screen shows the first student's name, tier, rule
status and top reason; the index links every roster written; nothing is fetched and
nothing is logged. First-screen screenshots are saved under tests/artifacts/roster/.

Uses the DevTools driver of tests/test_profile_browser.py; skipped only when no
Chromium binary can be found (set ONTRACK_CHROMIUM).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ontrack.reports.publish import publish_rosters

from ontrack.config import Config
from ontrack.paths import file_stem
from tests.test_profile_browser import ListeningBrowser, assert_quiet_and_offline, listening_browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "roster"
EVIL = "<script>alert(1)</script>"
N = 60  # students per school: more than one screen
# Where each listed cell of the first data row sits, and its text.
FIRST_ROW = """
(function(){var row=document.querySelector('#roster tbody tr');var out={};
 ['student_name','risk_tier','rule_status','reason_1'].forEach(function(name){
  var heads=[].slice.call(document.querySelectorAll('#roster thead th'));
  var col=heads.findIndex(function(th){return th.getAttribute('data-col')===name;});
  var cell=row.cells[col],r=cell.getBoundingClientRect();
  out[name]={text:cell.textContent.trim(),top:r.top,bottom:r.bottom,left:r.left,right:r.right};});
 out.scrollWidth=document.documentElement.scrollWidth;return out;})()
"""


def _roster(school: str, start: int, rng: np.random.Generator) -> pd.DataFrame:
    """A ranked grade-8 roster of one school, as the scorer hands it over."""
    risk = np.sort(rng.uniform(0.02, 0.95, N))[::-1]
    tier = np.where(risk >= 0.5, "intensive support", np.where(risk >= 0.2, "check in", "on track"))
    gpa_ok, attendance_ok = rng.random(N) > 0.4, rng.random(N) > 0.5
    status = np.where(gpa_ok & attendance_ok, "met", "not_met")
    ids = [f"{start + i:05d}" for i in range(N)]
    return pd.DataFrame({
        "student_id": ids, "school_id": school, "district_id": "d1", "school_year": 2026, "grade_level": 8,
        "model": "grade8", "ranked_by": "model", "risk": risk, "risk_tier": tier, "rank": range(1, N + 1),
        "change": ["new to the list" if i % 7 == 0 else "no change" for i in range(N)],
        "alerts": ["Absences rose in the last 30 days" if i % 5 == 0 else "" for i in range(N)],
        "reason_1": [f"Attendance {80 + i % 15}% this year (readiness needs 96%)" for i in range(N)],
        "reason_2": ["2 failing marks in math this semester"] * N, "reason_3": [""] * N,
        "rule_status": status, "rule_score": 0.0, "rule_gpa": rng.uniform(1.5, 3.9, N).round(2),
        "rule_gpa_ok": gpa_ok, "rule_attendance_rate": rng.uniform(0.8, 1.0, N),
        "rule_attendance_ok": attendance_ok, "model_version": "4", "as_of_date": "2026-01-31",
        "expires": "2026-06-30", "config_hash": "abc123",
    })


@pytest.fixture(scope="module")
def rosters(tmp_path_factory) -> dict:
    """Two schools' rosters, their counselors' rosters and the index, in a fresh OUT."""
    out = tmp_path_factory.mktemp("roster-browser") / "out"
    (out / "validated").mkdir(parents=True)
    rng = np.random.default_rng(7)
    roster = pd.concat([_roster("001", 1000, rng), _roster("N/7", 2000, rng)], ignore_index=True)
    pd.DataFrame({"school_id": ["001", "N/7"], "school_name": ["Lincoln Middle", f"East {EVIL}"],
                  "district_id": ["d1", "d1"]}).to_parquet(out / "validated" / "schools.parquet")
    pd.DataFrame({"student_id": roster["student_id"], "first_name": "Ana",
                  "last_name": [f"Ávila-{i}" if i else EVIL for i in range(len(roster))]}
                 ).to_parquet(out / "validated" / "students.parquet")
    pd.DataFrame({"student_id": roster["student_id"], "staff_id": np.where(roster.index % 2, "S1", "S/2"),
                  "staff_name": np.where(roster.index % 2, "Ms. Ruiz", "Mr. Lee"), "school_year": 2026}
                 ).to_parquet(out / "validated" / "caseloads.parquet")
    run = {"model": "grade8", "version": "4", "as_of": "2026-01-31", "expires": "2026-06-30",
           "ranked_by": "model", "banner": None}
    publish_rosters(roster, run, out / "rosters", out, Config())
    return {"out": out, "roster": roster}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from listening_browser(tmp_path_factory, "rosters")


def _open_at_1400(browser: ListeningBrowser, page: Path) -> None:
    browser.open_offline(page.as_uri())
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    assert browser.js("window.innerWidth") == 1400 and browser.js("window.innerHeight") == 900




def _first_screen(browser: ListeningBrowser, name: str) -> None:
    shot = browser.send("Page.captureScreenshot", {"format": "png"})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(base64.b64decode(shot["data"]))


def test_the_first_screen_shows_the_first_students_essentials(browser, rosters):
    page = rosters["out"] / "rosters" / f"{file_stem('N/7')}.html"
    _open_at_1400(browser, page)
    assert browser.js("document.documentElement.getAttribute('data-ready')") == "1"
    first = browser.js(FIRST_ROW)
    top = rosters["roster"][rosters["roster"]["school_id"] == "N/7"].iloc[0]  # highest risk of the school
    assert first["student_name"]["text"] == f"Ávila-{N}, Ana"
    assert first["risk_tier"]["text"].startswith("intensive support")
    assert first["rule_status"]["text"].split()[0] in ("met", "not") and first["rule_status"]["text"]
    assert first["reason_1"]["text"] == top["reason_1"]
    for name in ("student_name", "risk_tier", "rule_status", "reason_1"):
        cell = first[name]
        assert 0 <= cell["top"] and cell["bottom"] <= 900, (name, cell)  # on the first screen
        assert 0 <= cell["left"] and cell["right"] <= 1400, (name, cell)  # no scrolling sideways
    assert first["scrollWidth"] <= 1400
    assert browser.js("document.title") == f"East {EVIL}: support roster"  # escaped in the file, text here
    assert browser.js("document.querySelectorAll('script').length") == 1
    _first_screen(browser, "school.png")
    assert_quiet_and_offline(browser, page)


def test_sorting_and_searching_work_in_the_browser(browser, rosters):
    page = rosters["out"] / "rosters" / "001.html"
    _open_at_1400(browser, page)
    rows = "document.querySelectorAll('#roster tbody tr:not([hidden])').length"
    assert browser.js(rows) == N
    browser.js("""(function(){var b=document.querySelector('input[data-filter]');b.value='01005';
      b.dispatchEvent(new Event('input'));})()""")
    assert browser.js(rows) == 1 and browser.js("document.getElementById('shown').textContent") == f"1 of {N} shown"
    browser.js("document.querySelector('th[data-col=risk] button').click()")
    risks = browser.js("""(function(){var c=[].findIndex.call(document.querySelectorAll('#roster thead th'),
      function(th){return th.getAttribute('data-col')==='risk';});
      return [].map.call(document.querySelectorAll('#roster tbody tr'),
      function(r){return +r.cells[c].getAttribute('data-sort');});})()""")
    assert len(risks) == N and risks == sorted(risks)
    assert_quiet_and_offline(browser, page)


def test_the_index_lists_every_roster(browser, rosters):
    folder = rosters["out"] / "rosters"
    page = folder / "index.html"
    written = {p.relative_to(folder).as_posix() for p in folder.rglob("*.html")} - {"index.html"}
    assert len(written) == 4  # two schools, two counselors
    _open_at_1400(browser, page)
    links = browser.js("[].map.call(document.querySelectorAll('#rosters tbody tr td:first-child a'),"
                       "function(a){return a.getAttribute('href');})")
    assert {Path(h).as_posix() for h in links} == written
    counts = browser.js("[].map.call(document.querySelectorAll('#rosters tbody tr'),"
                        "function(r){return r.cells[0].textContent+'|'+r.cells[3].textContent;})")
    assert f"East {EVIL}: support roster|{N}" in counts and f"Lincoln Middle: support roster|{N}" in counts
    _first_screen(browser, "index.png")
    assert_quiet_and_offline(browser, page)
