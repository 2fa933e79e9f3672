"""The district report's "Did support help?" section, from ``OUT/impact/impact.json``.

It renders what ``ontrack.impact`` wrote and recomputes nothing: a table per
intervention type with the weighted comparison (labelled *association, not proof*)
and a row per assignment cutoff (regression discontinuity, with its bandwidth and the
density check). Withheld cells show "fewer than N" and no rate. Rendered through an
autoescaping Jinja2 template: intervention types are the district's own words.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

IMPACT_JSON = Path("impact") / "impact.json"

_TEMPLATE = """\
<section id="impact"><h2>Did support help?</h2>
{% if impact is none %}
<p>No impact estimates yet: the impact stage has not run on this output.</p>
{% else %}
<p class="note">Each effect is the on-track rate at the end of 9th grade of the students
served minus that of comparable students not served (above 0: the served did better), with
a {{ level }}% interval. A side with fewer than {{ impact.min_group_size }} students is
withheld.</p>
{% if impact.why %}<p><strong>Nothing could be estimated:</strong> {{ impact.why }}.</p>{% endif %}
{% for item in impact.interventions %}
<h3>{{ item.intervention_type }}</h3>
{% set m = item.matched %}
<table class="impact" data-type="{{ item.intervention_type }}">
<caption class="note">Served vs comparable not served: association, not proof.</caption>
<thead><tr><th scope="col">Estimate</th><th scope="col" class="num">Served (n)</th>
<th scope="col" class="num">Not served (n)</th><th scope="col" class="num">Served on track</th>
<th scope="col" class="num">Not served on track</th><th scope="col" class="num">Effect</th>
<th scope="col">{{ level }}% interval</th><th scope="col">Notes</th></tr></thead>
<tbody>
<tr data-kind="matched"><th scope="row">Comparison (association, not proof)</th>
<td class="num">{{ m.n_served | default("") }}</td><td class="num">{{ m.n_comparison | default("") }}</td>
<td class="num">{{ m.served_rate | pct }}</td><td class="num">{{ m.comparison_rate | pct }}</td>
<td class="num">{{ m.effect | pts }}</td><td>{{ interval(m) }}</td>
<td>{% if m.why %}{{ m.why }}.{% else %}Weighted to
match on grade, year, rule status and the criteria before the start.{% endif %}</td></tr>
{% for d in item.discontinuity %}
<tr data-kind="discontinuity"><th scope="row">At the cutoff: {{ d.variable }}
{{ "below" if d.treated == "below" else "at or above" }} {{ d.threshold }} as of {{ d.as_of }}</th>
<td class="num">{{ d.n_served_side if d.n_served_side is not none else "" }}</td>
<td class="num">{{ d.n_other_side if d.n_other_side is not none else "" }}</td>
<td class="num">&mdash;</td><td class="num">&mdash;</td>
<td class="num">{{ d.effect | pts }}</td><td>{{ interval(d) }}</td>
<td>{% if d.bandwidth is not none %}Students within {{ d.bandwidth }} of the cutoff
({{ d.design }} design).
{% if d.density_p_value is none %}Density check: could not be computed.
{% elif d.density_p_value < 0.05 %}Density check: p = {{ d.density_p_value }}; students
bunch on one side of the cutoff, so the estimate may be biased.
{% else %}Density check: p = {{ d.density_p_value }} (no sign of bunching at the cutoff).{% endif %}
{% endif %} {% if d.why %}{{ d.why }}.{% endif %}</td></tr>
{% endfor %}
</tbody></table>
{% endfor %}
<p class="note">What these numbers cannot say: the comparison matches students on what the
data holds before the start; a reason for serving a student that the data does not hold
(a teacher's judgement, a family's request) can explain a difference either way. The cutoff
estimate holds for students near the cutoff only. Sizes count students with a known
outcome; served students still in 8th or 9th grade are not counted yet.</p>
{% endif %}
</section>
"""


def _pct(value: float | None) -> str:
    return "\u2014" if value is None else f"{value * 100:.1f}%"


def _pts(value: float | None) -> str:
    return "\u2014" if value is None else f"{value * 100:+.1f} pts"


def _interval(entry: dict[str, Any]) -> str:
    low, high = entry.get("ci_low"), entry.get("ci_high")
    if low is None or high is None:
        return "\u2014"
    return f"{low * 100:+.1f} to {high * 100:+.1f} pts"


_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True)
_ENV.filters.update(pct=_pct, pts=_pts)


def read_impact(out_dir: Path | str) -> dict[str, Any] | None:
    """``OUT/impact/impact.json`` as written, or None before the impact stage has run."""
    path = Path(out_dir) / IMPACT_JSON
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def impact_section(out_dir: Path | str) -> str:
    """The report section (HTML) for the impact estimates under ``out_dir``."""
    impact = read_impact(out_dir)
    level = round(100 * impact["confidence"]) if impact else 95
    return _ENV.from_string(_TEMPLATE).render(
        impact=impact, level=level, interval=_interval)
