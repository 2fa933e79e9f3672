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
    """"new to the list", "moved up", "moved down", "no change" (or "first run").

    The list is the first two tiers; ``previous_level`` is NaN for students not scored
    at the last run.
    """
    listed = level < len(settings.tier_names) - 1
    was_listed = previous_level < len(settings.tier_names) - 1
    out = np.where(
        previous_level.isna() & listed, "new to the list",
        np.where(listed & ~was_listed.fillna(False), "new to the list",
        np.where(level < previous_level, "moved up",
        np.where(level > previous_level, "moved down", "no change"))),
    )
    return pd.Series(out, index=level.index, name="change")
