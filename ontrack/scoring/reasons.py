"""Reasons in plain language from exact TreeSHAP contributions.

For each student, the booster's per-feature contributions to the margin (LightGBM's
``pred_contrib``: exact TreeSHAP, additive to the margin) are filtered and grouped:

1. only features that may be shown: flagged malleable in the feature set, never a
   protected attribute or a program flag, and with a known value for the student
   (a reason shows the student's own value);
2. only contributions that *raise* the risk;
3. grouped by domain (attendance, coursework, behavior, assessment, enrollment; the
   rule criteria count in the domain they measure), so one domain takes one slot: the
   domains are ranked by their summed risk-raising contribution and each shows its
   largest feature.

The text is the feature's own ``reason`` template filled with the student's value, with
the rule's bar added where one applies ("Attended 88% of school days this year
(readiness needs 96%)").
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ontrack.config import DistrictRules
from ontrack.featureset import PROTECTED_COLUMNS
from ontrack.indicators import GROUP_FLAGS

NEVER_REASONS: frozenset[str] = frozenset((*PROTECTED_COLUMNS, *GROUP_FLAGS))
# Rule-criterion features belong to the domain they measure.
DOMAIN_OF: dict[str, str] = {
    "readiness_gpa_ok_ytd": "coursework",
    "readiness_df_ok_ytd": "coursework",
    "readiness_attendance_ok_ytd": "attendance",
    "readiness_suspension_ok_ytd": "behavior",
    "on_track_met_ytd": "coursework",
    "on_track_credits_ok_ytd": "coursework",
    "on_track_fs_ok_ytd": "coursework",
    "core_semester_fs_ytd": "coursework",
    "credits_earned_ytd": "coursework",
    "credits_vs_expected_ytd": "coursework",
    "readiness_met_ytd": "coursework",
}


def reason_features(contract: dict) -> list[str]:
    """The model's features that may appear as reasons (see the module docstring)."""
    malleable = contract.get("malleable", {})
    return [
        f for f in contract["features"]
        if malleable.get(f, False) and f not in NEVER_REASONS and contract.get("reasons", {}).get(f)
    ]


def domain(feature: str, contract: dict) -> str:
    """The domain a feature's reason counts in."""
    return DOMAIN_OF.get(feature, contract.get("groups", {}).get(feature, feature))


def reason_text(feature: str, value: float, contract: dict, rules: DistrictRules, model: str) -> str:
    """The feature's reason template with the student's value (and the rule's bar)."""
    template = contract["reasons"][feature]
    try:
        text = singular(template.format(value=value))
    except (ValueError, KeyError, IndexError):
        text = template
    bar = _rule_bar(feature, rules, model)
    return f"{text} ({bar})" if bar else text


def singular(text: str) -> str:
    """Grammar for a count of one: "Suspended 1 times" -> "Suspended once",
    "1 discipline incidents" -> "1 discipline incident".

    Examples
    --------
    >>> singular("1 D or F marks this year")
    '1 D or F mark this year'
    >>> singular("Absent 11 days this year")
    'Absent 11 days this year'
    """
    text = re.sub(r"(?<![\d.,+-])1 times\b", "once", text)
    return re.sub(r"(?<![\d.,])([+-]?1) ((?:\w+ ){0,4}?)(\w+?)s\b", r"\1 \2\3", text)


def _rule_bar(feature: str, rules: DistrictRules, model: str) -> str | None:
    if model != "grade8":
        return None
    readiness = rules.readiness
    bars = {
        "attendance_rate_ytd": f"readiness needs {readiness.attendance_min:.0%}",
        "gpa_ytd": f"readiness needs {readiness.gpa_min:g}",
        "suspensions_ytd": "readiness needs no suspension",
    }
    return bars.get(feature)


def top_reasons(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    contract: dict,
    rules_of: pd.Series,
    model: str,
    n: int = 3,
) -> pd.DataFrame:
    """``reason_1..n`` (text, "" when fewer) per row of ``contributions``.

    ``rules_of`` holds each row's :class:`DistrictRules` (the district's bars).
    """
    columns = [f"reason_{i + 1}" for i in range(n)]
    allowed = [f for f in reason_features(contract) if f in contributions.columns]
    out = pd.DataFrame("", index=contributions.index, columns=columns)
    if not allowed or n == 0 or contributions.empty:
        return out
    values = X[allowed].to_numpy(dtype="float64")
    phi = contributions[allowed].to_numpy(dtype="float64")
    phi = np.where((phi > 0) & np.isfinite(values), phi, 0.0)
    domains = [domain(f, contract) for f in allowed]
    names = sorted(set(domains))
    member = np.array([[d == name for d in domains] for name in names])  # domains x features
    totals = phi @ member.T  # rows x domains
    best_in = np.where(member[None, :, :], phi[:, None, :], -1.0).argmax(axis=2)  # rows x domains
    order = np.argsort(-totals, axis=1, kind="stable")[:, :n]
    texts = np.full((len(phi), n), "", dtype=object)
    rules_list = list(rules_of)
    for row in range(len(phi)):
        for slot, d in enumerate(order[row]):
            if totals[row, d] <= 0:
                break
            j = best_in[row, d]
            texts[row, slot] = reason_text(allowed[j], values[row, j], contract, rules_list[row], model)
    out.loc[:, columns] = texts
    return out
