"""Evaluation plots as PNG files, written at training time into ``OUT/models/<m>/plots``.

- reliability: calibrated risk against the observed rate per bin, with each bin's size
  (bins under the minimum group size are withheld, as in every aggregate);
- reliability by student group: one figure per kind of group, one panel per group with
  at least ``min_group_size`` students and ``min_positives`` of them with the outcome
  (the gate's idea: a smaller group's curve is noise). Bin sizes are printed only when
  every group of that kind is drawn: otherwise the undrawn group's sizes would follow
  by subtraction from the pooled plot;
- precision and recall at k for the model, the logistic baseline and the rule's point;
- SHAP: the mean |contribution| per feature (bars) and the beeswarm of at most
  ``BEESWARM_ROWS`` sampled test rows (each dot one student-checkpoint, no identifier).

Every file is deterministic (fixed seeds, no date or software stamp) and written
atomically (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.layout_engine import TightLayoutEngine

from ontrack.config import Config
from ontrack.modeling.dataset import EQUITY_GROUPS, TrainingData
from ontrack.modeling.fairness import group_label
from ontrack.modeling.metrics import precision_recall_at
from ontrack.paths import write_atomically

BEESWARM_ROWS = 2000  # sampled test rows in the beeswarm: enough for the shape, fast
TOP_FEATURES = 15
N_BINS = 10
PNG_METADATA = {"Date": None, "Software": None}
PNG_ENCODER = {"compress_level": 3}  # zlib level: files as small as the default 6, ~30% faster


def training_plots(
    folder: Path, data: TrainingData, test: np.ndarray, scores: dict[str, np.ndarray],
    evaluation: dict, contributions: pd.DataFrame, X: pd.DataFrame, config: Config,
    dictionary_csv: Path,
) -> dict[str, Path]:
    """Every plot of a training run, by file name; files of an earlier run that this
    run did not draw (a group now too small) are removed.

    ``test`` marks the pooled out-of-time rows and ``scores`` their scores;
    ``contributions`` are the registered model's SHAP values on its own test rows ``X``.
    """
    model, least = data.model, config.reporting.min_group_size
    y = data.y[test].to_numpy()
    plots = {
        "reliability.png": reliability_plot(pd.DataFrame(evaluation["reliability"]),
                                             folder / "reliability.png", f"{model}: reliability (test cohorts)"),
        "precision_recall_at_k.png": precision_recall_at_k_plot(
            y, scores, evaluation["rule_flag_rate"], folder / "precision_recall_at_k.png",
            f"{model}: precision / recall at k vs the rule"),
    }
    students = data.X.index.get_level_values("student_id").to_numpy()[test]
    for kind in (c for c in EQUITY_GROUPS if c in data.cohort.columns):
        name = f"reliability_{kind}.png"
        drawn = group_reliability_plot(
            y, scores["model"], students, data.cohort.loc[test, kind], folder / name,
            min_group_size=least, min_positives=config.gate_for(model).min_positives,
            title=f"{model}: reliability by {kind.replace('_', ' ')}")
        if drawn is not None:
            plots[name] = drawn
    names = plain_names(dictionary_csv, list(contributions.columns))
    importance = contributions.abs().mean()
    plots["shap_importance.png"] = shap_importance_plot(
        importance, folder / "shap_importance.png", f"{model}: global SHAP importance", names=names)
    rows = np.arange(len(contributions))
    if len(rows) > BEESWARM_ROWS:
        rows = np.sort(np.random.default_rng(config.modeling.seed).choice(rows, BEESWARM_ROWS, replace=False))
    plots["shap_beeswarm.png"] = shap_beeswarm_plot(
        contributions.iloc[rows], X.iloc[rows], folder / "shap_beeswarm.png",
        f"{model}: SHAP summary ({len(rows):,} test rows)", names=names)
    for stale in folder.glob("*.png"):
        if stale.name not in plots:
            stale.unlink()
    return plots


def reliability_plot(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Calibration curve from a reliability table; withheld (small) bins are not drawn.
    Each dot is labelled with its rows (student-checkpoints)."""
    fig, ax = _figure((5, 5))
    if len(table) and "n" in table:
        table = table[table["n"].notna()]
    _calibration_axes(ax, table, title, counts=True)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def _calibration_axes(ax: Axes, table: pd.DataFrame, title: str, *, counts: bool) -> None:
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if len(table):
        ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model")
        for row in table.itertuples(index=False) if counts else ():
            ax.annotate(f"{int(row.n):,}", (row.mean_predicted, row.observed_rate), fontsize=7,
                        textcoords="offset points", xytext=(4, -10))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted risk", ylabel="observed rate")
    ax.set_title(title, fontsize=9)


