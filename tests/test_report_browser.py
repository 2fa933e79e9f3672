"""The district report in a real browser: headless Chromium opens index.html and a
school page from disk, the charts draw, the schools table sorts and filters, and
screenshots are saved under tests/artifacts/report/.

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``),
so nothing beyond Chromium itself is needed (no driver, no network port). Skipped, with
the reason, only when no Chromium binary can be found (set ONTRACK_CHROMIUM to point at
one).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from ontrack.reports.district import render_report

from ontrack.config import load_config
from ontrack.indicators import run_indicators
from ontrack.synth import generate_district

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "report"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium binary: ONTRACK_CHROMIUM, else the first candidate on PATH."""
    explicit = os.environ.get("ONTRACK_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class Browser:
    """Headless Chromium spoken to over the DevTools protocol on fds 3 and 4."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Keep both child ends above 4 so that moving them onto 3 and 4 cannot clash.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def onto_3_and_4() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            args,
            preexec_fn=onto_3_and_4,  # noqa: PLW1509 - only moves two fds
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_in)
        os.close(child_out)
        self._next_id = 0
        self._buffer = b""
        self.session: str | None = None

    def send(
        self,
        method: str,
        params: dict | None = None,
        *,
        session: bool = True,
        timeout: float = 30.0,
    ) -> dict:
        """Send one command and return its result (events in between go to
        :meth:`on_event`)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if "method" in reply and "id" not in reply:
                    self.on_event(reply)
                elif reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method} in {timeout} s")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk

    def on_event(self, event: dict) -> None:
        """An event Chromium sent while a command was pending: ignored here."""

    def open(self, url: str) -> None:
        """Open ``url`` in a fresh tab and wait until it has loaded."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self.session = attached["sessionId"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + 30
        while (
            self.js("document.readyState") != "complete"
            or self.js("location.href") != url
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def js(self, expression: str):
        """Evaluate ``expression`` in the page and return its value."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """Save a full-page PNG of the current tab."""
        shot = self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        """Ask Chromium to quit; kill it if it does not."""
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            "Chromium not found (install Debian's `chromium` package, as .ci/run "
            "does, or set ONTRACK_CHROMIUM): the browser checks of the report "
            "cannot run here"
        )
    session = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield session
    session.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report-browser")
    generate_district(root / "data", n_students=1500, n_years=3, seed=2)
    config = load_config()
    run_indicators(root / "data", root / "out", config)
    return render_report(root / "out", config)


SVG_CHECK = """
(function(){var out=[];document.querySelectorAll('figure.chart').forEach(function(f){
 if(f.hidden||f.closest('details:not([open])')){return;}var s=f.querySelector('svg');var r=s?s.getBoundingClientRect():null;
 out.push({w:r?r.width:0,h:r?r.height:0,shapes:s?s.querySelectorAll('path,use,text').length:0});});
 return out;})()
"""
COLUMN = """
(function(){var t=document.getElementById('schools-table');
 var i=Array.prototype.indexOf.call(t.tHead.rows[0].cells,
   Array.prototype.find.call(t.tHead.rows[0].cells,function(c){return c.textContent.trim()==='%s';}));
 return Array.prototype.map.call(t.tBodies[0].rows,function(r){
   return r.hidden?null:(r.cells[i].getAttribute('data-sort')||'');});})()
"""


def _click_heading(browser: Browser, text: str) -> None:
    browser.js(
        "Array.prototype.find.call(document.querySelectorAll('#schools-table th button'),"
        f"function(b){{return b.textContent.trim()==='{text}';}}).click()"
    )


def _numbers(values: list) -> list[float]:
    return [float(v) for v in values if v not in (None, "")]


def test_index_is_short_and_its_contents_bar_opens_sections(browser, report):
    browser.open(report.as_uri())
    height = browser.js("document.documentElement.scrollHeight")
    print(f"index height with its sections closed: {height} px")
    assert height < 2500  # was 9,650 px with every section open
    assert browser.js("document.getElementById('schools').open") is False
    browser.js("document.querySelector('nav.sections a[href=\"#schools\"]').click()")
    deadline = time.monotonic() + 5
    while not browser.js("document.getElementById('schools').open"):
        assert time.monotonic() < deadline, "the contents link did not open its section"
        time.sleep(0.05)
    assert browser.js("document.getElementById('schools-table').getBoundingClientRect().width") > 600
    browser.js("document.getElementById('open-all').click()")
    assert browser.js(
        "Array.prototype.every.call(document.querySelectorAll('details.section'),"
        "function(d){return d.open;})"
    )


def test_index_charts_render_and_the_schools_table_sorts(browser, report):
    browser.open(report.as_uri())
    browser.js("document.getElementById('open-all').click()")
    charts = browser.js(SVG_CHECK)
    assert len(charts) >= 4
    assert all(c["w"] > 100 and c["h"] > 50 and c["shapes"] > 10 for c in charts), (
        charts
    )
    browser.screenshot(ARTIFACTS / "index.png")

    _click_heading(browser, "students")
    up = _numbers(browser.js(COLUMN % "students"))
    assert len(up) >= 3 and up == sorted(up)
    assert (
        browser.js(
            "document.querySelector('#schools-table th[aria-sort]')"
            ".getAttribute('aria-sort')"
        )
        == "ascending"
    )
    _click_heading(browser, "students")
    down = _numbers(browser.js(COLUMN % "students"))
    assert down == sorted(up, reverse=True)
    _click_heading(browser, "school")
    names = browser.js(COLUMN % "school")
    natural = [
        [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)] for n in names
    ]
    assert natural == sorted(natural)  # numbers in names sort as numbers
    browser.screenshot(ARTIFACTS / "index-sorted.png")


def test_filters_and_scatter_choice_work(browser, report):
    browser.open(report.as_uri())
    browser.js("document.getElementById('open-all').click()")
    total = len(browser.js(COLUMN % "school"))
    browser.js(
        "var s=document.querySelector('select[name=size]');s.value='larger';"
        "s.dispatchEvent(new Event('change'))"
    )
    shown = [v for v in browser.js(COLUMN % "school") if v is not None]
    assert 0 < len(shown) < total
    visible = browser.js(
        "Array.prototype.filter.call(document.querySelectorAll('.scatter'),"
        "function(f){return !f.hidden;}).length"
    )
    assert visible == 1
    options = browser.js(
        "Array.prototype.map.call(document.getElementById('scatter-pick')"
        ".options,function(o){return o.value;})"
    )
    browser.js(
        f"var p=document.getElementById('scatter-pick');p.value='{options[-1]}';"
        "p.dispatchEvent(new Event('change'))"
    )
    shown_pair = browser.js(
        "Array.prototype.find.call(document.querySelectorAll('.scatter'),"
        "function(f){return !f.hidden;}).getAttribute('data-pair')"
    )
    assert shown_pair == options[-1]
    assert all(c["w"] > 100 for c in browser.js(SVG_CHECK))
    browser.screenshot(ARTIFACTS / "index-filtered.png")


def test_a_school_page_renders_its_charts(browser, report):
    page = min(report.parent.glob("school_*.html"))
    browser.open(page.as_uri())
    charts = browser.js(SVG_CHECK)
    assert charts and all(c["w"] > 100 and c["shapes"] > 10 for c in charts), charts
    assert browser.js("document.querySelector('a[href=\"index.html\"]') !== null")
    shot = browser.screenshot(ARTIFACTS / "school.png")
    assert shot.stat().st_size > 10_000
    print(f"screenshots in {ARTIFACTS}")
