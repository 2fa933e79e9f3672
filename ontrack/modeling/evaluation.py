"""Evaluation of the model and both baselines out of time (CONTRACT §3, §4).

The rows are every out-of-time test cohort the data allows (rolling origin: each
scored by the model trained only on cohorts before it), at every checkpoint. Three
scores are compared on exactly the same rows: the calibrated model, the rule (its score
1 / 0.5 / 0), and the logistic regression. The rule's *flag rate* sets the operating
point: precision and recall "at the rule's rate" ask what the model finds when it may
flag, on each list (one cohort at one checkpoint), exactly as many students as the rule
flags there. Metrics are reported pooled, per test cohort and per checkpoint, and the
gate (``ontrack.modeling.gate``) is decided on the pooled rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ontrack.config import Config, GateConfig, ModelingConfig
from ontrack.model_settings import school_year_place
from ontrack.modeling.dataset import EQUITY_GROUPS, TrainingData
from ontrack.modeling.fairness import (
    complement_withheld,
    fairness_audit,
    fairness_summary,
)
from ontrack.modeling.gate import gate_verdict
from ontrack.modeling.metrics import evaluate_score, reliability_table

SCORES: tuple[str, ...] = ("model", "rule", "logistic")


def evaluate_scores(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    students: np.ndarray,
    checkpoints: np.ndarray,
    attributes: pd.DataFrame,
    settings: ModelingConfig,
    *,
    min_group_size: int,
    lists: np.ndarray | None = None,
    cohorts: np.ndarray | None = None,
    gate: GateConfig | None = None,
) -> dict:
    """Metrics of every score pooled, by test cohort and by checkpoint; the model's
    fairness audit; and, with ``gate`` settings, the gate block.

    ``scores`` holds ``model`` (calibrated risk), ``rule`` and optionally ``logistic``;
    ``lists`` names each row's list (its as-of date), ``cohorts`` its test cohort year.
    """
    y = np.asarray(y, dtype="float64")
    rule = np.asarray(scores["rule"], dtype="float64")
    rule_flagged = (rule >= 1.0).astype("float64")
    lists = np.asarray(checkpoints if lists is None else lists)
    rule_rate = float(rule_flagged.mean())
    all_scores = _scorer(y, scores, students, rule_flagged, lists, settings)
    overall = all_scores(np.arange(len(y)))
    by_checkpoint = {
        checkpoint: {"n": int(len(rows)), "rule_flag_rate": float(rule_flagged[rows].mean()),
                     **all_scores(rows)}
        for checkpoint in sorted(set(checkpoints), key=school_year_place)
        for rows in [np.flatnonzero(checkpoints == checkpoint)]
    }
    by_cohort = _by_cohort(all_scores, cohorts, y, students, rule_flagged)
    subgroups = fairness_audit(
        y, scores["model"], students, attributes, flag_rate=rule_rate,
        bounds=settings.fairness, min_group_size=min_group_size,
        n_samples=settings.bootstrap_samples, seed=settings.seed,
        **({"min_positives": gate.min_positives} if gate is not None else {}),
    )
    model = overall.pop("model")
    out = {
        **model,
        "rule_flag_rate": rule_rate,
        "reliability": published_reliability(y, scores["model"], min_group_size),
        "baselines": overall,
        "by_cohort": by_cohort,
        "by_checkpoint": by_checkpoint,
        "subgroups": subgroups,
        "fairness": {"verdict": fairness_summary(subgroups),
                     "bounds": settings.fairness.model_dump(), "min_group_size": min_group_size},
    }
    if gate is not None:
        out["gate"] = gate_verdict(y, scores["model"], rule, lists, attributes, gate, students=students)
    return out


def _scorer(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    students: np.ndarray,
    rule_flagged: np.ndarray,
    lists: np.ndarray,
    settings: ModelingConfig,
) -> Callable[[np.ndarray], dict[str, dict]]:
    """A function giving every score's metrics on some rows, each at the rule's flag
    rate on those rows."""
    common = {"top_shares": settings.top_shares, "n_samples": settings.bootstrap_samples,
              "seed": settings.seed}

    def all_scores(rows: np.ndarray) -> dict[str, dict]:
        return {
            name: evaluate_score(
                y[rows], np.asarray(score)[rows], students[rows],
                rule_rate=float(rule_flagged[rows].mean()), probabilistic=name != "rule",
                lists=lists[rows], rule_flagged=rule_flagged[rows], **common,
            )
            for name, score in scores.items()
        }

    return all_scores


def _by_cohort(
    all_scores: Callable[[np.ndarray], dict[str, dict]],
    cohorts: np.ndarray | None,
    y: np.ndarray,
    students: np.ndarray,
    rule_flagged: np.ndarray,
) -> dict[str, dict]:
    """Every score's metrics on each test cohort's rows, with its size and rates."""
    if cohorts is None:
        return {}
    cohorts = np.asarray(cohorts)
    by_cohort = {}
    for year in sorted(set(cohorts.tolist())):
        rows = np.flatnonzero(cohorts == year)
        by_cohort[str(year)] = {
            "n": int(len(rows)), "n_students": int(pd.Series(students[rows]).nunique()),
            "base_rate": float(y[rows].mean()), "rule_flag_rate": float(rule_flagged[rows].mean()),
            **all_scores(rows),
        }
    return by_cohort


def published_reliability(y: np.ndarray, risk: np.ndarray, min_group_size: int) -> list[dict]:
    """The reliability table with bins of fewer than ``min_group_size`` rows withheld
    (their count, mean risk and observed rate become None), like every aggregate, and
    the count of a second bin when one alone is withheld (complementary suppression)."""
    rows = reliability_table(y, risk).to_dict("records")
    small = [row["n"] < min_group_size for row in rows]
    hidden = complement_withheld([row["n"] for row in rows], small)
    for row, too_small, hide in zip(rows, small, hidden, strict=True):
        if too_small:
            row.update(n=None, mean_predicted=None, observed_rate=None, withheld=True)
        elif hide:  # its count would give the small bin's away (the bins add up to n)
            row.update(n=None, withheld=True)
    return rows


def evaluate_part(data: TrainingData, rows: np.ndarray, scores: dict[str, np.ndarray], config: Config) -> dict:
    """:func:`evaluate_scores` on the rows ``rows`` of a training data set: their labels,
    students, checkpoints (month-day), lists (as-of dates), test cohorts and equity
    attributes, with the gate; ``scores`` are for those rows."""
    index = data.X.index[rows]
    dates = index.get_level_values("as_of_date")
    checkpoints = np.array([d.strftime("%m-%d") for d in dates])
    attributes = data.cohort.loc[rows, [c for c in EQUITY_GROUPS if c in data.cohort.columns]]
    return evaluate_scores(
        data.y[rows].to_numpy(), scores, index.get_level_values("student_id").to_numpy(),
        checkpoints, attributes, config.modeling, min_group_size=config.reporting.min_group_size,
        lists=np.array([d.strftime("%Y-%m-%d") for d in dates]),
        cohorts=data.labels["school_year"].to_numpy()[rows].astype(int), gate=config.gate_for(data.model),
    )


def comparison_rows(evaluation: dict, keys: Sequence[str] = ("roc_auc", "precision_at_rule_rate", "recall_at_rule_rate", "ece")) -> list[list[str]]:
    """Rows of the model vs rule vs logistic table printed by ``ontrack train``."""
    rows = []
    named = [("model (calibrated)", evaluation)]
    named += [(name, metrics) for name, metrics in evaluation["baselines"].items()]
    for name, metrics in named:
        cells = [name]
        for key in keys:
            value = metrics.get(key)
            low, high = metrics.get("intervals", {}).get(key, [np.nan, np.nan])
            if value is None or not np.isfinite(value):
                cells.append("-")
            elif np.isfinite(low):
                cells.append(f"{value:.3f} [{low:.3f}, {high:.3f}]")
            else:
                cells.append(f"{value:.3f}")
        rows.append(cells)
    return rows
