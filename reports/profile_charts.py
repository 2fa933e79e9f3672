"""The geometry of a profile page's charts: numbers only, laid out as SVG by the template.

Each function turns one student's rows into coordinates (pixels in the SVG's own
``viewBox``) and short labels; the template ``templates/profile.html.j2`` draws them, so
every label from the data is autoescaped like the rest of the page. ``None`` means there
is nothing to draw (the page then says so).

The waterfall follows the layout of shap's ``waterfall`` plot: the model's base value
at the bottom, one row per feature ordered by the size of its contribution (the largest
at the top, the rest summed in one row), each an arrow from the running total, red when
it raises the output and blue when it lowers it, ending at the model's output f(x) at
the top; all in log-odds, before calibration.
"""

from __future__ import annotations

import math
from datetime import date
from functools import lru_cache

import pandas as pd

RAISES, LOWERS = "#ff0051", "#008bfb"  # shap's colours for positive / negative
MAX_FEATURES = 9  # shap's default max_display is 10: 9 features and "N other features"


def _r(value: float) -> float:
    return round(float(value), 1)


@lru_cache(maxsize=512)
def month_label(year: int, month: int) -> str:
    """A calendar month as "Jan 2025" (a page labels each month twice; a batch repeats
    the same few dozen months for every student)."""
    return f"{date(int(year), int(month), 1):%b %Y}"


# The attendance chart's margins (left, right, top, bottom): its axes and every bar.
ATTENDANCE_MARGINS = (40, 8, 8, 30)


def attendance_chart(months: list[dict], *, width: int = 720, height: int = 150) -> dict | None:
    """Share of days absent per calendar month, across school years (bars): the axes of
    :func:`attendance_axes` and a bar per month (:func:`attendance_bar`)."""
    if not months:
        return None
    chart = attendance_axes(months, width=width, height=height)
    chart["bars"] = [attendance_bar(i, len(months), chart["peak"], row["year"], row["month"], row["days"],
                                    row["absent"], width=width, height=height) for i, row in enumerate(months)]
    return chart


def attendance_axes(months: list[dict], *, width: int = 720, height: int = 150) -> dict:
    """The attendance chart but its bars: size, the share at its top (``peak``: 20% at
    least, else the largest share rounded up to a tenth), ticks and school-year labels."""
    left, right, top, bottom = ATTENDANCE_MARGINS
    shares = [m["absent"] / m["days"] if m["days"] else 0.0 for m in months]
    peak = max(0.2, math.ceil(max(shares) * 10) / 10)
    step = (width - left - right) / len(months)
    scale = (height - top - bottom) / peak
    years = []
    for i, row in enumerate(months):
        if i == 0 or row["school_year"] != months[i - 1]["school_year"]:
            year = int(row["school_year"])
            years.append({"x": _r(left + i * step), "label": f"{year - 1}-{year % 100:02d}"})
    ticks = [{"y": _r(height - bottom - v * scale), "label": f"{v:.0%}"}
             for v in (0.0, peak / 2, peak)]
    return {"width": width, "height": height, "left": left, "right": width - right,
            "base_y": height - bottom, "years": years, "ticks": ticks, "label_y": height - bottom + 16,
            "peak": peak}


def attendance_bar(i: int, count: int, peak: float, year: int, month: int, days: int, absent: int, *,
                   width: int = 720, height: int = 150) -> dict:
    """Bar ``i`` of ``count`` (one calendar month's days recorded and absent) on a chart
    topped at ``peak``: the same for every student with these numbers."""
    left, right, top, bottom = ATTENDANCE_MARGINS
    share = absent / days if days else 0.0
    step = (width - left - right) / count
    h = share * ((height - top - bottom) / peak)
    x = left + i * step
    return {"x": _r(x + 1), "y": _r(height - bottom - h), "w": _r(max(step - 2, 1)), "h": _r(h),
            "title": f"{month_label(year, month)}: {int(absent)} of {int(days)} days absent ({share:.0%})"}


def risk_chart(history: list[dict], *, width: int = 560, height: int = 170) -> dict | None:
    """Risk at each scoring run (a line), each point labelled with its model version."""
    scored = [h for h in history if h["risk"] is not None and not math.isnan(float(h["risk"]))]
    if not scored:
        return None
    left, right, top, bottom = 40, 30, 18, 28
    days = [pd.Timestamp(h["as_of_date"]).toordinal() for h in scored]
    first, last = min(days), max(days)
    span = max(last - first, 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(day: int) -> float:
        return left + (plot_w / 2 if last == first else (day - first) / span * plot_w)

    points = []
    for day, row in zip(days, scored, strict=True):
        risk = float(row["risk"])
        when = pd.Timestamp(row["as_of_date"]).date().isoformat()
        points.append({"x": _r(x_of(day)), "y": _r(top + (1 - risk) * plot_h),
                       "version": f"v{row['model_version']}", "date": when,
                       "title": f"{when}: {risk:.0%} ({row['model']} version {row['model_version']})"})
    path = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(points))
    ticks = [{"y": _r(top + (1 - v) * plot_h), "label": f"{v:.0%}"} for v in (0.0, 0.5, 1.0)]
    return {"width": width, "height": height, "left": left, "right": width - right,
            "base_y": height - bottom, "path": path, "points": points, "ticks": ticks,
            "label_y": height - bottom + 16}


