"""The drift guard: when to stop trusting the model and rank by the rule instead.

Two checks, both from aggregates:

- *performance*: the champion's results on the newest labelled cohort, against the
  rule on the same rows (``ontrack evaluate`` writes them; otherwise the figures
  recorded at training). Below the rule on ROC AUC or on recall at the rule's flag
  rate, by more than ``scoring.drift_tolerance``, means the rule ranks.
- *stability*: the population stability index of today's calibrated risks against
  the test cohort's deciles (recorded in the model bundle). Above
  ``scoring.psi_threshold`` the scores have shifted and the rule ranks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class DriftVerdict:
    """Whether to rank by the rule, and the sentence that says why."""

    rank_by_rule: bool
    psi: float
    message: str | None
    source: str


def population_stability(reference: dict, risk: np.ndarray) -> float:
    """PSI of ``risk`` against the reference bins (edges and shares of the test cohort)."""
    edges = np.asarray(reference.get("edges", []), dtype="float64")
    expected = np.asarray(reference.get("shares", []), dtype="float64")
    if not len(risk) or not len(expected):
        return float("nan")
    counts = np.bincount(np.searchsorted(edges, risk, side="right"), minlength=len(expected))
    actual = counts / counts.sum()
    floor = 1e-4
    expected, actual = np.maximum(expected, floor), np.maximum(actual, floor)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_verdict(
    contract: dict, version: str, risk: np.ndarray, check_dir: Path, *, psi_threshold: float,
    tolerance: float,
) -> DriftVerdict:
    """Decide from the latest champion check (if any) or the training figures, and PSI."""
    metrics, source = contract.get("test_metrics", {}), "training evaluation"
    check = Path(check_dir) / "check_champion.json"
    if check.is_file():
        found = json.loads(check.read_text(encoding="utf-8"))
        if str(found.get("model_version")) == str(version):
            rule = found["baselines"]["rule"]
            metrics = {
                "roc_auc": found["roc_auc"], "recall_at_rule_rate": found["recall_at_rule_rate"],
                "rule_roc_auc": rule["roc_auc"], "rule_recall_at_rule_rate": rule["recall_at_rule_rate"],
            }
            source = f"check on cohort {found.get('test_cohorts')}"
    problems = []
    auc, rule_auc = metrics.get("roc_auc"), metrics.get("rule_roc_auc")
    if auc is not None and rule_auc is not None and auc < rule_auc - tolerance:
        problems.append(f"its ROC AUC {auc:.3f} is below the rule's {rule_auc:.3f} ({source})")
    recall, rule_recall = metrics.get("recall_at_rule_rate"), metrics.get("rule_recall_at_rule_rate")
    if recall is not None and rule_recall is not None and recall < rule_recall - tolerance:
        problems.append(
            f"it finds fewer students who went off track than the rule at the rule's flag "
            f"rate ({recall:.0%} vs {rule_recall:.0%}, {source})"
        )
    psi = population_stability(contract.get("score_reference", {}), risk)
    if np.isfinite(psi) and psi > psi_threshold:
        problems.append(f"today's scores have shifted from the cohort it was tested on (PSI {psi:.2f} > {psi_threshold})")
    if not problems:
        return DriftVerdict(False, psi, None, source)
    message = (
        "This list is ranked by the rule, not the model, because " + "; and ".join(problems)
        + ". Risk is still shown, but treat it with care."
    )
    return DriftVerdict(True, psi, message, source)
