"""Charts as inline SVG, drawn with matplotlib (no pyplot, no global state).

Each function takes numbers that are already published (rates.csv cells that were not
withheld, evaluation.json values) and returns an ``<svg>`` string ready to paste into a
page: no XML header, no DOCTYPE, no metadata, text kept as text, and every id prefixed
so that several charts can share one page. Pages always put a table beside each chart.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("svg", force=False)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

SCHOOL = "#0b5cad"
DISTRICT = "#6b6b6b"
ACCENT = "#c0392b"
BRIGHT = "#d98e04"
_RC = {"svg.fonttype": "none", "svg.hashsalt": "ontrack", "font.size": 9,
       "axes.spines.top": False, "axes.spines.right": False}
_ID = re.compile(r'id="([^"]+)"')


@dataclass(frozen=True)
class Series:
    """One line: a label and a value per year (None where withheld or absent)."""

    label: str
    values: tuple[float | None, ...]
    color: str = SCHOOL
    dashed: bool = False


@dataclass(frozen=True)
class TrendPanel:
    """One small chart of a trend: title, years, and its lines."""

    title: str
    years: tuple[int, ...]
    series: tuple[Series, ...]


def to_svg(fig: Figure, title: str) -> str:
    """Serialise ``fig`` as an inline SVG with unique ids and an accessible title."""
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    prefix = "c" + hashlib.sha256((title + text).encode()).hexdigest()[:8] + "-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = text.replace("url(#", f"url(#{prefix}").replace('href="#', f'href="#{prefix}')
    safe = title.replace("&", "&amp;").replace("<", "&lt;")
    text = text.replace("<svg ", f'<svg role="img" aria-label="{safe.replace(chr(34), "")}" ', 1)
    head_end = text.index(">") + 1
    return text[:head_end] + f"<title>{safe}</title>" + text[head_end:]


def _percent_axis(ax, which: str = "y", top: float = 1.0) -> None:
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if which == "y":
        ax.set_ylim(0, top)
    else:
        ax.set_xlim(0, top)


def _top(values: Sequence[float | None]) -> float:
    """A tidy axis maximum above every value (rates are between 0 and 1)."""
    known = [v for v in values if v is not None]
    peak = max(known, default=0.0)
    for limit in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if peak <= limit * 0.95:
            return limit
    return 1.0


def trend_chart(panels: Sequence[TrendPanel], title: str) -> str:
    """Small multiples: one panel per indicator, lines over school years."""
    fig = Figure(figsize=(2.6 * max(1, len(panels)), 2.3), layout="constrained")
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=False):
        years = list(panel.years)
        values = [v for s in panel.series for v in s.values]
        for series in panel.series:
            xs = [y for y, v in zip(years, series.values, strict=True) if v is not None]
            ys = [v for v in series.values if v is not None]
            ax.plot(xs, ys, marker="o", color=series.color, label=series.label,
                    linestyle="--" if series.dashed else "-", linewidth=1.6, markersize=4)
        ax.set_xticks(years, [f"{y - 1}-{str(y)[2:]}" for y in years])
        _percent_axis(ax, "y", _top(values))
        ax.set_title(panel.title, fontsize=9, loc="left")
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        if len(panel.series) > 1:
            ax.legend(loc="best", fontsize=6.5, frameon=False)
    return to_svg(fig, title)


def group_bars(title: str, labels: Sequence[str], values: Sequence[float],
               reference: float | None, reference_label: str = "all students") -> str:
    """Horizontal bars, one per student group, with the all-students rate as a line."""
    height = 0.9 + 0.24 * max(1, len(labels))
    fig = Figure(figsize=(5.6, height), layout="constrained")
    ax = fig.subplots()
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, values, color=SCHOOL, height=0.65)
    ax.set_yticks(positions, labels)
    top = _top([*values, reference])
    heading = title
    if reference is not None:
        ax.axvline(reference, color=ACCENT, linestyle="--", linewidth=1.2)
        heading = f"{title}\n(dashed line: {reference_label}, {reference:.0%})"
    for pos, value in zip(positions, values, strict=True):
        ax.text(value + top * 0.01, pos, f"{value:.0%}", va="center", fontsize=7)
    _percent_axis(ax, "x", top)
    ax.set_title(heading, fontsize=9, loc="left")
    return to_svg(fig, title)


def _zoom(values: Sequence[float], cuts: Sequence[float]) -> tuple[float, float]:
    """Axis limits around the data (and quartile lines), inside 0-100%."""
    low, high = min([*values, *cuts]), max([*values, *cuts])
    pad = max(0.02, (high - low) * 0.12)
    return max(0.0, low - pad), min(1.0, high + pad)


def scatter_chart(title: str, points: Sequence[tuple[str, float, float, bool]],
                  x_label: str, y_label: str, x_quartiles: Sequence[float],
                  y_quartiles: Sequence[float]) -> str:
    """Schools as named points; quartile lines; bright spots as stars."""
    fig = Figure(figsize=(7.2, 5.0), layout="constrained")
    ax = fig.subplots()
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    for cut, style in zip(x_quartiles, (":", "--", ":"), strict=False):
        ax.axvline(cut, color=DISTRICT, linestyle=style, linewidth=0.9)
    for cut, style in zip(y_quartiles, (":", "--", ":"), strict=False):
        ax.axhline(cut, color=DISTRICT, linestyle=style, linewidth=0.9)
    plain = [p for p in points if not p[3]]
    bright = [p for p in points if p[3]]
    ax.scatter([p[1] for p in plain], [p[2] for p in plain], s=22, color=SCHOOL,
               label="school", zorder=3)
    if bright:
        ax.scatter([p[1] for p in bright], [p[2] for p in bright], s=90, marker="*",
                   color=BRIGHT, edgecolor="#5a3b00", linewidth=0.5, label="bright spot",
                   zorder=4)
    fontsize = 7 if len(points) <= 40 else 5
    for name, x, y, _ in points:
        ax.annotate(name, (x, y), xytext=(3, 3), textcoords="offset points",
                    fontsize=fontsize, color="#333333")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlim(*_zoom(xs, x_quartiles))
    ax.set_ylim(*_zoom(ys, y_quartiles))
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.legend(loc="best", fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9, loc="left")
    return to_svg(fig, title)


def calibration_chart(title: str, predicted: Sequence[float], observed: Sequence[float],
                      counts: Sequence[int]) -> str:
    """Predicted risk against the share observed, per bin, with the diagonal."""
    fig = Figure(figsize=(4.2, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color=DISTRICT, linestyle="--", linewidth=1,
            label="perfect calibration")
    sizes = [max(12.0, min(120.0, c / 4)) for c in counts]
    ax.plot(predicted, observed, color=SCHOOL, linewidth=1.4)
    ax.scatter(predicted, observed, s=sizes, color=SCHOOL, label="model (dot size = students)",
               zorder=3)
    _percent_axis(ax, "x", 1.0)
    _percent_axis(ax, "y", 1.0)
    ax.set_xlabel("predicted chance")
    ax.set_ylabel("share who ended off track")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9, loc="left")
    return to_svg(fig, title)


def paired_bars(title: str, metrics: Sequence[str], model: Sequence[float | None],
                rule: Sequence[float | None], names: tuple[str, str] = ("model", "rule")) -> str:
    """Model and rule side by side for a few metrics between 0 and 1."""
    fig = Figure(figsize=(5.2, 2.8), layout="constrained")
    ax = fig.subplots()
    pos = list(range(len(metrics)))
    width = 0.38
    for offset, values, color, name in ((-width / 2, model, SCHOOL, names[0]),
                                        (width / 2, rule, DISTRICT, names[1])):
        xs = [p + offset for p, v in zip(pos, values, strict=True) if v is not None]
        vs = [v for v in values if v is not None]
        ax.bar(xs, vs, width=width, color=color, label=name)
        for x, v in zip(xs, vs, strict=True):
            ax.text(x, v + 0.01, f"{v:.0%}", ha="center", fontsize=7)
    ax.set_xticks(pos, metrics, fontsize=7)
    _percent_axis(ax, "y", 1.0)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9, loc="left")
    return to_svg(fig, title)
