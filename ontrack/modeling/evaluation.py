"""Evaluation of the model and both baselines on the test cohort (CONTRACT §4).

The test cohort is the newest labelled cohort of the split, at every checkpoint. Three
scores are compared on exactly the same rows: the calibrated model, the rule (its score
1 / 0.5 / 0), and the logistic regression. The rule's *flag rate* (the share of test
rows it flags) sets the operating point: precision and recall "at the rule's rate" ask
what the model finds when it may flag exactly as many students as the rule does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ontrack.config import Config, ModelingConfig
from ontrack.modeling.dataset import EQUITY_GROUPS, TrainingData
from ontrack.modeling.fairness import fairness_audit, fairness_summary
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
) -> dict:
    """Metrics of every score overall and by checkpoint, and the model's fairness audit.

    ``scores`` holds ``model`` (calibrated risk), ``rule`` and optionally ``logistic``.
    """
    y = np.asarray(y, dtype="float64")
    rule_rate = float((np.asarray(scores["rule"]) >= 1.0).mean())
    common = {
        "top_shares": settings.top_shares,
        "n_samples": settings.bootstrap_samples,
        "seed": settings.seed,
    }

    def all_scores(rows: np.ndarray, rate: float) -> dict[str, dict]:
        return {
            name: evaluate_score(
                y[rows], np.asarray(score)[rows], students[rows], rule_rate=rate,
                probabilistic=name != "rule", **common,
            )
            for name, score in scores.items()
        }

    everything = np.arange(len(y))
    overall = all_scores(everything, rule_rate)
    by_checkpoint = {}
    for checkpoint in sorted(set(checkpoints), key=_month_order):
        rows = np.flatnonzero(checkpoints == checkpoint)
        rate = float((np.asarray(scores["rule"])[rows] >= 1.0).mean())
        at = all_scores(rows, rate)
        by_checkpoint[checkpoint] = {"n": int(len(rows)), "rule_flag_rate": rate, **at}
    subgroups = fairness_audit(
        y, scores["model"], students, attributes, flag_rate=rule_rate,
        bounds=settings.fairness, min_group_size=min_group_size,
        n_samples=settings.bootstrap_samples, seed=settings.seed,
    )
    model = overall.pop("model")
    return {
        **model,
        "rule_flag_rate": rule_rate,
        "reliability": published_reliability(y, scores["model"], min_group_size),
        "baselines": overall,
        "by_checkpoint": by_checkpoint,
        "subgroups": subgroups,
        "fairness": {
            "verdict": fairness_summary(subgroups),
            "bounds": settings.fairness.model_dump(),
            "min_group_size": min_group_size,
        },
    }


def published_reliability(y: np.ndarray, risk: np.ndarray, min_group_size: int) -> list[dict]:
    """The reliability table with bins of fewer than ``min_group_size`` rows withheld
    (their count, mean risk and observed rate become None), like every aggregate."""
    rows = reliability_table(y, risk).to_dict("records")
    for row in rows:
        if row["n"] < min_group_size:
            row.update(n=None, mean_predicted=None, observed_rate=None, withheld=True)
    return rows


def evaluate_part(data: TrainingData, rows: np.ndarray, scores: dict[str, np.ndarray], config: Config) -> dict:
    """:func:`evaluate_scores` on the rows ``rows`` of a training data set: their labels,
    students, checkpoints (month-day) and equity attributes; ``scores`` are for those rows."""
    index = data.X.index[rows]
    checkpoints = np.array([d.strftime("%m-%d") for d in index.get_level_values("as_of_date")])
    attributes = data.cohort.loc[rows, [c for c in EQUITY_GROUPS if c in data.cohort.columns]]
    return evaluate_scores(
        data.y[rows].to_numpy(), scores, index.get_level_values("student_id").to_numpy(),
        checkpoints, attributes, config.modeling, min_group_size=config.reporting.min_group_size,
    )


def _month_order(month_day: str) -> tuple[int, int]:
    """School-year order of a checkpoint (Jul..Jun)."""
    month, day = (int(p) for p in month_day.split("-"))
    return ((month - 7) % 12, day)


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
