"""Charts as inline SVG, drawn with matplotlib (no pyplot, no global state).

Each function takes numbers that are already published (rates.csv cells that were not
withheld, evaluation.json values) and returns an ``<svg>`` string ready to paste into a
page: no XML header, no DOCTYPE, no metadata, text kept as text, and every id prefixed
so that several charts can share one page. Pages always put a table beside each chart.
A chart is drawn once per process for the same input (``chart_memo``).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
from markupsafe import escape
from ontrack.reports.district.chart_memo import remembered

matplotlib.use("svg", force=False)
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

SCHOOL = "#0b5cad"
DISTRICT = "#6b6b6b"
ACCENT = "#c0392b"
BRIGHT = "#d98e04"
_RC = {"svg.fonttype": "none", "svg.hashsalt": "ontrack"}
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
    text = text[text.index("<svg") :]
    # Inline SVG in HTML gets its namespaces from the parser: drop the declarations so
    # the page holds no URL at all.
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    prefix = "c" + hashlib.sha256((title + text).encode()).hexdigest()[:8] + "-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = text.replace("url(#", f"url(#{prefix}").replace(
        'href="#', f'href="#{prefix}'
    )
    safe = str(escape(title))  # names from the data: escaped, quotes included
    text = text.replace("<svg ", '<svg role="img" aria-label="' + safe + '" ', 1)
    head_end = text.index(">") + 1
    return text[:head_end] + "<title>" + safe + "</title>" + text[head_end:]


def plain(text: object) -> str:
    """Text drawn as it is: a ``$`` in a school's or group's name is not mathtext
    (matplotlib itself escapes every text it writes into the SVG)."""
    return str(text).replace("$", r"\$")


def _clean(ax) -> None:
    """No top or right frame line (less ink, and less to draw)."""
    ax.spines[["top", "right"]].set_visible(False)


def _unlabelled(ax) -> None:
    """For axes that never get an axis label: the empty labels are pinned, so drawing
    skips placing them (matplotlib measures every tick label again to place a label,
    a quarter of a small chart's time). An empty label is not drawn, so the SVG is the
    same."""
    ax.xaxis.set_label_coords(0.5, 0.0)
    ax.yaxis.set_label_coords(0.0, 0.5)


def _title(ax, text: str, size: float) -> None:
    """A left title at the top of the axes. Its height is given (1.0, where matplotlib
    puts it anyway when no tick label sits on top): otherwise every draw measures the
    tick labels to decide whether to lift it."""
    ax.set_title(text, fontsize=size, loc="left", y=1.0)


def _top(values: Sequence[float | None]) -> float:
    """A tidy axis maximum above every value (rates are between 0 and 1)."""
    known = [v for v in values if v is not None]
    peak = max(known, default=0.0)
    for limit in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if peak <= limit * 0.95:
            return limit
    return 1.0


# Trend figures reused per layout (panels x lines): building a figure costs as much as
# drawing it, and every school page has the same layout with other numbers.
_TREND_TEMPLATES: dict[tuple, tuple[Figure, list]] = {}


def _trend_template(panels: Sequence[TrendPanel]) -> tuple[Figure, list]:
    """The cached figure for this layout and its (axes, lines) per panel."""
    key = (
        tuple(panels[0].years),
        tuple(tuple((s.label, s.color, s.dashed) for s in p.series) for p in panels),
    )
    if key in _TREND_TEMPLATES:
        return _TREND_TEMPLATES[key]
    n = len(panels)
    width, height = 2.6 * n, 2.55
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=0.5 / width,
        right=1 - 0.15 / width,
        bottom=0.72 / height,
        top=1 - 0.3 / height,
        wspace=0.55 / 2.1,
    )
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax in axes:
        _clean(ax)
        _unlabelled(ax)
    years = list(panels[0].years)
    slots, handles = [], {}
    for ax, panel in zip(axes, panels, strict=True):
        lines = []
        for series in panel.series:
            (line,) = ax.plot(
                years,
                [float("nan")] * len(years),
                marker="o",
                color=series.color,
                linestyle="--" if series.dashed else "-",
                linewidth=1.6,
                markersize=4,
                label=plain(series.label),
            )
            handles.setdefault(plain(series.label), line)
            lines.append(line)
        ax.set_xticks(years, [f"{y - 1}-{str(y)[2:]}" for y in years])
        ax.set_xlim(years[0] - 0.3, years[-1] + 0.3)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_major_locator(MaxNLocator(4, steps=[1, 2, 5, 10]))
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        slots.append((ax, lines))
    if len(handles) > 1:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="lower center",
            ncol=min(4, len(handles)),
            fontsize=7,
            frameon=False,
        )
    _TREND_TEMPLATES[key] = (fig, slots)
    return fig, slots


@remembered
def trend_chart(panels: Sequence[TrendPanel], title: str) -> str:
    """Small multiples: one panel per indicator, lines over school years (gaps where a
    value is withheld)."""
    fig, slots = _trend_template(panels)
    for (ax, lines), panel in zip(slots, panels, strict=True):
        for line, series in zip(lines, panel.series, strict=True):
            line.set_ydata([float("nan") if v is None else v for v in series.values])
        ax.set_ylim(0, _top([v for s in panel.series for v in s.values]))
        _title(ax, plain(panel.title), 8)
    return to_svg(fig, title)


_BAR_TEMPLATES: dict[int, tuple[Figure, object, list, object]] = {}


def _bar_template(n: int) -> tuple[Figure, object, list, object]:
    """The cached figure with ``n`` bars: (figure, axes, bars, reference line)."""
    if n in _BAR_TEMPLATES:
        return _BAR_TEMPLATES[n]
    width, height = 6.0, 1.0 + 0.24 * max(1, n)
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=2.6 / width, right=0.95, bottom=0.45 / height, top=1 - 0.55 / height
    )
    ax = fig.subplots()
    _clean(ax)
    _unlabelled(ax)
    positions = list(range(n))[::-1]
    bars = list(ax.barh(positions, [0.0] * n, color=SCHOOL, height=0.65))
    line = ax.axvline(0, color=ACCENT, linestyle="--", linewidth=1.2)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 5, 10]))
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    _BAR_TEMPLATES[n] = (fig, ax, bars, line)
    return _BAR_TEMPLATES[n]


@remembered
def group_bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    reference: float | None,
    reference_label: str = "all students",
) -> str:
    """Horizontal bars, one per student group, with the all-students rate as a line."""
    fig, ax, bars, line = _bar_template(len(labels))
    top = _top([*values, reference])
    positions = list(range(len(labels)))[::-1]
    ax.set_yticks(positions, [plain(t) for t in labels])
    for bar, value in zip(bars, values, strict=True):
        bar.set_width(value)
    heading = plain(title)
    line.set_visible(reference is not None)
    if reference is not None:
        line.set_xdata([reference, reference])
        heading = f"{heading}\n(dashed line: {plain(reference_label)}, {reference:.0%})"
    ax.set_xlim(0, top)
    _title(ax, heading, 9)
    return to_svg(fig, title)


# Figures reused for every scatter (one per canvas size), as the trend and bar
# figures are; what a chart puts on them is removed once it is drawn. A chart takes
# its frame out while it draws and puts it back when done: one that fails half way
# leaves nothing behind (the next chart builds a new frame).
_SCATTER_FRAMES: dict[bool, tuple[Figure, object]] = {}


def drawn_then_cleared(fig: Figure, ax, title: str, added: list, frames: dict,
                       key: object) -> str:
    """``fig`` as SVG; then the artists this chart ``added`` and its legend are taken
    off the reused axes, whose data limits are recomputed from what is left, and the
    frame goes back to ``frames[key]``: the next chart starts from the frame a new
    figure would have."""
    svg = to_svg(fig, title)
    for artist in added:
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.relim()
    frames[key] = (fig, ax)
    return svg


def _zoom(values: Sequence[float], cuts: Sequence[float]) -> tuple[float, float]:
    """Axis limits around the data (and quartile lines), inside 0-100%."""
    low, high = min([*values, *cuts]), max([*values, *cuts])
    pad = max(0.02, (high - low) * 0.12)
    return max(0.0, low - pad), min(1.0, high + pad)


@remembered
def scatter_chart(
    title: str,
    points: Sequence[tuple[str, float, float, bool]],
    x_label: str,
    y_label: str,
    x_quartiles: Sequence[float],
    y_quartiles: Sequence[float],
) -> str:
    """Schools as named points; quartile lines; bright spots as stars."""
    big = len(points) > 40
    fig, ax = _scatter_frame(big)
    added = [
        ax.axvline(cut, color=DISTRICT, linestyle=style, linewidth=0.9)
        for cut, style in zip(x_quartiles, (":", "--", ":"), strict=False)
    ]
    added += [
        ax.axhline(cut, color=DISTRICT, linestyle=style, linewidth=0.9)
        for cut, style in zip(y_quartiles, (":", "--", ":"), strict=False)
    ]
    added += _school_points(ax, points)
    ax.set_xlim(*_zoom([p[1] for p in points], x_quartiles))
    ax.set_ylim(*_zoom([p[2] for p in points], y_quartiles))
    ax.set_xlabel(plain(x_label))
    ax.set_ylabel(plain(y_label))
    ax.legend(loc="best", fontsize=7, frameon=False)
    _title(ax, plain(title), 9)
    return drawn_then_cleared(fig, ax, title, added, _SCATTER_FRAMES, big)


def _scatter_frame(big: bool) -> tuple[Figure, object]:
    """The reused scatter figure and axes, taken out of ``_SCATTER_FRAMES`` (or new).
    Every school is named: a big district gets a bigger canvas (it is vector, so
    readers zoom in) and smaller labels."""
    reused = _SCATTER_FRAMES.pop(big, None)  # one step: two threads never get the same one
    if reused is not None:
        return reused
    fig = Figure(figsize=(11.0, 7.6) if big else (7.2, 5.0))
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.94)
    ax = fig.subplots()
    _clean(ax)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return fig, ax


def _school_points(ax, points: Sequence[tuple[str, float, float, bool]]) -> list:
    """Plain schools as dots, bright spots as stars, every school labelled by name;
    returns what it drew."""
    dots = [p for p in points if not p[3]]
    bright = [p for p in points if p[3]]
    added = [ax.scatter(
        [p[1] for p in dots],
        [p[2] for p in dots],
        s=22,
        color=SCHOOL,
        label="school",
        zorder=3,
    )]
    if bright:
        added.append(ax.scatter(
            [p[1] for p in bright],
            [p[2] for p in bright],
            s=90,
            marker="*",
            color=BRIGHT,
            edgecolor="#5a3b00",
            linewidth=0.5,
            label="bright spot",
            zorder=4,
        ))
    fontsize = 7 if len(points) <= 40 else 5
    for name, x, y, _ in points:
        added.append(ax.annotate(
            plain(name),
            (x, y),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=fontsize,
            color="#333333",
        ))
    return added
