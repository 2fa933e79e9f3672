"""A model's status in the report: its gate verdict, who ranks the rosters, its split
and its results per test cohort.

Who ranks is read from ``OUT/rosters/summary_<model>.json`` (written by ``ontrack
score``), never worked out again from the metrics: the report must say what the
rosters say. Every page part is rendered by an
autoescaping template (``reports/templates/model_*.html.j2``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ontrack.reports.district.html import DASH, pct
from ontrack.reports.district.words import group_name, group_type_name, is_flag_side
from ontrack.reports.templating import render

from ontrack.errors import OnTrackError
from ontrack.modeling.gate import CHECK_TITLES, failed_checks


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
        return render("model_ranking.html.j2", who="none")
    who, reason = ranked_by(summary)
    return render(
        "model_ranking.html.j2", who=who or "unknown", as_of=summary.get("as_of_date"),
        why=str(reason).strip().rstrip(".") if reason else None, subject=subject,
        version=summary.get("model_version"), forced=summary.get("forced_note"),
    )


def group_words(group_type: object, group: object) -> str:
    """A student group in words, with its kind when the name alone does not say it:
    "Race/ethnicity: Hispanic", but "English learners" and "Not English learners" (each
    side of a flag is named for what it is)."""
    kind, value = str(group_type), str(group)
    name, kind_name = group_name(kind, value), group_type_name(kind)
    if name.startswith(f"{kind_name}:") or is_flag_side(kind, value) or kind == "all":
        return name
    return f"{kind_name}: {name}"


def _check_name(check: dict) -> str:
    if check.get("name") == "subgroup_fnr":
        return f"miss rate of {group_words(check.get('group_type', ''), check.get('group', ''))}"
    return CHECK_TITLES.get(str(check.get("name")), str(check.get("name")))


def _value(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.3f}"
    return DASH


def cell(text: object, cls: str | None = None, *, tag: str = "td", count: int | None = None,
         strong: bool = False) -> dict:
    """One cell of a model table (rendered by ``model_table.html.j2``, escaped there)."""
    return {"text": str(text), "cls": cls, "tag": tag, "count": count, "strong": strong}


def heads(names: list[str], numeric: list[bool]) -> list[dict]:
    """The header of a model table: each column's name and whether it is numeric."""
    return [{"text": n, "num": num} for n, num in zip(names, numeric, strict=True)]


def gate_verdict_html(gate: dict | None, whose: str) -> str:
    """The verdict of one gate block, its failed checks named, and every check in a
    table; ``whose`` names the version (e.g. "Version 3")."""
    if not isinstance(gate, dict):
        return render("model_gate.html.j2", gate=None, whose=whose)
    rows = [
        [cell(_check_name(c)), cell(_value(c.get("model")), "num"), cell(_value(c.get("rule")), "num"),
         cell(c.get("comparison", "")), cell("passed" if c.get("passed") else "failed", strong=not c.get("passed"))]
        for c in gate.get("checks") or []
        if isinstance(c, dict)
    ]
    few = [group_words(g.get("group_type", ""), g.get("group", ""))
           for g in gate.get("too_few_to_judge") or [] if isinstance(g, dict)]
    return render(
        "model_gate.html.j2", gate=gate, whose=whose, passed=bool(gate.get("passed")),
        failed=failed_checks(gate), few=few, rows=rows,
        heads=heads(["check", "model", "rule", "needs", "result"], [False, True, True, False, False]),
    )


def split_html(ev: dict) -> str:
    """The split's kind; for a retrospective split, why and what that is worth."""
    split = ev.get("split") or {}
    reason = str(split.get("reason") or "no deployment-style split exists for these data")
    return render("model_split.html.j2", kind=split.get("kind"), reason=reason.strip().rstrip("."))


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
        count = (cell(f"{n:,}", "num") if isinstance(n, int) and n >= min_size
                 else cell(f"fewer than {min_size}", "sup"))
        rates = [model.get("roc_auc"), rule.get("roc_auc"), model.get("recall_at_rule_rate"),
                 rule.get("recall_at_rule_rate")]
        rows.append([cell(year, tag="th"), count, *(cell(_rate(r), "num") for r in rates)])
    names = ["test cohort", "student-checkpoints", "model ranking (AUC)", "rule ranking (AUC)",
             "model found", "rule found"]
    return render("model_cohorts.html.j2", rows=rows, heads=heads(names, [False] + [True] * 5))


def _rate(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pct(float(value), 1)
    return DASH
