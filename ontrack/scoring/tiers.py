"""Support tiers from calibrated risk: by risk bands or by each school's capacity.

Tier names come from the config (default "intensive support", "check in", "on track"):
words about the support offered, never labels for the student.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ontrack.config import ScoringConfig


def assign_tiers(risk: pd.Series, school: pd.Series, settings: ScoringConfig) -> pd.Series:
    """The tier name of every row.

    ``bands``: risk at or above ``risk_bands[0]`` is the first tier, at or above
    ``risk_bands[1]`` the second, the rest the third. ``capacity``: within each school,
    the ``capacity_per_school[0]`` highest risks are the first tier, the next
    ``capacity_per_school[1]`` the second.
    """
    first, second, third = settings.tier_names
    if settings.tier_mode == "bands":
        high, middle = settings.risk_bands
        values = np.where(risk >= high, first, np.where(risk >= middle, second, third))
        return pd.Series(values, index=risk.index, name="risk_tier")
    rank = school_rank(risk, school)
    top, nxt = settings.capacity_per_school
    values = np.where(rank <= top, first, np.where(rank <= top + nxt, second, third))
    return pd.Series(values, index=risk.index, name="risk_tier")


def school_rank(score: pd.Series, school: pd.Series) -> pd.Series:
    """1 = highest score within the school (ties by row order)."""
    frame = pd.DataFrame({"score": score.to_numpy(), "school": school.to_numpy()})
    frame["order"] = np.arange(len(frame))
    ranked = frame.sort_values(["school", "score", "order"], ascending=[True, False, True])
    ranked["rank"] = ranked.groupby("school").cumcount() + 1
    return pd.Series(ranked["rank"].sort_index().to_numpy(), index=score.index, name="rank")


def tier_level(tier: pd.Series, settings: ScoringConfig) -> pd.Series:
    """0 for the first tier (most support), 1, 2."""
    levels = {name: i for i, name in enumerate(settings.tier_names)}
    return tier.map(levels)


def change_since(previous_level: pd.Series, level: pd.Series, settings: ScoringConfig) -> pd.Series:
    """Each student's tier change since the previous run, in words: "new to the list",
    "up a tier, to <tier>" (more support), "down 2 tiers, to <tier>", "no change".

    The list is the first two tiers; ``previous_level`` is NaN for students not scored
    at the previous run.
    """
    names = settings.tier_names
    listed = level < len(names) - 1
    was_listed = (previous_level < len(names) - 1).fillna(False)
    out = []
    for now, before, on, was_on in zip(level.tolist(), previous_level.tolist(), listed.tolist(),
                                       was_listed.tolist(), strict=True):
        if on and not was_on:
            out.append("new to the list")
        elif pd.isna(before) or pd.isna(now) or now == before:
            out.append("no change")
        else:
            steps = int(abs(now - before))
            size = "a tier" if steps == 1 else f"{steps} tiers"
            out.append(f"{'up' if now < before else 'down'} {size}, to {names[int(now)]}")
    return pd.Series(out, index=level.index, name="change", dtype=object)


def risk_change(previous_risk: pd.Series, risk: pd.Series) -> pd.Series:
    """"risk up 12 points" / "risk down 3 points" / "risk unchanged" (percentage points,
    rounded), or "" where either risk is missing (a run ranked by the rule has none)."""
    points = ((risk.astype("float64") - previous_risk.astype("float64")) * 100).round()
    words = [
        "" if pd.isna(p) else "risk unchanged" if p == 0
        else f"risk {'up' if p > 0 else 'down'} {abs(int(p))} point{'' if abs(p) == 1 else 's'}"
        for p in points.tolist()
    ]
    return pd.Series(words, index=risk.index, name="risk_change", dtype=object)
