"""School profiles for comparisons: size, share disadvantaged, bright spots.

Only published aggregates are used. A school's *size* is the number of students in the
published all-students chronic-absence cells of the latest year (every enrolled student
has that indicator), summed over its grades; its *share socioeconomically
disadvantaged* divides the flagged students' published cells by the all-students cells
of the same grades. Grades whose cells are withheld are left out of both, so a share is
never derived from a withheld count. Schools are "similar" when they fall in the same
third of the district's schools by size and by that share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ontrack.reports.district.data import FOCUS, ReportData, good_is_high

SIZE_BANDS = ("smaller", "mid-sized", "larger")
SED_BANDS = ("lower share", "middle share", "higher share")
UNKNOWN_BAND = "not published"


@dataclass(frozen=True)
class ScatterPair:
    """Two indicators of one grade plotted against each other across schools."""

    x: str
    y: str
    grade: int

    @property
    def slug(self) -> str:
        """A short id for the HTML."""
        return f"{self.x}-{self.y}-{self.grade}"


PAIRS: tuple[ScatterPair, ...] = (
    ScatterPair("hs_readiness_8", "chronic_absence", 8),
    ScatterPair("hs_readiness_8", "suspension", 8),
    ScatterPair("on_track_9", "chronic_absence", 9),
    ScatterPair("on_track_9", "suspension", 9),
    ScatterPair("chronic_absence", "suspension", 8),
    ScatterPair("chronic_absence", "suspension", 9),
)


def _size_and_share(
    data: ReportData, school_id: str
) -> tuple[int | None, float | None]:
    """(students, share socioeconomically disadvantaged) from published cells only."""
    unit = f"school:{school_id}"
    total = total_with_sed = sed = 0
    any_total = any_sed = False
    for grade in range(-1, 14):
        everyone = data.cell(data.latest, "chronic_absence", unit, grade)
        if everyone is None or everyone.n is None:
            continue
        count = everyone.n + (everyone.n_unknown or 0)
        total += count
        any_total = True
        flagged = data.cell(
            data.latest,
            "chronic_absence",
            unit,
            grade,
            "socioeconomically_disadvantaged",
            "yes",
        )
        if flagged is not None and flagged.n is not None:
            sed += flagged.n + (flagged.n_unknown or 0)
            total_with_sed += count
            any_sed = True
    share = sed / total_with_sed if any_sed and total_with_sed else None
    return (total if any_total else None), share


def _thirds(values: pd.Series, names: tuple[str, ...]) -> pd.Series:
    """Each value's third among the known values (ties share a band)."""
    known = values.dropna()
    out = pd.Series(UNKNOWN_BAND, index=values.index, dtype=object)
    if known.empty:
        return out
    ranks = known.rank(method="average", pct=True)
    out.loc[known.index] = [names[min(2, int(np.ceil(r * 3)) - 1)] for r in ranks]
    return out


def school_profiles(data: ReportData) -> pd.DataFrame:
    """One row per school: id, name, district, size, sed_share, bands and latest rates.

    Rate columns are named ``<indicator>_<grade>`` and hold the published rate (NaN
    when withheld or absent).
    """
    rows = []
    for rec in data.schools.itertuples(index=False):
        size, share = _size_and_share(data, rec.school_id)
        row = {
            "school_id": rec.school_id,
            "school_name": rec.school_name,
            "district_id": rec.district_id,
            "school_level": rec.school_level,
            "size": size,
            "sed_share": share,
        }
        unit = f"school:{rec.school_id}"
        for indicator, grade in FOCUS:
            found = data.cell(data.latest, indicator, unit, grade)
            row[f"{indicator}_{grade}"] = (
                np.nan if found is None or found.rate is None else found.rate
            )
        rows.append(row)
    profiles = pd.DataFrame(rows)
    if profiles.empty:
        return profiles
    profiles["size_band"] = _thirds(profiles["size"].astype(float), SIZE_BANDS)
    profiles["sed_band"] = _thirds(profiles["sed_share"].astype(float), SED_BANDS)
    profiles["grades"] = [
        ",".join(
            str(g) for g in sorted({g for i, g in FOCUS if not np.isnan(r[f"{i}_{g}"])})
        )
        for _, r in profiles.iterrows()
    ]
    return profiles


def similar_schools(profiles: pd.DataFrame, school_id: str) -> pd.DataFrame:
    """Schools in the same size and share bands that serve a grade in common."""
    me = profiles[profiles["school_id"] == school_id]
    if me.empty:
        return profiles.iloc[0:0]
    mine = me.iloc[0]
    grades = set(filter(None, mine["grades"].split(",")))
    same = profiles[
        (profiles["size_band"] == mine["size_band"])
        & (profiles["sed_band"] == mine["sed_band"])
        & (profiles["size_band"] != UNKNOWN_BAND)
        & (profiles["sed_band"] != UNKNOWN_BAND)
    ]
    keep = [bool(grades & set(filter(None, g.split(",")))) for g in same["grades"]]
    return same[keep]


@dataclass(frozen=True)
class Quadrants:
    """Quartiles of each axis across schools and the schools good on both."""

    x_quartiles: tuple[float, float, float]
    y_quartiles: tuple[float, float, float]
    bright: tuple[str, ...]  # school ids in the best quartile on both axes
    points: pd.DataFrame  # school_id, school_name, x, y


def quadrants(profiles: pd.DataFrame, pair: ScatterPair) -> Quadrants | None:
    """Quartile cut points and bright spots for one pair; None with under 2 schools.

    The best quartile is the top one where a higher rate is better (readiness,
    on-track) and the bottom one where it is worse (chronic absence, suspension).
    """
    if profiles.empty:
        return None
    xcol, ycol = f"{pair.x}_{pair.grade}", f"{pair.y}_{pair.grade}"
    pts = profiles[["school_id", "school_name", xcol, ycol]].dropna()
    pts = pts.rename(columns={xcol: "x", ycol: "y"})
    if len(pts) < 2:
        return None
    xq = tuple(float(q) for q in np.quantile(pts["x"], [0.25, 0.5, 0.75]))
    yq = tuple(float(q) for q in np.quantile(pts["y"], [0.25, 0.5, 0.75]))
    best_x = pts["x"] >= xq[2] if good_is_high(pair.x) else pts["x"] <= xq[0]
    best_y = pts["y"] >= yq[2] if good_is_high(pair.y) else pts["y"] <= yq[0]
    bright = tuple(pts.loc[best_x & best_y, "school_id"])
    return Quadrants(xq, yq, bright, pts.reset_index(drop=True))  # type: ignore[arg-type]
