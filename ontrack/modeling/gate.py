"""The gate: may this model version rank students on a roster? (CONTRACT §3)

One decision, in one place, used by ``train`` (the verdict it prints and registers),
``promote`` (refuses a failed version unless forced), ``evaluate`` (the champion on a
newer cohort), ``score`` (falls back to the rule) and the report.

A model passes only if, on its out-of-time test cohort(s), against the district's own
rule on the same rows:

1. at the rule's flag rate it finds at least as many of the students who end up off
   track as the rule does (``recall_at_rule_rate``). "At the rule's flag rate" is
   judged list by list — one list is one test cohort at one checkpoint, the list a team
   would get that day — and the model may flag as many students on each list as the
   rule flags there. Students tied at the cut count fractionally (the expected value
   over the orderings of the tie), so neither side wins by row order;
2. its ROC AUC is at least the rule's;
3. its expected calibration error is at most ``gate.max_ece``;
4. for every student group with at least ``gate.min_positives`` students who end up off
   track, its miss rate (FNR) at the rule's flag rate is at most the rule's miss rate
   for that group plus ``gate.fnr_slack``. Smaller groups are listed as "too few to
   judge": neither passing nor failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ontrack.config import GateConfig
from ontrack.modeling.fairness import group_label
from ontrack.modeling.metrics import expected_calibration_error, list_flags, roc_auc

CHECK_TITLES = {
    "recall_at_rule_rate": "recall at the rule's flag rate",
    "roc_auc": "ROC AUC",
    "ece": "calibration error (ECE)",
    "subgroup_fnr": "miss rate of a student group",
}


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return roc_auc(y, score)


def gate_verdict(
    y: np.ndarray,
    risk: np.ndarray,
    rule_score: np.ndarray,
    lists: np.ndarray,
    attributes: pd.DataFrame,
    settings: GateConfig,
    students: np.ndarray | None = None,
) -> dict:
    """The gate block of ``evaluation.json``: ``{passed, checks, too_few_to_judge, ...}``.

    ``y`` is 1 for the bad outcome; ``risk`` the model's calibrated risk; ``rule_score``
    the rule's 1 / 0.5 / 0; ``lists`` one label per row naming its list (cohort year and
    checkpoint); ``attributes`` the equity columns of the same rows; ``students`` the
    student of each row (a group's positives are counted in students, as the fairness
    audit counts them; default: one student per row).
    """
    y = np.asarray(y, dtype="float64")
    students = np.arange(len(y)) if students is None else np.asarray(students)
    risk = np.asarray(risk, dtype="float64")
    rule_score = np.asarray(rule_score, dtype="float64")
    lists = np.asarray(lists)
    flagged_by_rule = (rule_score >= 1.0).astype("float64")
    model_flags = list_flags(risk, flagged_by_rule, lists)
    rule_flags = list_flags(rule_score, flagged_by_rule, lists)
    positives = float(y.sum())
    model_recall = float((model_flags * y).sum() / positives) if positives else float("nan")
    rule_recall = float((rule_flags * y).sum() / positives) if positives else float("nan")
    model_auc, rule_auc = _auc(y, risk), _auc(y, rule_score)
    ece = expected_calibration_error(y, risk)
    checks = [
        _check("recall_at_rule_rate", model_recall, rule_recall, rule_recall + settings.recall_margin,
               model_recall >= rule_recall + settings.recall_margin - 1e-12, f">= rule + {settings.recall_margin:g}"),
        _check("roc_auc", model_auc, rule_auc, rule_auc + settings.auc_margin,
               model_auc >= rule_auc + settings.auc_margin - 1e-12, f">= rule + {settings.auc_margin:g}"),
        _check("ece", ece, None, settings.max_ece, ece <= settings.max_ece, f"<= {settings.max_ece:g}"),
    ]
    too_few = []
    for group_type in attributes.columns:
        values = attributes[group_type].map(group_label).to_numpy()
        for group in sorted(set(values)):
            inside = (values == group) & (y == 1)
            if len(np.unique(students[inside])) < settings.min_positives:
                too_few.append({"group_type": group_type, "group": group})
                continue
            model_fnr = float(1.0 - model_flags[inside].mean())
            rule_fnr = float(1.0 - rule_flags[inside].mean())
            bar = rule_fnr + settings.fnr_slack
            check = _check("subgroup_fnr", model_fnr, rule_fnr, bar, model_fnr <= bar + 1e-12,
                           f"<= rule + {settings.fnr_slack:g}")
            checks.append({**check, "group_type": group_type, "group": group})
    return {
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "too_few_to_judge": too_few,
        "settings": settings.model_dump(),
        "lists": int(len(pd.unique(lists))),
    }


def _check(name: str, model: float, rule: float | None, threshold: float, passed: bool, how: str) -> dict:
    finite = np.isfinite(model) and (rule is None or np.isfinite(rule))
    return {
        "name": name,
        "model": float(model),
        "rule": None if rule is None else float(rule),
        "threshold": float(threshold),
        "comparison": how,
        "passed": bool(passed and finite),
    }


def check_text(check: dict) -> str:
    """One check in words, e.g. "recall at the rule's flag rate: model 0.761, rule 0.776"."""
    title = CHECK_TITLES.get(check["name"], check["name"])
    if check["name"] == "subgroup_fnr":
        title = f"miss rate of {check['group_type']} = {check['group']}"
    rule = "" if check.get("rule") is None else f", rule {check['rule']:.3f}"
    return f"{title}: model {check['model']:.3f}{rule} (needs {check['comparison']})"


def failed_checks(gate: dict) -> list[str]:
    """The failed checks of a gate block, in words (empty when it passed)."""
    return [check_text(c) for c in gate.get("checks", []) if not c["passed"]]


def verdict_line(gate: dict) -> str:
    """The headline: passed, or failed and which checks."""
    judged = sum(1 for c in gate.get("checks", []) if c["name"] == "subgroup_fnr")
    few = len(gate.get("too_few_to_judge", []))
    groups = f"; {judged} student groups judged, {few} too few to judge"
    if gate.get("passed"):
        return "GATE PASSED: the model beats the district's rule out of time and may rank rosters" + groups
    return (
        "GATE FAILED: this version may not rank rosters unless promoted with --force --why; failed: "
        + "; ".join(failed_checks(gate)) + groups
    )


@dataclass(frozen=True)
class Ranking:
    """Who ranks a roster, and what every reader is told about it."""

    ranked_by: str  # "model" or "rule"
    reason: str | None  # why the rule ranks (None when the model does)
    forced: str | None  # the forced-promotion note, printed on every roster it ranks


def ranking_for(
    version: dict | None,
    *,
    check_gate: dict | None = None,
    expired: str | None = None,
    drift: str | None = None,
) -> Ranking:
    """The one decision of who ranks: the model only when its version passed its gate
    (or was promoted with ``--force --why``), its latest check on a newer cohort did not
    fail the gate, it has not expired and the scores have not drifted.

    ``version`` holds the registered version's tags (None: there is no champion).
    """
    if version is None:
        return Ranking("rule", "there is no champion model (none has passed its gate and been promoted)", None)
    number = version.get("version", "?")
    forced = None
    if version.get("gate_passed") != "true":
        if version.get("forced") == "true":
            forced = (
                f"Model version {number} ranks this list although it failed its gate "
                f"({version.get('gate_failed', 'see its evaluation')}); promoted by "
                f"{version.get('promoted_by', 'someone')} with --force because: "
                f"{version.get('promoted_why', '')}"
            )
        else:
            failed = version.get("gate_failed") or "its gate was never checked"
            return Ranking("rule", f"the champion, version {number}, failed its gate: {failed}", None)
    # A later check on a newer cohort is new evidence: it stops even a forced version.
    if check_gate is not None and not check_gate.get("passed", False):
        failed = "; ".join(failed_checks(check_gate)) or "see its check"
        return Ranking("rule", f"on the newest labelled cohort the champion, version {number}, no longer passes its gate: {failed}", None)
    if expired:
        return Ranking("rule", expired, forced)
    if drift:
        return Ranking("rule", drift, forced)
    return Ranking("model", None, forced)
