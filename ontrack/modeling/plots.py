"""Evaluation plots as PNG files: aggregates only, never one dot per student.

- reliability curve (calibrated risk vs observed rate per bin, with bin sizes);
- precision and recall at k (share of the cohort flagged) for the model, the logistic
  baseline and the rule's single operating point;
- SHAP summary: mean |contribution| per feature (a bar chart; the beeswarm variant is
  not drawn because each of its dots is a student).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ontrack.modeling.metrics import precision_recall_at  # noqa: E402


def reliability_plot(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Calibration curve from a reliability table; withheld (small) bins are not drawn."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if len(table) and "n" in table:
        table = table[table["n"].notna()]
    if len(table):
        ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model")
        for row in table.itertuples(index=False):
            ax.annotate(f"{int(row.n)}", (row.mean_predicted, row.observed_rate), fontsize=7,
                        textcoords="offset points", xytext=(4, -10))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted risk", ylabel="observed rate", title=title)
    ax.legend(loc="upper left")
    return _save(fig, path)


def precision_recall_at_k_plot(
    y: np.ndarray, scores: dict[str, np.ndarray], rule_rate: float, path: Path, title: str
) -> Path:
    """Precision and recall as the flagged share grows, with the rule's own point."""
    shares = np.linspace(0.02, 0.6, 30)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    for name in ("model", "logistic"):
        pairs = [precision_recall_at(y, scores[name], s) for s in shares]
        left.plot(shares, [p for p, _ in pairs], label=name)
        right.plot(shares, [r for _, r in pairs], label=name)
    rule_p, rule_r = precision_recall_at(y, scores["rule"], rule_rate)
    left.scatter([rule_rate], [rule_p], color="black", zorder=3, label="rule")
    right.scatter([rule_rate], [rule_r], color="black", zorder=3, label="rule")
    left.set(xlabel="share of cohort flagged", ylabel="precision", ylim=(0, 1))
    right.set(xlabel="share of cohort flagged", ylabel="recall", ylim=(0, 1))
    left.legend()
    fig.suptitle(title)
    return _save(fig, path)


def shap_importance_plot(importance: pd.Series, path: Path, title: str, top: int = 20) -> Path:
    """Horizontal bars of mean |SHAP| per feature (the global importance)."""
    shown = importance.sort_values(ascending=True).tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1.2))
    ax.barh(shown.index, shown.to_numpy())
    ax.set(xlabel="mean |SHAP contribution| (log-odds)", title=title)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
