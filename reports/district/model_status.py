"""A model's status in the report: its gate verdict, who ranks the rosters, its split
and its results per test cohort.

Who ranks is read from ``OUT/rosters/summary_<model>.json`` (written by ``ontrack
score``), never worked out again from the metrics: the report must say what the
rosters say. Every text from a file goes through :func:`esc`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ontrack.errors import OnTrackError
from ontrack.modeling.gate import CHECK_TITLES, failed_checks
from ontrack.reports.district.html import DASH, esc, pct, table
from ontrack.reports.district.words import group_name, group_type_name


def read_summary(out_dir: Path, model: str) -> dict | None:
    """``OUT/rosters/summary_<model>.json``, or None when the model has not scored."""
    path = out_dir / "rosters" / f"summary_{model}.json"
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise OnTrackError(
            f"{path} must be the JSON summary written by ontrack score. Got unreadable "
            f"content instead ({err})."
        ) from None
    if not isinstance(value, dict):
        raise OnTrackError(
            f"{path} must hold a JSON object. Got {type(value).__name__} instead."
        )
    return value


def ranked_by(summary: dict) -> tuple[str | None, str | None]:
    """(``"model"``/``"rule"``/None, reason) as the rosters state it.

    Summaries written before ``ranked_by`` existed carry ``ranked_by_rule`` and the
    drift message instead; those are read as they were printed on the rosters."""
    who = summary.get("ranked_by")
    if who in ("model", "rule"):
        return who, summary.get("ranked_by_reason")
    if isinstance(summary.get("ranked_by_rule"), bool):
        rule = summary["ranked_by_rule"]
        return ("rule", summary.get("drift_message")) if rule else ("model", None)
    return None, None


def ranking_paragraph(summary: dict | None, subject: str = "this model") -> str:
    """Who ranks this model's rosters, in the rosters' own words."""
    if summary is None:
        return (
            '<p class="ranking"><strong>Rosters:</strong> this model has not scored '
            "rosters yet, so no roster is ranked by it.</p>"
        )
    who, reason = ranked_by(summary)
    version = summary.get("model_version")
    as_of = summary.get("as_of_date")
    when = f" of {esc(as_of)}" if as_of else ""
    if who == "rule":
        why = f" Why: {esc(str(reason).strip().rstrip('.'))}." if reason else ""
        return (
            f'<p class="ranking"><strong>Rosters{when} are ranked by the rule, not by '
            f"the model.</strong> Their risk column is empty and their tiers come from "
            f"the rule's criteria.{why}</p>"
        )
    if who == "model":
        named = f", version {esc(version)}" if version else ""
        forced = summary.get("forced_note")
        note = (
            f" <strong>Promoted although it failed its gate:</strong> {esc(forced)}"
            if forced
            else ""
        )
        return (
            f'<p class="ranking"><strong>Rosters{when} are ranked by {esc(subject)}'
            f"{named}.</strong>{note}</p>"
        )
    return (
        f'<p class="ranking"><strong>Rosters{when}:</strong> their summary does not '
        "say whether the model or the rule ranks them; see the top of each roster.</p>"
    )


def group_value(group_type: object, group: object) -> str:
    """Words for one group of a kind, e.g. "Hispanic"; a flag's group is its value
    ("yes", "no"), not the flag's name again."""
    kind, value = str(group_type), str(group)
    name = group_name(kind, value)
    return value if name == group_type_name(kind) else name


def group_words(group_type: object, group: object) -> str:
    """A student group with its kind, e.g. "Race/ethnicity: Hispanic", "Foster youth: no"."""
    return f"{group_type_name(str(group_type))}: {group_value(group_type, group)}"


def _check_name(check: dict) -> str:
    if check.get("name") == "subgroup_fnr":
        return f"miss rate of {group_words(check.get('group_type', ''), check.get('group', ''))}"
    return CHECK_TITLES.get(str(check.get("name")), str(check.get("name")))


def _value(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.3f}"
    return DASH


