"""The rule baselines, declared once per rule: what a model must beat (CONTRACT §3).

A model's declaration (``Config.models[name].baseline``) names one of these rules;
everything that depends on the rule rather than on the model reads it from here: the
rule's score on the training matrix (the gate's comparison), the rule columns of a
roster, the criteria and reasons of a rule-ranked roster, the bars beside a model's
reasons and the rule's name in words. A new model of another grade or label picks a
baseline; it never adds a row to a per-model table.

Each score is computed from the rule features known at the checkpoint, in {0, 0.5, 1}:
1 = the rule flags the student, 0.5 = the rule cannot tell (its criteria are unknown),
0 = the rule is met.

- ``readiness``: CORE readiness so far (``readiness_met_ytd``): flagged when not met.
- ``on_track``: on-track so far: flagged when the core semester Fs already exceed the
  limit, or when credits earned are behind the on-track pace for the share of the year
  elapsed (``credits_vs_expected_ytd`` < 0). At the year's end that is exactly the
  Chicago rule; before any final mark posts only the Fs criterion can flag. For a
  10th grader (whose matrix has no 9th-grade so-far features) the rule is how 9th grade
  ended (``on_track_met_prior_year``): the freshman on-track status known at the
  checkpoint.

Examples
--------
>>> import pandas as pd
>>> X = pd.DataFrame({"on_track_fs_ok_ytd": [1.0, 0.0, None],
...                   "credits_vs_expected_ytd": [0.5, 0.5, None]})
>>> rule_score("on_track", X).tolist()
[0.0, 1.0, 0.5]
>>> BASELINES["readiness"].words
'CORE readiness so far'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.errors import SchemaError


@dataclass(frozen=True)
class Baseline:
    """One rule a model can be held to, and how it shows on rosters and in reports.

    ``roster_columns``: (roster column, feature) of the rule's criteria and values.
    ``criteria``: (criterion, the feature whose 0 means "not met", the value shown
    beside it); ``credits_pace`` is not met when its value is below 0. A criterion
    whose feature the matrix lacks (not built for the model's grade) is left out.
    ``bars``: feature -> the rule criterion (``ontrack.indicators.definitions``) whose
    bar is shown beside a model's reason about that feature.
    """

    name: str
    words: str  # the rule as the gate compares it, e.g. "CORE readiness so far"
    rule_words: str  # the rule as a report names it, e.g. "the CORE readiness rule"
    roster_columns: tuple[tuple[str, str], ...]
    criteria: tuple[tuple[str, str, str], ...]
    bars: dict[str, str]
    score: Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]  # (flagged, known)


def _column(X: pd.DataFrame, name: str) -> pd.Series:
    if name not in X.columns:
        raise SchemaError(
            f"feature matrix must have the rule feature {name!r} for the baseline. "
            f"Got columns {', '.join(X.columns)} instead."
        )
    return X[name]


def _readiness(X: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    met = _column(X, "readiness_met_ytd")
    return met == 0, met.notna()


def _on_track(X: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    if "on_track_fs_ok_ytd" not in X.columns and "on_track_met_prior_year" in X.columns:
        met = X["on_track_met_prior_year"]  # a 10th grader: how 9th grade ended
        return met == 0, met.notna()
    fs_ok = _column(X, "on_track_fs_ok_ytd")
    pace = _column(X, "credits_vs_expected_ytd")
    flagged = (fs_ok == 0) | (pace < 0)
    return flagged, flagged | (fs_ok.notna() & pace.notna())


BASELINES: dict[str, Baseline] = {
    "readiness": Baseline(
        name="readiness",
        words="CORE readiness so far",
        rule_words="the CORE readiness rule",
        roster_columns=(
            ("rule_gpa", "gpa_ytd"),
            ("rule_gpa_ok", "readiness_gpa_ok_ytd"),
            ("rule_attendance_rate", "attendance_rate_ytd"),
            ("rule_attendance_ok", "readiness_attendance_ok_ytd"),
            ("rule_no_d_or_f_ela_math", "readiness_df_ok_ytd"),
            ("rule_suspensions", "suspensions_ytd"),
            ("rule_not_suspended", "readiness_suspension_ok_ytd"),
        ),
        criteria=(
            ("gpa", "readiness_gpa_ok_ytd", "gpa_ytd"),
            ("attendance", "readiness_attendance_ok_ytd", "attendance_rate_ytd"),
            ("no_d_or_f_ela_math", "readiness_df_ok_ytd", "d_or_f_count_core_ytd"),
            ("not_suspended", "readiness_suspension_ok_ytd", "suspensions_ytd"),
        ),
        bars={
            "attendance_rate_ytd": "attendance",
            "readiness_attendance_ok_ytd": "attendance",
            "gpa_ytd": "gpa",
            "readiness_gpa_ok_ytd": "gpa",
            "suspensions_ytd": "suspensions",
            "readiness_suspension_ok_ytd": "suspensions",
        },
        score=_readiness,
    ),
    "on_track": Baseline(
        name="on_track",
        words="on-track so far",
        rule_words="the on-track rule",
        roster_columns=(
            ("rule_credits_earned", "credits_earned_ytd"),
            ("rule_credits_vs_pace", "credits_vs_expected_ytd"),
            ("rule_credits_ok", "on_track_credits_ok_ytd"),
            ("rule_core_semester_fs", "core_semester_fs_ytd"),
            ("rule_fs_ok", "on_track_fs_ok_ytd"),
            ("rule_on_track_end_of_9", "on_track_met_prior_year"),
        ),
        criteria=(
            ("core_semester_fs", "on_track_fs_ok_ytd", "core_semester_fs_ytd"),
            ("credits_pace", "credits_vs_expected_ytd", "credits_vs_expected_ytd"),
            ("on_track_end_of_9", "on_track_met_prior_year", "on_track_met_prior_year"),
        ),
        bars={
            "core_semester_fs_ytd": "core_semester_fs",
            "on_track_fs_ok_ytd": "core_semester_fs",
            "credits_vs_expected_ytd": "credits",
            "on_track_credits_ok_ytd": "credits",
        },
        score=_on_track,
    ),
}


def baseline(name: str) -> Baseline:
    """The declared rule ``name`` (``readiness`` or ``on_track``)."""
    if name not in BASELINES:
        raise SchemaError(
            f"baseline must be one of {', '.join(BASELINES)}. Got {name!r} instead."
        )
    return BASELINES[name]


def baseline_of(config: Config, model: str) -> Baseline:
    """The rule model ``model`` must beat, from its declaration in ``config``."""
    return baseline(config.model_spec(model).baseline)


def rule_score(name: str, X: pd.DataFrame) -> pd.Series:
    """Rule ``name``'s score per row: 1 flagged, 0.5 unknown, 0 met (see module)."""
    flagged, known = baseline(name).score(X)
    score = np.where(flagged, 1.0, np.where(known, 0.0, 0.5))
    return pd.Series(score, index=X.index, name="rule_score")


def roster_columns() -> tuple[str, ...]:
    """Every rule column a roster of any baseline can hold, in declaration order."""
    seen: dict[str, None] = {}
    for rule in BASELINES.values():
        seen.update((column, None) for column, _ in rule.roster_columns)
    return tuple(seen)


def who(grade: int) -> str:
    """Words for a model's population: 8 -> '8th graders'.

    >>> who(8), who(11), who(12)
    ('8th graders', '11th graders', '12th graders')
    """
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(grade % 10 if grade % 100 not in (11, 12, 13) else 0, "th")
    return f"{grade}{suffix} graders"
