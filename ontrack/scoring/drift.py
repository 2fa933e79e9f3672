"""What scoring tells the gate (``ontrack.modeling.gate.ranking_for``) about the champion.

Three facts, all from aggregates, each a sentence when it stops the model ranking:

- *its latest check*: ``ontrack evaluate`` scores the champion on the newest labelled
  cohort and decides its gate again there (``OUT/models/<m>/check_champion.json``);
- *its age*: a champion trained on data ending more than
  ``scoring.model_max_age_years`` years before the scored as-of date has expired;
- *stability*: the population stability index of today's calibrated risks against
  the test cohort's deciles (recorded in the model bundle). Above
  ``scoring.psi_threshold`` the scores have shifted.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np


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


def stability_problem(contract: dict, risk: np.ndarray, threshold: float,
                      checkpoint: str | None = None) -> tuple[float, str | None]:
    """PSI of today's risks against the test cohort at the same checkpoint (month-day;
    pooled when the model has none for it), and the sentence when it exceeds
    ``threshold`` plus the PSI that sampling alone gives two samples of these sizes,
    ``(bins - 1) * (1/n_reference + 1/n_today)``: a 100-student cohort is not "shifted"
    by chance."""
    reference = contract.get("score_reference", {})
    reference = reference.get("by_checkpoint", {}).get(checkpoint or "", reference)
    psi = population_stability(reference, risk)
    if not np.isfinite(psi):
        return psi, None
    n_ref = reference.get("n")
    noise = (len(reference.get("shares", [])) - 1) * (1 / n_ref + 1 / len(risk)) if n_ref else 0.0
    if psi > threshold + noise:
        return psi, (
            f"today's scores have shifted from the cohort the model was tested on "
            f"(PSI {psi:.2f} > {threshold} + {noise:.2f} expected from sample size alone)"
        )
    return psi, None


def latest_check_gate(check_dir: Path, version: str) -> dict | None:
    """The gate block of the latest ``ontrack evaluate`` of this champion version, if any."""
    check = Path(check_dir) / "check_champion.json"
    if not check.is_file():
        return None
    found = json.loads(check.read_text(encoding="utf-8"))
    if str(found.get("model_version")) != str(version):
        return None
    return found.get("gate")


def expiry_problem(tags: dict, contract: dict, as_of: date, max_age_years: int) -> str | None:
    """The sentence when the champion was trained on data ending more than
    ``max_age_years`` years before the scored as-of date (label-agnostic: a graduation
    model's newest cohort is always years old, but its data need not be)."""
    end = tags.get("data_end") or str(contract.get("trained_at", ""))[:10]
    try:
        trained_on = date.fromisoformat(end)
    except ValueError:
        return None
    age = (as_of - trained_on).days / 365.25
    if age > max_age_years:
        return (
            f"the champion, version {tags.get('version', '?')}, has expired: it was trained on "
            f"data ending {trained_on}, {age:.1f} years before {as_of} "
            f"(scoring.model_max_age_years = {max_age_years}); retrain it"
        )
    return None
