"""The district report's "Did support help?" section, from ``OUT/impact/impact.json``.

It renders what ``ontrack.impact`` wrote and recomputes nothing: a table per
intervention type with the weighted comparison (labelled *association, not proof*)
and a row per assignment cutoff (regression discontinuity, with its bandwidth and the
density check). Withheld cells show "fewer than N" and no rate. Rendered through the
autoescaping template report_impact.html.j2: intervention types are the district's own
words.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from markupsafe import Markup
from ontrack.reports.templating import render

IMPACT_JSON = Path("impact") / "impact.json"


def _pct(value: float | None) -> str:
    return "\u2014" if value is None else f"{value * 100:.1f}%"


def _pts(value: float | None) -> str:
    return "\u2014" if value is None else f"{value * 100:+.1f} pts"


def _interval(entry: dict[str, Any]) -> str:
    low, high = entry.get("ci_low"), entry.get("ci_high")
    if low is None or high is None:
        return "\u2014"
    return f"{low * 100:+.1f} to {high * 100:+.1f} pts"




def read_impact(out_dir: Path | str) -> dict[str, Any] | None:
    """``OUT/impact/impact.json`` as written, or None before the impact stage has run."""
    path = Path(out_dir) / IMPACT_JSON
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def impact_section(out_dir: Path | str) -> Markup:
    """The body of the report's section for the impact estimates under ``out_dir``
    (``reports/templates/report_impact.html.j2``)."""
    impact = read_impact(out_dir)
    level = round(100 * impact["confidence"]) if impact else 95
    return Markup(
        render(
            "report_impact.html.j2", impact=impact, level=level, interval=_interval,
            pct=_pct, pts=_pts,
        )
    )
