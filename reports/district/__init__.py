"""The district report: ``OUT/report/`` as a static, self-contained site.

``render_report(out_dir, config)`` reads what ontrack already published under
``out_dir`` (indicators, rosters, model evaluations; see ``data``), and writes
``index.html``, one ``school_<id>.html`` per school and the model cards. Every page
carries its own style, script and charts (inline SVG), so the folder opens from a USB
stick with no network. It renders; it never fits or recomputes a rate.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from markupsafe import Markup
from ontrack.reports.district.data import LABELS, ReportData
from ontrack.reports.district.html import (
    DASH,
    SUPPRESSION_NOTE,
    fragment,
    page,
    pct,
    section,
)
from ontrack.reports.district.impact import impact_section
from ontrack.reports.district.models import models_section
from ontrack.reports.district.overview import (
    criteria_section,
    district_units,
    groups_section,
    overview_section,
)
from ontrack.reports.district.profiles import PAIRS, ScatterPair, school_profiles
from ontrack.reports.district.school import render_school
from ontrack.reports.district.schools import schools_section
from ontrack.reports.district.sources import load_report_data
from ontrack.reports.district.words import school_page, year_name
from ontrack.reports.workers import can_fork, forked_map

from ontrack.config import Config
from ontrack.errors import OnTrackError
from ontrack.indicators.definitions import rule_definition
from ontrack.paths import remove_left_by_dead_runs, swap_in

__all__ = ["DEFAULT_PAIR", "PAIRS", "ScatterPair", "parse_pair", "render_report"]

DEFAULT_PAIR = PAIRS[0]
NAV = (
    ("#overview", "Overview"),
    ("#groups", "Student groups"),
    ("#schools", "Schools"),
    ("#criteria", "Why"),
    ("#models", "Models"),
    ("#impact", "Did support help?"),
    ("#about", "About these numbers"),
)
# Below this many schools, pages are rendered in this process (a pool costs ~2 s to start).
_POOL_FROM = 24


def parse_pair(text: str) -> ScatterPair:
    """``"hs_readiness_8,chronic_absence"`` -> the scatter pair (grade from the indicators)."""
    names = [t.strip() for t in text.split(",")]
    for pair in PAIRS:
        if names in ([pair.x, pair.y], [pair.y, pair.x]):
            return pair
    choices = "; ".join(f"{p.x},{p.y}" for p in PAIRS[:4])
    raise OnTrackError(
        f"--scatter must be two indicators of one grade, such as {choices}. "
        f"Got {text!r} instead."
    )


def _defined(data: ReportData, indicator: str) -> list[dict]:
    """The rule behind an indicator, with each district's own bars where they differ."""
    said: dict[str, list[str]] = {}
    for district_id in data.districts:
        text = rule_definition(data.rules_of(f"district:{district_id}"), indicator)
        said.setdefault(text, []).append(district_id)
    return [{"text": text, "districts": ", ".join(ids), "many": len(ids) > 1}
            for text, ids in said.items()]


def about_section(data: ReportData) -> Markup:
    """How to read the numbers: sources, suppression, definitions."""
    body = fragment(
        "report_about.html.j2",
        as_of=data.as_of,
        config_hash=data.config_hash,
        years=", ".join(year_name(y) for y in data.years),
        note=SUPPRESSION_NOTE.format(dash=DASH, n=data.min_size),
        min_size=data.min_size,
        definitions=[
            {"label": v, "name": k, "rules": _defined(data, k)} for k, v in LABELS.items()
        ],
    )
    return section("about", "About these numbers", body)


def withheld_share(data: ReportData) -> dict:
    """How many of the shown years' rate cells are withheld, and why (for one sentence
    at the top of the index)."""
    # From the cell index, which page processes hold too (they get no rates frame).
    total = len(data.cells)
    withheld = [c.suppression for c in data.cells.values() if c.suppressed]
    complementary = sum(1 for why in withheld if why == "complementary")
    primary = len(withheld) - complementary
    return {
        "total": total,
        "share": pct((primary + complementary) / total, 0) if total else pct(0.0, 0),
        "primary": primary,
        "complementary": complementary,
        "min_size": data.min_size,
    }