def waterfall_chart(shap: dict, *, width: int = 720, row_h: int = 26) -> dict:
    """shap's waterfall layout for one student: ``shap`` = {"base": float,
    "features": {name: contribution}} in log-odds."""
    items = sorted(((str(k), float(v)) for k, v in shap["features"].items() if not math.isnan(v)),
                   key=lambda kv: -abs(kv[1]))
    shown = items[:MAX_FEATURES]
    rest = items[MAX_FEATURES:]
    if rest:
        shown.append((f"{len(rest)} other features", sum(v for _, v in rest)))
    base = float(shap["base"])
    output = base + sum(v for _, v in items)
    # Running totals from the bottom row (the smallest) up to the top one.
    starts, total = [], base
    for _, value in reversed(shown):
        starts.append(total)
        total += value
    starts.reverse()
    ends = [s + v for s, (_, v) in zip(starts, shown, strict=True)]
    low = min([base, output, *starts, *ends])
    high = max([base, output, *starts, *ends])
    pad = (high - low) * 0.08 or 0.5
    low, high = low - pad, high + pad
    left, right, top = 250, 20, 30
    height = top + row_h * len(shown) + 46

    def x_of(v: float) -> float:
        return left + (v - low) / (high - low) * (width - left - right)

    rows = []
    for i, ((name, value), start, end) in enumerate(zip(shown, starts, ends, strict=True)):
        y0, y1, mid, text_y, below = _row_ys(top, row_h, i)
        a, b = x_of(start), x_of(end)
        head = min(8.0, abs(b - a))
        ra, rb, rt = _r(a), _r(b), _r(b - head if b >= a else b + head)
        poly = f"{ra},{y0} {rt},{y0} {rb},{mid} {rt},{y1} {ra},{y1}"
        rows.append({"label": name, "points": poly, "color": RAISES if value > 0 else LOWERS,
                     "text": f"{value:+.2f}", "text_x": _r(max(a, b) + 4), "text_y": text_y,
                     "label_y": text_y, "connector_x": rb, "y0": y0, "y1": below})
    axis_y = top + row_h * len(shown) + 4
    ticks = [{"x": _r(x_of(v)), "label": f"{v:.1f}"} for v in _nice_ticks(low, high)]
    return {"width": width, "height": height, "left": left, "right": width - right, "top": top,
            "axis_y": axis_y, "rows": rows, "ticks": ticks,
            "base": f"{base:.2f}", "base_x": _r(x_of(base)), "output": f"{output:.2f}",
            "output_x": _r(x_of(output))}


@lru_cache(maxsize=64)
def _row_ys(top: int, row_h: int, i: int) -> tuple[float, float, float, float, float]:
    """A waterfall row's heights, rounded: its arrow's top, bottom and middle, its text's
    baseline and its connector's lower end (the same on every page: worked out once)."""
    y0, y1 = top + i * row_h + 4, top + (i + 1) * row_h - 4
    mid = (y0 + y1) / 2
    return _r(y0), _r(y1), _r(mid), _r(mid + 4), _r(y1 + 8)


def _nice_ticks(low: float, high: float) -> list[float]:
    span = high - low
    step = 10 ** math.floor(math.log10(span / 4)) if span > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 6:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step) + 1)]


def interventions_chart(rows: list[dict], as_of: date, *, width: int = 720, row_h: int = 22) -> dict | None:
    """Each intervention as a bar from its start to its end (or to the as-of date)."""
    if not rows:
        return None
    ordered = sorted(rows, key=lambda r: pd.Timestamp(r["start_date"]))
    starts = [pd.Timestamp(r["start_date"]) for r in ordered]
    ends = [pd.Timestamp(as_of) if r["end_date"] is None else pd.Timestamp(r["end_date"]) for r in ordered]
    first = min(starts)
    last = max([*ends, pd.Timestamp(as_of)])
    span = max((last - first).days, 1)
    left, right, top = 170, 16, 8
    plot_w = width - left - right
    bars = []
    for k, (row, start, end) in enumerate(zip(ordered, starts, ends, strict=True)):
        x0 = left + (start - first).days / span * plot_w
        x1 = left + (end - first).days / span * plot_w
        label = str(row["intervention_type"])
        until = "ongoing" if row["end_date"] is None else end.date().isoformat()
        bars.append({"x": _r(x0), "y": _r(top + k * row_h + 3), "w": _r(max(x1 - x0, 3)), "h": row_h - 6,
                     "label": label, "label_y": _r(top + k * row_h + row_h / 2 + 4),
                     "title": f"{label}: {start.date().isoformat()} to {until}"})
    height = top + row_h * len(bars) + 28
    return {"width": width, "height": height, "left": left, "right": width - right,
            "axis_y": height - 24, "bars": bars, "label_y": height - 8,
            "first": first.date().isoformat(), "last": last.date().isoformat()}