def gate_verdict_html(gate: dict | None, whose: str) -> str:
    """The verdict of one gate block, its failed checks named, and every check in a
    table; ``whose`` names the version (e.g. "Version 3")."""
    if not isinstance(gate, dict):
        return (
            f"<p><strong>Gate: not evaluated</strong> ({esc(whose)} was trained before "
            "the gate existed, so it has not been checked against the rule).</p>"
        )
    if gate.get("passed"):
        head = (
            f"<p><strong>Gate: passed.</strong> {esc(whose)} found at least as many of "
            "the students who ended up off track as the rule did at the rule's flag "
            "rate, on cohorts it never saw, and may rank rosters once it is champion.</p>"
        )
    else:
        failed = "".join(f"<li>{esc(text)}</li>" for text in failed_checks(gate))
        head = (
            f"<p><strong>Gate: failed.</strong> {esc(whose)} may not rank rosters "
            "unless promoted with --force (which every roster it ranks then states). "
            f"Failed:</p><ul>{failed}</ul>"
        )
    rows = [
        f"<tr><td>{esc(_check_name(c))}</td><td class=\"num\">{_value(c.get('model'))}</td>"
        f"<td class=\"num\">{_value(c.get('rule'))}</td>"
        f"<td>{esc(c.get('comparison', ''))}</td>"
        f"<td>{'passed' if c.get('passed') else '<strong>failed</strong>'}</td></tr>"
        for c in gate.get("checks") or []
        if isinstance(c, dict)
    ]
    few = [
        esc(group_words(g.get("group_type", ""), g.get("group", "")))
        for g in gate.get("too_few_to_judge") or []
        if isinstance(g, dict)
    ]
    details = table(
        ["check", "model", "rule", "needs", "result"],
        rows,
        numeric=[False, True, True, False, False],
    )
    if few:
        details += (
            "<p>Too few students who ended up off track to judge (neither passing nor "
            f"failing): {', '.join(few)}.</p>"
        )
    return head + f"<details><summary>Every check of the gate</summary>{details}</details>"


def split_html(ev: dict) -> str:
    """The split's kind; for a retrospective split, why and what that is worth."""
    split = ev.get("split") or {}
    kind = split.get("kind")
    if kind == "retrospective":
        reason = str(split.get("reason") or "no deployment-style split exists for these data")
        reason = reason.strip().rstrip(".")
        return (
            f"<p><strong>Tested retrospectively</strong>, because {esc(reason)}. This is "
            "weaker evidence than a deployment-style test: the model learned from "
            "outcomes not yet known when its test cohort would have been scored, so in "
            "use it may do worse than shown.</p>"
        )
    if kind == "deployment":
        return (
            "<p>Tested as it would have been used: each test cohort was scored by a "
            "model trained only on cohorts whose outcomes were already known.</p>"
        )
    return ""


def cohort_table(ev: dict, min_size: int) -> str:
    """Model against rule on each out-of-time test cohort; '' when not recorded."""
    by_cohort = ev.get("by_cohort")
    if not isinstance(by_cohort, dict) or not by_cohort:
        return ""
    rows = []
    for year, at in sorted(by_cohort.items()):
        if not isinstance(at, dict):
            continue
        model, rule = at.get("model") or {}, at.get("rule") or {}
        n = at.get("n")
        count = (
            f'<td class="num">{n:,}</td>'
            if isinstance(n, int) and n >= min_size
            else f'<td class="sup">fewer than {min_size}</td>'
        )
        cells = [
            _rate(model.get("roc_auc")), _rate(rule.get("roc_auc")),
            _rate(model.get("recall_at_rule_rate")), _rate(rule.get("recall_at_rule_rate")),
        ]  # fmt: skip
        rows.append(
            f'<tr><th scope="row">{esc(year)}</th>{count}'
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + "</tr>"
        )
    return (
        "<p>Each test cohort, scored by a model that had not seen it:</p>"
        + table(
            ["test cohort", "student-checkpoints", "model ranking (AUC)", "rule ranking (AUC)",
             "model found", "rule found"],
            rows,
            numeric=[False, True, True, True, True, True],
        )  # fmt: skip
    )


def _rate(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pct(float(value), 1)
    return DASH