def group_reliability_plot(
    y: np.ndarray, risk: np.ndarray, students: np.ndarray, groups: pd.Series, path: Path,
    *, min_group_size: int, min_positives: int, title: str,
) -> Path | None:
    """One kind of group (``groups``: each row's group): a calibration panel per group
    large enough; None (no file) when no group is."""
    y, risk = np.asarray(y, dtype="float64"), np.clip(np.asarray(risk, dtype="float64"), 0, 1)
    labels = np.array([group_label(v) for v in groups.to_numpy()], dtype=object)
    names, sizes, positives = _students_by_group(labels, students, y == 1)
    drawn = [g for g, n, p in zip(names, sizes, positives, strict=True) if n >= min_group_size and p >= min_positives]
    if not drawn:
        return None
    counts = len(drawn) == len(names)
    cols = min(4, len(drawn))
    rows = math.ceil(len(drawn) / cols)
    fig, axes = _figure((3.2 * cols, 3.2 * rows + 0.6), rows, cols, squeeze=False)
    for ax, group in zip(axes.flat, drawn, strict=False):
        inside = labels == group
        table = _student_bins(y[inside], risk[inside], students[inside], min_group_size)
        _calibration_axes(ax, table, textwrap.shorten(group, 32), counts=counts)
    for ax in list(axes.flat)[len(drawn):]:
        ax.set_visible(False)
    note = "students per bin shown" if counts else "bin sizes withheld: a group of this kind is too small to show"
    fig.suptitle(f"{title}\n({note}; bins under {min_group_size} students left out)", fontsize=9)
    return _save(fig, path)


def _students_by_group(labels: np.ndarray, students: np.ndarray, outcome: np.ndarray,
                       ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The groups (sorted) with, for each, its distinct students and its distinct
    students with the outcome (on some row)."""
    names, group = np.unique(labels, return_inverse=True)
    student = pd.factorize(students)[0]
    width = int(student.max()) + 1 if len(student) else 1
    pairs = group.astype("int64") * width + student

    def distinct(rows: np.ndarray) -> np.ndarray:
        return np.bincount(np.unique(pairs[rows]) // width, minlength=len(names))

    return [str(n) for n in names], distinct(np.ones(len(pairs), dtype=bool)), distinct(outcome)


def _student_bins(y: np.ndarray, risk: np.ndarray, students: np.ndarray, least: int) -> pd.DataFrame:
    """Reliability bins of one group counted in students; bins under ``least`` dropped."""
    frame = pd.DataFrame({"bin": np.minimum((risk * N_BINS).astype(int), N_BINS - 1), "risk": risk, "y": y, "student": students})
    table = frame.groupby("bin").agg(mean_predicted=("risk", "mean"), observed_rate=("y", "mean"),
                                     n=("student", "nunique"))
    return table[table["n"] >= least].reset_index(drop=True)


def precision_recall_at_k_plot(
    y: np.ndarray, scores: dict[str, np.ndarray], rule_rate: float, path: Path, title: str
) -> Path:
    """Precision and recall as the flagged share grows, with the rule's own point."""
    shares = np.linspace(0.02, 0.6, 30)
    fig, (left, right) = _figure((9, 4), 1, 2)
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


def plain_names(dictionary_csv: Path, columns: list[str]) -> dict[str, str]:
    """Each feature's words for a plot axis: the first sentence of its data-dictionary
    description (without asides in brackets), at most two short lines; the feature's
    own name when the dictionary does not have it."""
    names = {c: c for c in columns}
    if not Path(dictionary_csv).is_file():
        return names
    dictionary = pd.read_csv(dictionary_csv, usecols=["name", "description"], dtype=str)
    for row in dictionary.dropna().itertuples(index=False):
        if row.name in names:
            first = re.split(r"(?<=[a-z0-9)])\.\s", str(row.description).strip())[0].rstrip(".")
            first = re.sub(r"\s*\([^)]*\)", "", first).strip() or row.name
            names[row.name] = "\n".join(textwrap.wrap(textwrap.shorten(first, 70, placeholder="…"), 38))
    return names


def shap_importance_plot(importance: pd.Series, path: Path, title: str, top: int = TOP_FEATURES,
                         names: dict[str, str] | None = None) -> Path:
    """Horizontal bars of mean |SHAP| per feature (the global importance)."""
    shown = importance.sort_values(ascending=True).tail(top)
    labels = [(names or {}).get(f, f) for f in shown.index]
    fig, ax = _figure((7.5, 0.45 * len(shown) + 1.2))
    ax.barh(range(len(shown)), shown.to_numpy(), color="#3b6ea5")
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    ax.set(xlabel="mean |SHAP contribution| (log-odds)", title=title)
    return _save(fig, path)


def shap_beeswarm_plot(contributions: pd.DataFrame, X: pd.DataFrame, path: Path, title: str,
                       names: dict[str, str] | None = None, top: int = TOP_FEATURES) -> Path:
    """The SHAP beeswarm: per feature (most important on top) one dot per row at its
    contribution, coloured by the feature's value (low blue, high red, missing grey)."""
    order = contributions.abs().mean().sort_values(ascending=False).head(top).index[::-1]
    fig, ax = _figure((8, 0.45 * len(order) + 1.5))
    cmap = matplotlib.colors.LinearSegmentedColormap.from_list("low_high", ["#1f6fd1", "#8a3fb0", "#e0243f"])
    missing, coloured = [], []  # (contributions, heights[, colour scale]) per feature
    for place, feature in enumerate(order):
        shap_values = contributions[feature].to_numpy(dtype="float64")
        values = pd.to_numeric(X[feature], errors="coerce").to_numpy(dtype="float64")
        offsets = place + _swarm_offsets(shap_values)
        known = np.isfinite(values)
        missing.append((shap_values[~known], offsets[~known]))
        coloured.append((shap_values[known], offsets[known], _scaled(values[known])))
    # Two collections for all features (a feature's dots stay within its row, so the
    # grey ones still lie under the coloured ones): far fewer artists to build and draw.
    if len(order):
        ax.scatter(*(np.concatenate(part) for part in zip(*missing)), s=6, color="#bbbbbb", linewidths=0)
        x, heights, scale = (np.concatenate(part) for part in zip(*coloured))
        ax.scatter(x, heights, s=6, c=scale, cmap=cmap, vmin=0, vmax=1, linewidths=0, rasterized=True)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(order)), [(names or {}).get(f, f) for f in order], fontsize=8)
    ax.set(xlabel="SHAP contribution to the risk (log-odds); right = higher risk", title=title)
    bar = fig.colorbar(ScalarMappable(cmap=cmap), ax=ax, ticks=[0, 1], aspect=40)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value (grey: missing)")
    return _save(fig, path)


