"""Rosters ranked by the district's rule, when no model may rank (CONTRACT §3 Fallback).

When there is no champion, the champion failed its gate, has expired, or drift tripped,
``score`` still writes every roster, from the rule alone: ``risk`` is empty, the tier
comes from the rule's own criteria, and the "reasons" are the criteria not met, in the
rule's words, with the student's value and the bar.

Tiers from the rule (the same three configured tier names):

- first tier: the rule flags the student and two or more criteria are not met;
- second tier: one criterion not met, or the rule cannot tell (a criterion unknown
  and none failed: shown as unknown, never as met);
- third tier: every criterion met.

Within a tier, students are ordered by criteria not met, then unknown, then student id.
The criteria are those of the rule baseline the gate compares against, named by the
model's declaration (``ontrack.modeling.baselines``): ``readiness``, CORE readiness so
far (GPA, attendance, no D/F in ELA or math, not suspended); ``on_track``, on-track so
far (core semester Fs within the limit, credits not behind the pace for the year so far).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ontrack.config import DistrictRules, ScoringConfig
from ontrack.indicators.definitions import criterion_bar
from ontrack.modeling.baselines import baseline

def _column(matrix: pd.DataFrame, name: str) -> pd.Series:
    if name in matrix.columns:
        return matrix[name].astype("float64")
    return pd.Series(np.nan, index=matrix.index)


def _present(rule: str, matrix: pd.DataFrame) -> tuple[tuple[str, str, str], ...]:
    """Baseline ``rule``'s criteria whose feature the matrix was built with (a grade-10
    matrix has how 9th grade ended, not the 9th-grade criteria so far)."""
    criteria = baseline(rule).criteria
    present = tuple(c for c in criteria if c[1] in matrix.columns)
    return present or criteria


def criteria_not_met(rule: str, matrix: pd.DataFrame) -> pd.DataFrame:
    """Per row and criterion of baseline ``rule``: 1.0 not met, 0.0 met, NaN unknown."""
    out = {}
    for name, flag, _ in _present(rule, matrix):
        values = _column(matrix, flag)
        if name == "credits_pace":  # behind the pace when credits vs expected < 0
            out[name] = np.where(values.isna(), np.nan, (values < 0).astype("float64"))
        else:
            out[name] = np.where(values.isna(), np.nan, (values == 0).astype("float64"))
    return pd.DataFrame(out, index=matrix.index)


def rule_tiers(rule: str, matrix: pd.DataFrame, settings: ScoringConfig) -> pd.DataFrame:
    """``risk_tier``, ``criteria_not_met``, ``criteria_unknown`` and ``rule_order`` (a
    number to rank by: higher first) of every row, from baseline ``rule`` alone."""
    status = criteria_not_met(rule, matrix)
    not_met = status.fillna(0).sum(axis=1).astype(int)
    unknown = status.isna().sum(axis=1).astype(int)
    first, second, third = settings.tier_names
    tier = np.where(not_met >= 2, first, np.where((not_met == 1) | (unknown > 0), second, third))
    return pd.DataFrame(
        {
            "risk_tier": tier,
            "criteria_not_met": not_met.to_numpy(),
            "criteria_unknown": unknown.to_numpy(),
            "rule_order": (not_met * 100 + unknown).astype("float64").to_numpy(),
        },
        index=matrix.index,
    )


# Each criterion of the rule baseline -> the rule's criterion whose bar it shows.
_BAR_OF = {
    "gpa": "gpa", "attendance": "attendance", "no_d_or_f_ela_math": "df_ela_math",
    "not_suspended": "suspensions", "core_semester_fs": "core_semester_fs",
}


def _text(name: str, value: float, rules: DistrictRules) -> str:
    """A criterion not met, in the rule's words: the student's value, then the bar."""
    known = value is not None and np.isfinite(value)
    bar = criterion_bar(rules, _BAR_OF[name]) if name in _BAR_OF else ""
    texts = {
        "gpa": f"GPA so far {value:.2f} ({bar})" if known else "",
        "attendance": f"Attended {value:.0%} of school days this year ({bar})" if known else "",
        "no_d_or_f_ela_math": f"A D or F in ELA or math this year ({bar})",
        "not_suspended": f"Suspended this year ({bar})",
        "core_semester_fs": f"{value:.0f} semester Fs in core subjects ({bar})" if known else "",
        "credits_pace": f"{-value:.1f} credits behind the on-track pace for this point of the year" if known else "",
        "on_track_end_of_9": "Ended 9th grade off track",
    }
    return texts[name] or f"Not met: {name.replace('_', ' ')}"


UNKNOWN_TEXT = {
    "gpa": "GPA not known yet", "attendance": "attendance not known yet",
    "no_d_or_f_ela_math": "ELA and math marks not known yet", "not_suspended": "discipline not known",
    "core_semester_fs": "core semester marks not known yet", "credits_pace": "credits not known yet",
    "on_track_end_of_9": "how 9th grade ended not known",
}


def rule_reasons(rule: str, matrix: pd.DataFrame, rules_of: pd.Series, n: int = 3) -> pd.DataFrame:
    """``reason_1..n``: baseline ``rule``'s criteria not met in the rule's words with the
    student's value and the bar, then (if places are left) the criteria still unknown."""
    status = criteria_not_met(rule, matrix)
    columns = [f"reason_{i + 1}" for i in range(n)]
    texts = np.full((len(matrix), n), "", dtype=object)
    values = {name: _column(matrix, value).to_numpy() for name, _, value in _present(rule, matrix)}
    rules_list = list(rules_of)
    for row in range(len(matrix)):
        lines = [
            _text(name, values[name][row], rules_list[row])
            for name in status.columns if status[name].iat[row] == 1.0
        ]
        unknown = [UNKNOWN_TEXT[name] for name in status.columns if np.isnan(status[name].iat[row])]
        if unknown:
            lines.append("Unknown: " + ", ".join(unknown))
        for slot, text in enumerate(lines[:n]):
            texts[row, slot] = text
    return pd.DataFrame(texts, index=matrix.index, columns=columns)
