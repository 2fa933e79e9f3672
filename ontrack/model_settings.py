"""Declarations of the early-warning models and how each is trained and judged.

The district config's ``models:`` section (:class:`ModelSpec`, one per model, with the
two CONTRACT §3 models from :func:`default_models`) and the sections that decide what a
training run learns from and how it is judged: ``label:`` (:class:`LabelPolicy`),
``split:`` (:class:`SplitSpec`) and ``gate:`` (:class:`GateConfig`). Like
:mod:`ontrack.pipeline_settings`, which re-exports every name here, it never imports
``ontrack.config``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ontrack.settings_base import _Frozen

Treatment = Literal["positive", "negative", "exclude"]


class LabelPolicy(_Frozen):
    """How outcomes that are neither clearly good nor clearly bad become labels.

    The district config's ``label:`` section.
    """

    still_enrolled: Treatment = Field(
        "positive",
        description="A student still enrolled (or transferred out only after the "
        "deadline) has not graduated within 4 years: positive by default, as in the "
        "federal adjusted cohort graduation rate.",
    )
    unknown: Treatment = Field(
        "exclude",
        description="Outcome 'other' or no outcome row for the student: excluded by "
        "default (the district does not know what happened).",
    )
    retained_in_grade_8: Literal["positive", "exclude"] = Field(
        "positive",
        description="off_track_9 for an 8th grader who is in 8th grade again next "
        "year: positive by default (held back is off track).",
    )


class GateConfig(_Frozen):
    """What a model must show, out of time, before it may rank a roster (CONTRACT §3).

    The district config's ``gate:`` section. Every check compares the model with the
    district's own rule on the same test rows, at the rule's flag rate.
    """

    max_ece: float = Field(
        0.05, gt=0, le=1, description="Largest expected calibration error of the model's "
        "risks on the test cohort(s)."
    )
    min_positives: int = Field(
        30, ge=1, description="A student group is judged (its miss rate against the "
        "rule's) only with at least this many students who end up off track; smaller "
        "groups are listed as too few to judge."
    )
    fnr_slack: float = Field(
        0.05, ge=0, le=1, description="How far a judged group's miss rate (FNR at the "
        "rule's flag rate) may exceed the rule's for the same group."
    )
    recall_margin: float = Field(
        0.0, ge=0, le=1, description="How many points of recall at the rule's flag rate "
        "the model must find beyond the rule's (0: at least as many)."
    )
    auc_margin: float = Field(
        0.0, ge=0, le=1, description="How far the model's ROC AUC must exceed the rule's "
        "(0: at least the rule's)."
    )


def school_year_place(month_day: str) -> tuple[int, int]:
    """Where an 'MM-DD' falls in a school year counted from July 1 (for ordering).

    >>> school_year_place("10-31") < school_year_place("01-31")
    True
    """
    try:
        month_text, day_text = month_day.split("-")
        month, day = int(month_text), int(day_text)
        date(2000, month, day)  # a leap year: 02-29 is a month-day
    except (ValueError, AttributeError):
        raise ValueError(f"a month-day must look like 'MM-DD'. Got {month_day!r} instead.") from None
    return ((month - 7) % 12, day)


# The labels ontrack builds (ontrack.dataset.labels) and the grades each is an honest
# prediction for: on-track at the end of 9th grade is already known to a 10th grader, and
# a graduation cohort (first year in grade 9) is only placed from grade 8 on.
LABEL_GRADES: dict[str, tuple[int, int]] = {"off_track_9": (8, 9), "not_graduated_4yr": (8, 12)}
Baseline = Literal["readiness", "on_track"]


class ModelSpec(_Frozen):
    """One early-warning model, declared once (the config's ``models:`` section).

    Everything that differs between models lives here: who is scored (the grade at each
    checkpoint), what is predicted (labels in order of preference), which rule it must
    beat (the baseline) and which features it sees. Training, scoring, the reports and
    the command line's ``--model`` choices all derive from these declarations.
    """

    grade: int = Field(ge=8, le=12, description="Population: students enrolled in this "
                       "grade at each checkpoint.")
    labels: tuple[str, ...] = Field(min_length=1, description="Labels to predict, in order "
                                    "of preference (`--target` picks one): off_track_9 "
                                    "(grade 9 or below), not_graduated_4yr.")
    baseline: Baseline = Field(
        description="The rule the model must beat, computed on the data known at each "
        "checkpoint: readiness (CORE readiness so far) or on_track (on-track so far)."
    )
    feature_set: str = Field("ontrack.features:FEATURES", description="module:attribute "
                             "of the feature set.")
    gate: GateConfig | None = Field(None, description="This model's own gate thresholds "
                                    "(every key of `gate:`); default: the `gate:` section.")
    checkpoints: tuple[str, ...] | None = Field(
        None, description="This model's as-of month-days (MM-DD, in school-year order from "
        "July, each once), used for its features, labels, training and evaluation; "
        "default: the district's `rules.checkpoints`."
    )

    @field_validator("checkpoints")
    @classmethod
    def _own_checkpoints(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("checkpoints must list at least one month-day. Got none instead.")
        order = [school_year_place(item) for item in value]
        if len(set(order)) != len(order):
            raise ValueError(f"checkpoints must not repeat. Got {list(value)} instead.")
        if order != sorted(order):
            raise ValueError("checkpoints must be in school-year order (July to June). "
                             f"Got {list(value)} instead.")
        return value

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for label in value:
            if label not in LABEL_GRADES:
                raise ValueError(
                    f"labels must be among {', '.join(LABEL_GRADES)}. Got {label!r} instead."
                )
        if len(set(value)) != len(value):
            raise ValueError(f"labels must not repeat. Got {list(value)} instead.")
        return value

    @model_validator(mode="after")
    def _honest_labels(self) -> ModelSpec:
        for label in self.labels:
            low, high = LABEL_GRADES[label]
            if not low <= self.grade <= high:
                raise ValueError(
                    f"label {label} must predict for a grade from {low} to {high} (outside "
                    "them it is already known at the checkpoint, or not defined). Got "
                    f"grade {self.grade} instead."
                )
        return self


def default_models() -> dict[str, ModelSpec]:
    """CONTRACT §3: grade8 (predicts on-track at the end of 9th grade, against CORE
    readiness) and grade9 (graduation when the outcomes allow, else on-track, against
    on-track so far). The one place these two models are declared."""
    return {
        "grade8": ModelSpec(grade=8, labels=("off_track_9",), baseline="readiness"),
        "grade9": ModelSpec(grade=9, labels=("not_graduated_4yr", "off_track_9"), baseline="on_track"),
    }


class SplitSpec(_Frozen):
    """How many cohort years each part of a split takes.

    The district config's ``split:`` section.
    """

    n_train_years: int | None = Field(
        3, ge=1, description="Training cohort years (None: every eligible older year)."
    )
    n_calibrate_years: int = Field(1, ge=1, description="Calibration cohort years.")
    n_test_years: int = Field(1, ge=1, description="Test cohort years.")
    n_splits: int | None = Field(
        None, ge=1, description="Most out-of-time test cohorts evaluated (rolling "
        "origin, stepping back a year each; None: every cohort the data allows)."
    )
    kind: Literal["auto", "deployment", "retrospective"] = Field(
        "auto", description="deployment: train only on cohorts whose labels closed "
        "before the test's as-of dates (refuse when impossible); retrospective: train on "
        "older cohorts, test on the newest labelled one; auto: deployment when the data "
        "allows, else retrospective with a warning."
    )
