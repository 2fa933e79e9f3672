"""A student profile in a real browser: headless Chromium opens the page from disk with
the network off, every chart draws (its SVG has a size and shapes), nothing is fetched
and nothing is logged to the console; a screenshot is saved under
tests/artifacts/profile/.

Uses the DevTools-over-a-pipe driver of tests/test_report_browser.py and, like it, is
skipped only when no Chromium binary can be found (set ONTRACK_CHROMIUM).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports.publish import score_and_publish

from ontrack.dataset.asof import data_end_date
from ontrack.indicators import checkpoint_dates, school_year_of
from ontrack.paths import file_stem
from ontrack.scoring.cohort import latest_checkpoint
from ontrack.validation.store import open_validated
from tests.shared_outputs import clone_output
from tests.test_report_browser import Browser, find_chromium

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "profile"
CHARTS = """
(function(){var out={};document.querySelectorAll('figure.chart').forEach(function(f){
 var s=f.querySelector('svg');var r=s.getBoundingClientRect();
 out[f.id]={w:r.width,h:r.height,shapes:s.querySelectorAll('rect,polygon,path,circle').length};});
 return out;})()
"""


class ListeningBrowser(Browser):
    """The report's browser, keeping the events it reads (console, log, network)."""

    def __init__(self, binary: str, profile: Path) -> None:
        super().__init__(binary, profile)
        self.events: list[dict] = []

    def on_event(self, event: dict) -> None:
        """Keep every event (console, log, network) for the checks."""
        self.events.append(event)

    def open_offline(self, url: str) -> None:
        """Open ``url`` with the network emulated off and console/log/network events on."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                             session=False)
        self.session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable")
        self.send("Network.emulateNetworkConditions",
                  {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + 30
        while self.js("document.readyState") != "complete" or self.js("location.href") != url:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)


def listening_browser(tmp_path_factory, pages: str):
    """A Chromium session for a module's browser checks of ``pages`` (skips without one)."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium not found (install Debian's `chromium` package, as .ci/run does, or set "
                    f"ONTRACK_CHROMIUM): the browser checks of the {pages} cannot run here")
    session = ListeningBrowser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield session
    session.close()


def assert_quiet_and_offline(browser: ListeningBrowser, page: Path) -> None:
    """Nothing on the console or in the log, and nothing fetched but the page itself."""
    console = [e for e in browser.events if e["method"] in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown")]
    logged = [e for e in browser.events if e["method"] == "Log.entryAdded"
              and e["params"]["entry"]["level"] in ("error", "warning")]
    assert not console and not logged, (console, logged)
    fetched = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"]
    assert fetched == [page.as_uri()], fetched  # the page itself, nothing else


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from listening_browser(tmp_path_factory, "profiles")


@pytest.fixture(scope="module")
def page(tmp_path_factory, trained_grade8) -> Path:
    """A model-ranked student's page after two scoring runs (so risk has a history)."""
    out = clone_output(trained_grade8["out"], tmp_path_factory.mktemp("profile-browser") / "out")
    config = trained_grade8["config"]
    con = open_validated(out, config)
    try:
        latest = latest_checkpoint(con, config, data_end_date(con))
    finally:
        con.close()
    rules = config.rules_for(None)
    year = school_year_of(rules, latest)
    earlier = max(d for y in (year - 1, year) for d in checkpoint_dates(rules, y) if d < latest)
    score_and_publish(out, config, model="grade8", as_of=earlier)
    result = score_and_publish(out, config, model="grade8", as_of=latest)
    roster = result.roster
    history = pd.read_parquet(out / "history" / "scores.parquet")
    twice = history.groupby("student_id")["as_of_date"].nunique()
    row = roster[roster["student_id"].isin(twice[twice >= 2].index)].iloc[0]
    return out / "profiles" / file_stem(row["school_id"]) / f"{file_stem(row['student_id'])}.html"


def test_a_profile_opens_offline_and_its_charts_render(browser, page):
    browser.open_offline(page.as_uri())
    charts = browser.js(CHARTS)
    assert {"waterfall-chart", "attendance-chart", "risk-chart"} <= set(charts), charts
    for name, chart in charts.items():
        assert chart["w"] > 200 and chart["h"] > 60 and chart["shapes"] >= 2, (name, chart)
    assert charts["waterfall-chart"]["shapes"] == 10
    assert browser.js("document.querySelectorAll('#risk-chart circle').length") >= 2
    shot = browser.screenshot(ARTIFACTS / "profile.png")
    assert shot.stat().st_size > 10_000
    assert_quiet_and_offline(browser, page)
    assert "Page.loadEventFired" in [e["method"] for e in browser.events]
    print(f"screenshot in {ARTIFACTS}")