def _scaled(values: np.ndarray) -> np.ndarray:
    """Values mapped to 0-1 between their 5th and 95th percentiles (outliers clipped)."""
    low, high = np.percentile(values, [5, 95]) if len(values) else (0.0, 1.0)
    if high <= low:
        low, high = float(values.min()), float(values.max()) if len(values) else 1.0
    return np.clip((values - low) / (high - low), 0, 1) if high > low else np.full(len(values), 0.5)


def _swarm_offsets(values: np.ndarray, n_bins: int = 100, width: float = 0.4) -> np.ndarray:
    """Vertical offsets piling dots with close values around the line, alternating
    above and below: deterministic (no random jitter)."""
    if not len(values):
        return np.zeros(0)
    span = float(values.max() - values.min()) or 1.0
    bins = np.minimum(((values - values.min()) / span * n_bins).astype(int), n_bins - 1)
    offsets = np.zeros(len(values))
    tallest = max(np.bincount(bins).max(), 1)
    for b in np.unique(bins):
        inside = np.flatnonzero(bins == b)
        inside = inside[np.argsort(values[inside], kind="stable")]
        steps = (np.arange(len(inside)) + 1) // 2 * np.where(np.arange(len(inside)) % 2, 1, -1)
        offsets[inside] = steps * (2 * width / tallest)
    return offsets


def _figure(size: tuple[float, float], rows: int = 1, cols: int = 1, **options) -> tuple[Figure, object]:
    """A figure with its grid of axes, drawn by Agg and kept out of pyplot (no figure
    manager to create and close: pyplot's bookkeeping costs time on every plot)."""
    fig = Figure(figsize=size)
    _Canvas(fig)
    return fig, fig.subplots(rows, cols, **options)


_TEXT_SIZES: dict[tuple, tuple[float, float, float]] = {}
_TEXT_SETTINGS = ("text.hinting", "text.hinting_factor", "text.kerning_factor", "font.family",
                  "font.sans-serif", "font.serif", "font.monospace", "mathtext.fontset")


class _Renderer(RendererAgg):
    """Agg renderer that remembers each string's measured size across figures: shaping
    text with FreeType is a large share of a plot's cost, and the same tick labels,
    titles and feature names recur in every figure of every training run. The key holds
    what the size depends on (string, font, dpi, the font settings when it was made)."""

    def __init__(self, width: float, height: float, dpi: float) -> None:
        super().__init__(width, height, dpi)
        self._settings = tuple(str(matplotlib.rcParams[k]) for k in _TEXT_SETTINGS)

    def get_text_width_height_descent(self, s: str, prop, ismath) -> tuple[float, float, float]:
        key = (s, prop.copy(), ismath, self.dpi, self._settings)
        size = _TEXT_SIZES.get(key)
        if size is None:
            if len(_TEXT_SIZES) >= 20_000:
                _TEXT_SIZES.clear()
            size = _TEXT_SIZES[key] = super().get_text_width_height_descent(s, prop, ismath)
        return size


class _Canvas(FigureCanvasAgg):
    """Agg canvas drawing with ``_Renderer`` (one per figure size and dpi, as Agg's)."""

    def get_renderer(self) -> RendererAgg:
        width, height = self.get_width_height(physical=True)
        key = (width, height, self.figure.dpi)
        if self._lastKey != key:
            self.renderer, self._lastKey = _Renderer(width, height, self.figure.dpi), key
        return self.renderer


def _save(fig: Figure, path: Path) -> Path:
    """Lay ``fig`` out (tight) and save it as PNG at ``path`` atomically, without date or
    software stamp. The layout is computed once here, not kept as the figure's engine:
    a figure with an engine is drawn an extra time by ``savefig`` before the real draw."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    TightLayoutEngine(rect=None).execute(fig)
    write_atomically(path, lambda temporary: fig.savefig(temporary, format="png", dpi=100,
                                                         metadata=PNG_METADATA, pil_kwargs=PNG_ENCODER))
    return path
