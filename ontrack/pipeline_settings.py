"""Settings of the pipeline's stages: how ontrack computes, trains, scores and runs.

Every section of the district config except the district rules (``rules`` and their
per-district overrides): ``reporting``, ``engine``, ``features``, ``tracking``,
``label``, ``split``, ``modeling``, ``scoring`` and ``schedule``. Each applies to the
whole data directory. They are parsed, validated, hashed and documented as part of
:class:`ontrack.config.Config`, which re-exports every class here. This module never
imports ``ontrack.config``: the frozen base both share lives here.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MIN_GROUP_SIZE_FLOOR = 10


class _Frozen(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportingConfig(_Frozen):
    """Suppression of small groups in every aggregate ontrack publishes."""

    min_group_size: int = Field(
        20,
        description="Groups smaller than this are suppressed (CORE's n-size is 20; "
        "never below 10).",
    )

    @field_validator("min_group_size")
    @classmethod
    def _floor(cls, value: int) -> int:
        if value < MIN_GROUP_SIZE_FLOOR:
            raise ValueError(
                f"min_group_size must be at least {MIN_GROUP_SIZE_FLOOR}. "
                f"Got {value} instead."
            )
        return value


class EngineConfig(_Frozen):
    """DuckDB resources for event-table aggregation."""

    memory_limit: str = Field(
        "2GB", description="DuckDB memory limit; spills beyond. 700MB kept a whole "
        "200,000-student `ontrack indicators` run under 1 GB (docs/validation.md)."
    )
    threads: int | None = Field(None, ge=1, description="DuckDB threads (default: all).")
    max_columns: int = Field(
        2_000, ge=1, le=100_000, description="A table whose header names more columns is "
        "refused before it is parsed (an absurd header would otherwise take minutes)."
    )
    max_line_bytes: int = Field(
        128 << 20, ge=1 << 10, le=1 << 30, description="A CSV line of this many bytes or "
        "more is quarantined by its line number (its text withheld), never dropped: rows "
        "in = accepted + quarantined. The default reads a 60 MB free-text cell."
    )


class FeatureConfig(_Frozen):
    """Which sensitive flags may become model inputs (off by default)."""

    include_program_flags: bool = Field(
        False,
        description="Use EL, disability and poverty flags as model inputs (a warning "
        "is printed). Race/ethnicity and gender are never model inputs.",
    )


class TrackingConfig(_Frozen):
    """Where MLflow keeps runs and the model registry."""

    uri: str | None = Field(
        None,
        description="MLflow tracking URI; default: MLFLOW_TRACKING_URI when set, else "
        "$ONTRACK_HOME/mlflow/mlflow.db when ONTRACK_HOME is set, else a SQLite file "
        "OUT/mlflow/mlflow.db.",
    )
    registered_model_prefix: str = Field(
        "ontrack", description="Registry name prefix: letters, digits, '_', '.' and '-', "
        "starting with a letter or digit (a name MLflow accepts and a models:/ URI keeps "
        "whole)."
    )

    @field_validator("registered_model_prefix")
    @classmethod
    def _registry_name(cls, value: str) -> str:
        # MLflow refuses '/', ':' and blank names only after a whole training run; '@',
        # '%', spaces and the like would also break models:/NAME@ALIAS URIs.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", value):
            raise ValueError(
                "registered_model_prefix must be 1-100 letters, digits, '_', '.' or '-', "
                f"starting with a letter or digit. Got {value!r} instead."
            )
        return value


class FairnessBounds(_Frozen):
    """Bounds of the per-group fairness verdict on every training run."""

    ratio_min: float = Field(
        0.8, gt=0, le=1, description="Lowest acceptable false-positive / false-negative "
        "rate ratio of a group against the largest group of its kind."
    )
    ratio_max: float = Field(
        1.25, ge=1, description="Highest acceptable rate ratio against the largest group."
    )
    max_ece: float = Field(
        0.03, gt=0, le=1, description="Largest acceptable expected calibration error "
        "within a group."
    )


class ScoringConfig(_Frozen):
    """Tiers, alerts and the drift guard of rosters (the ``scoring:`` section)."""

    tier_names: tuple[str, str, str] = Field(
        ("intensive support", "check in", "on track"),
        description="Names of the three tiers, most support first: about support, "
        "never labels.",
    )
    tier_mode: Literal["bands", "capacity"] = Field(
        "bands", description="Tiers by calibrated-risk bands, or by each school's "
        "capacity (the top N students)."
    )
    risk_bands: tuple[float, float] = Field(
        (0.5, 0.2), description="bands: lowest calibrated risk of the first and of the "
        "second tier (each between 0 and 1, the first above the second)."
    )
    capacity_per_school: tuple[int, int] = Field(
        (15, 30), description="capacity: students per school in the first and in the "
        "second tier (0 or more)."
    )
    reasons_per_student: int = Field(3, ge=0, le=3, description="Reasons on each roster row.")
    absence_rise_points: float = Field(
        0.10, gt=0, le=1, description="Alert when the absence rate of the last 30 "
        "instructional days is this much above the student's own earlier rate..."
    )
    absence_rise_ratio: float = Field(
        2.0, ge=1, description="...and at least this many times that earlier rate."
    )
    psi_threshold: float = Field(
        0.25, gt=0, description="Population stability index of the scores against the "
        "test cohort above which rosters are ranked by the rule."
    )
    model_max_age_years: int = Field(
        2, ge=1, description="A champion trained on data ending more than this many "
        "years before the scored as-of date has expired: rosters are ranked by the rule "
        "until a model is retrained and passes its gate (a yearly retrain is due first)."
    )

    @field_validator("tier_names")
    @classmethod
    def _distinct_tiers(cls, value: tuple[str, str, str]) -> tuple[str, str, str]:
        if any(not name.strip() for name in value):
            raise ValueError(f"tier_names must all be non-empty. Got {list(value)} instead.")
        if len({name.strip().casefold() for name in value}) != len(value):
            raise ValueError(f"tier_names must be distinct. Got {list(value)} instead.")
        return value

    @field_validator("risk_bands")
    @classmethod
    def _bands(cls, value: tuple[float, float]) -> tuple[float, float]:
        # The first tier (most support) starts at the higher risk: (0.5, 0.2).
        if not all(0 < band < 1 for band in value):
            raise ValueError(f"risk_bands must each be between 0 and 1. Got {list(value)} instead.")
        if not value[0] > value[1]:
            raise ValueError("risk_bands must be decreasing (the first tier's lowest risk "
                             f"above the second's). Got {list(value)} instead.")
        return value

    @field_validator("capacity_per_school")
    @classmethod
    def _capacities(cls, value: tuple[int, int]) -> tuple[int, int]:
        if any(count < 0 for count in value):
            raise ValueError(f"capacity_per_school must be 0 or more. Got {list(value)} instead.")
        return value


class ScheduleConfig(_Frozen):
    """When ``ontrack serve`` runs the flows (the ``schedule:`` section)."""

    refresh_cron: str = Field(
        "0 6 * 8-12,1-6 1", description="Cron of the refresh flow (ingest, indicators, "
        "features, score, report): Mondays 6:00 during the school year."
    )
    train_cron: str = Field(
        "0 6 15 8 *", description="Cron of the train flow: August 15, before the year starts."
    )
    timezone: str = Field("America/Los_Angeles", description="Time zone of both schedules.")


class ModelingConfig(_Frozen):
    """Training, evaluation and fairness-audit settings (the ``modeling:`` section)."""

    model_spec: str | None = Field(
        None,
        description="LightGBM spec YAML; default: the repository's models/lightgbm.yaml.",
    )
    bootstrap_samples: int = Field(
        200, ge=20, description="Bootstrap resamples (of students) behind every 95% "
        "interval."
    )
    seed: int = Field(0, description="Seed of every random step (booster, bootstrap).")
    top_shares: tuple[float, ...] = Field(
        (0.10, 0.20), description="Shares of the cohort flagged for precision/recall at k "
        "(each between 0 and 1)."
    )

    @field_validator("top_shares")
    @classmethod
    def _shares(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not all(0 < share < 1 for share in value):
            raise ValueError(f"top_shares must each be between 0 and 1. Got {list(value)} instead.")
        return value
    fairness: FairnessBounds = Field(default_factory=FairnessBounds)
    dask_address: str | None = Field(
        None, description="Refit the booster with lightgbm.dask on this Dask scheduler "
        "(tcp://host:8786, or 'local' for a local 2-worker cluster); default in-process."
    )


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