def render_index(
    data: ReportData, profiles: pd.DataFrame, pair: ScatterPair, report_dir: Path
) -> str:
    """The complete index.html."""
    units = district_units(data)
    groups = [
        groups_section(
            data,
            f"district:{d}",
            "Student groups" + (f", district {d}" if len(units) > 1 else ""),
            anchor="groups" if k == 0 else f"groups-{d}",
        )
        for k, d in enumerate(units)
    ]
    criteria = [
        criteria_section(data, f"district:{d}", "criteria" if k == 0 else f"criteria-{d}")
        for k, d in enumerate(units)
    ]
    sections = [
        overview_section(data),
        *groups,
        schools_section(data, profiles, pair),
        *criteria,
        # models_section (reports/district/models.py) brings its own heading and the
        # "models" anchor; the collapsible part around it has an id of its own.
        section("models-part", "Early-warning models", Markup(models_section(
            data.models, data.out_dir, report_dir, data.checks, data.min_size, data.specs
        ))),
        section("impact", "Did support help?", impact_section(data.out_dir)),
        about_section(data),
    ]
    title = "On track: district report"
    subtitle = (
        f"School year {year_name(data.latest)} \u00b7 {len(profiles)} schools \u00b7 "
        f"groups under {data.min_size} students withheld"
    )
    lead = fragment("report_index_lead.html.j2", withheld=withheld_share(data),
                    rates_in=len(data.years))
    return page(title, subtitle, NAV, sections, lead=lead)


_WORKER: dict = {}


def _init_worker(data: ReportData, profiles: pd.DataFrame, report_dir: Path) -> None:
    _WORKER.update(data=data, profiles=profiles, report_dir=report_dir)


def _write_page(task: tuple[str, object]) -> str:
    """Write one page: ("index", pair) or ("school", school record)."""
    kind, what = task
    data, profiles, report_dir = (
        _WORKER["data"],
        _WORKER["profiles"],
        _WORKER["report_dir"],
    )
    if kind == "index":
        target = report_dir / "index.html"
        target.write_text(
            render_index(data, profiles, what, report_dir), encoding="utf-8"
        )
    else:
        target = report_dir / school_page(what["school_id"])
        target.write_text(render_school(data, profiles, what), encoding="utf-8")
    return target.name


def render_report(
    out_dir: Path | str,
    config: Config,
    *,
    pair: ScatterPair | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> Path:
    """Write ``OUT/report/`` from the outputs under ``out_dir``; return index.html's path.

    ``pair`` is the scatter shown first (default readiness vs chronic absence, grade 8).
    ``workers`` processes render the pages (default: up to 2 CPUs, 1 for small
    districts); the output is the same with any number.
    """
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    final_dir = out_dir / "report"
    # Pages are written to a staging folder and swapped in at the end: a killed run
    # leaves the previous report whole, never old pages deleted and new ones half written.
    remove_left_by_dead_runs(out_dir, r"\.report\.(?P<pid>\d+)\.tmp")  # killed before their swap
    report_dir = out_dir / f".report.{os.getpid()}.tmp"
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    try:
        return _render_into(report_dir, final_dir, out_dir, config, pair, say, workers)
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)  # gone already when it was swapped in


def _render_into(report_dir: Path, final_dir: Path, out_dir: Path, config: Config,
                 pair: ScatterPair | None, say: Callable[[str], None], workers: int | None) -> Path:
    """Every page into ``report_dir``, then swapped in as ``final_dir``."""
    say("reading published rates, criteria counts, rosters and model evaluations")
    scoring = getattr(
        config, "scoring", None
    )  # roster tiers, once scoring is configured
    tiers = tuple(getattr(scoring, "tier_names", ()) or ())
    data = load_report_data(out_dir, config, tiers)
    profiles = school_profiles(data)
    schools = data.schools[["school_id", "school_name", "district_id"]].to_dict(
        "records"
    )
    tasks = [("index", pair or DEFAULT_PAIR), *[("school", s) for s in schools]]
    n_workers = workers or (
        min(2, os.cpu_count() or 1) if len(schools) >= _POOL_FROM else 1
    )
    say(
        f"writing index.html and {len(schools)} school pages ({len(data.models)} models) "
        f"with {n_workers} process(es)"
    )
    chunk = max(1, len(tasks) // (8 * n_workers))
    if n_workers <= 1 or can_fork():
        # A forked worker reads the data from this process's memory: nothing pickled,
        # nothing imported again (a spawned one pays ~1.5 s of imports first).
        _init_worker(data, profiles, report_dir)
        if n_workers <= 1:
            for task in tasks:
                _write_page(task)
        else:
            forked_map(_write_page, tasks, workers=n_workers, chunksize=chunk)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            n_workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(data.without_rates(), profiles, report_dir),
        ) as pool:
            list(pool.map(_write_page, tasks, chunksize=chunk))
    swap_in(report_dir, final_dir)  # one exchange: a reader sees the old report or the new
    say(f"report written to {final_dir}")
    return final_dir / "index.html"
