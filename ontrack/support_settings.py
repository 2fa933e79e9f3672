"""Settings of the success team's week: the follow-up list and the impact estimates.

The ``followup:`` and ``impact:`` sections of the district config (CONTRACT §4). They
are parsed, validated, hashed and documented with :class:`ontrack.config.Config`, which
re-exports both classes.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ontrack.settings_base import _Frozen

# The rule criteria a district may name as the variable it assigns support by.
CUTOFF_CRITERIA: dict[str, tuple[str, ...]] = {
    "readiness": ("gpa", "attendance", "df_ela_math", "suspensions"),
    "on_track": ("credits", "core_semester_fs"),
}
_MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")


class FollowupConfig(_Frozen):
    """What puts a student on the follow-up list (the ``followup:`` section)."""

    risk_rise: float = Field(
        0.10, gt=0, le=1, description="A student whose calibrated risk rose by at least "
        "this much since the previous run is listed."
    )


class ImpactCutoff(_Frozen):
    """A support the district assigns by a cutoff on one value (one ``impact.cutoffs`` entry)."""

    intervention_type: str = Field(min_length=1, description="As written in `interventions`.")
    variable: str = Field(
        description="The value the district looked at: a rule criterion "
        "(`readiness.gpa`, `readiness.attendance`, `readiness.df_ela_math`, "
        "`readiness.suspensions`, `on_track.credits`, `on_track.core_semester_fs`) or "
        "`risk:<model>`."
    )
    as_of: str = Field(
        description="MM-DD: the value at the latest such date on or before the "
        "intervention's start_date."
    )
    threshold: float = Field(description="The cutoff, on the variable's own scale "
                             "(attendance and rates as fractions, 0.92 = 92%).")
    treated: Literal["below", "above"] = Field(
        description="Which side of the threshold the district serves."
    )
    outcome: Literal["on_track_9"] = Field(
        "on_track_9", description="The outcome compared: on track at the end of 9th grade."
    )

    @field_validator("variable")
    @classmethod
    def _known_variable(cls, value: str) -> str:
        if value.startswith("risk:") and re.fullmatch(r"risk:[A-Za-z][A-Za-z0-9_-]*", value):
            return value
        rule, _, criterion = value.partition(".")
        if criterion in CUTOFF_CRITERIA.get(rule, ()):
            return value
        known = [f"{r}.{c}" for r, cs in CUTOFF_CRITERIA.items() for c in cs] + ["risk:<model>"]
        raise ValueError(f"variable must be one of {', '.join(known)}. Got {value!r} instead.")

    @field_validator("as_of")
    @classmethod
    def _month_day(cls, value: str) -> str:
        if not _MONTH_DAY.fullmatch(value):
            raise ValueError(f"as_of must be a month and day as MM-DD, e.g. 01-31. Got {value!r} instead.")
        return value


    @model_validator(mode="after")
    def _threshold_on_scale(self) -> ImpactCutoff:
        """The threshold on its variable's scale: a GPA 0-5, a rate or a risk 0-1, a
        count 0 or more (a cutoff off the scale serves everyone or no one)."""
        low, high, scale = {
            "readiness.gpa": (0.0, 5.0, "a GPA between 0 and 5"),
            "readiness.attendance": (0.0, 1.0, "a rate between 0 and 1"),
        }.get(self.variable, (0.0, 1.0, "a risk between 0 and 1") if self.variable.startswith("risk:")
              else (0.0, float("inf"), "a count of 0 or more"))
        if not low <= self.threshold <= high:
            raise ValueError(f"threshold of {self.variable} must be {scale}. Got {self.threshold} instead.")
        return self


class ImpactConfig(_Frozen):
    """How ontrack estimates whether support helped (the ``impact:`` section)."""

    cutoffs: tuple[ImpactCutoff, ...] = Field(
        (), description="Supports assigned by a cutoff: each gets a regression-"
        "discontinuity estimate besides the matched comparison."
    )
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Level of every interval.")
