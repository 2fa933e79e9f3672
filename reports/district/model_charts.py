"""The model section's two charts: calibration and model-vs-rule bars, as inline SVG.

Each is drawn on one figure per process: building a figure, its axes and their ticks
costs about as much as drawing it, and every model's chart has the same frame with
other numbers. The data's artists (line, dots, bars, value labels, legend) are made
afresh on each call, with the same calls a new figure would get, and removed after
drawing, so the SVG is the one a new figure gives.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from ontrack.reports.district.chart_memo import remembered
from ontrack.reports.district.charts import (
    DISTRICT,
    SCHOOL,
    _clean,
    _title,
    _unlabelled,
    drawn_then_cleared,
)


def _percent_axis(ax, which: str = "y", top: float = 1.0) -> None:
    """Percent tick labels on one axis, from 0 to ``top``."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if which == "y":
        ax.set_ylim(0, top)
    else:
        ax.set_xlim(0, top)


_FRAMES: dict[str, tuple[Figure, object]] = {}


def _frame(kind: str) -> tuple[Figure, object]:
    """The reused figure and axes of ``kind`` ("calibration" or "bars"), taken out of
    ``_FRAMES`` while a chart draws on them (or new); see ``drawn_then_cleared``."""
    reused = _FRAMES.pop(kind, None)  # one step: two threads never get the same one
    if reused is not None:
        return reused
    if kind == "calibration":
        fig = Figure(figsize=(4.2, 3.6))
        fig.subplots_adjust(left=0.16, right=0.96, bottom=0.14, top=0.91)
        ax = fig.subplots()
        _clean(ax)
        ax.plot([0, 1], [0, 1], color=DISTRICT, linestyle="--", linewidth=1,
                label="perfect calibration")
    else:
        fig = Figure(figsize=(5.2, 2.8))
        fig.subplots_adjust(left=0.1, right=0.98, bottom=0.14, top=0.88)
        ax = fig.subplots()
        _clean(ax)
        _unlabelled(ax)
    return fig, ax


@remembered
def calibration_chart(
    title: str,
    predicted: Sequence[float],
    observed: Sequence[float],
    counts: Sequence[int],
) -> str:
    """Predicted risk against the share observed, per bin, with the diagonal."""
    fig, ax = _frame("calibration")
    sizes = [max(12.0, min(120.0, c / 4)) for c in counts]
    added = list(ax.plot(predicted, observed, color=SCHOOL, linewidth=1.4))
    added.append(ax.scatter(predicted, observed, s=sizes, color=SCHOOL,
                            label="model (dot size = students)", zorder=3))
    _percent_axis(ax, "x", 1.0)
    _percent_axis(ax, "y", 1.0)
    ax.set_xlabel("predicted chance")
    ax.set_ylabel("share who ended off track")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    _title(ax, title, 9)
    return drawn_then_cleared(fig, ax, title, added, _FRAMES, "calibration")


@remembered
def paired_bars(
    title: str,
    metrics: Sequence[str],
    model: Sequence[float | None],
    rule: Sequence[float | None],
    names: tuple[str, str] = ("model", "rule"),
) -> str:
    """Model and rule side by side for a few metrics between 0 and 1."""
    fig, ax = _frame("bars")
    pos = list(range(len(metrics)))
    width = 0.38
    added: list = []
    for offset, values, color, name in (
        (-width / 2, model, SCHOOL, names[0]),
        (width / 2, rule, DISTRICT, names[1]),
    ):
        xs = [p + offset for p, v in zip(pos, values, strict=True) if v is not None]
        vs = [v for v in values if v is not None]
        # The container, not only its bars: the legend finds bars through it.
        added.append(ax.bar(xs, vs, width=width, color=color, label=name))
        for x, v in zip(xs, vs, strict=True):
            added.append(ax.text(x, v + 0.01, f"{v:.0%}", ha="center", fontsize=7))
    ax.set_xticks(pos, metrics, fontsize=7)
    _percent_axis(ax, "y", 1.0)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    _title(ax, title, 9)
    return drawn_then_cleared(fig, ax, title, added, _FRAMES, "bars")
