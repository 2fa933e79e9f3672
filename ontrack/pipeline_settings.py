"""Settings of the pipeline's stages: how ontrack computes, trains, scores and runs.

The sections of the district config that apply to the whole data directory and say how
the stages run: ``reporting``, ``engine``, ``features``, ``tracking``, ``modeling``,
``scoring`` and ``schedule``. The model declarations and what judges them (``models``,
``label``, ``split``, ``gate``) are in :mod:`ontrack.model_settings`, the district rules
in :mod:`ontrack.district_rules`. All are parsed, validated, hashed and documented as
part of :class:`ontrack.config.Config`, which re-exports every class here. This module
never imports ``ontrack.config``; the frozen base every section shares is in
:mod:`ontrack.settings_base`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ontrack.settings_base import _Frozen

MIN_GROUP_SIZE_FLOOR = 10


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
        "2GB", description="The older name of `resources.memory_limit`, used only when that "
        "is not set: the process's limit, of which DuckDB gets its share and spills beyond. "
        "700MB kept a whole 200,000-student `ontrack indicators` run under 1 GB "
        "(docs/validation.md)."
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
