"""The cohort being scored today: who, as of when, with which features and rule status.

The as-of date is ``--as-of`` or the latest checkpoint on or before the data's end; the
cohort is the model's grade enrolled then (``ontrack.dataset.cohorts``), and its features are
built point-in-time by the same code as training (``ontrack.dataset.featurize``, per part of
whole schools: ``ontrack.scoring.parts``), so a score sees exactly what a training row saw
at its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ontrack.dataset.asof import data_end_date
from ontrack.dataset.cohorts import build_cohort, cohort_checkpoints, with_model_checkpoints
from ontrack.config import Config
from ontrack.errors import ModelContractError, SchemaError
from ontrack.indicators import checkpoint_dates, school_year_of
from ontrack.modeling.baselines import baseline, rule_score, who

STATUS_OF_SCORE = {1.0: "not_met", 0.5: "unknown", 0.0: "met"}


@dataclass(frozen=True)
class ScoringCohort:
    """The scored rows: cohort (school, grade, ...), the full matrix, as-of, expiry."""

    cohort: pd.DataFrame
    matrix: pd.DataFrame
    as_of: date
    expires: date  # the soonest of ``expires_by_district``
    data_end: date | None
    expires_by_district: dict[str, date] = field(default_factory=dict)


def latest_checkpoint(con: duckdb.DuckDBPyConnection, config: Config, end: date | None) -> date:
    """The newest configured checkpoint on or before the data's end."""
    points = cohort_checkpoints(con, config, data_end=end)
    if points.empty:
        raise SchemaError(
            f"the data must reach a checkpoint to score ({', '.join(config.rules.checkpoints)}). "
            f"Got data ending {end} instead; pass --as-of DATE."
        )
    return pd.Timestamp(points["as_of_date"].max()).date()


def next_checkpoint(config: Config, district_id: str | None, as_of: date) -> date:
    """The first checkpoint after ``as_of``: when today's scores expire."""
    rules = config.rules_for(district_id)
    year = school_year_of(rules, as_of)
    later = [d for y in (year, year + 1) for d in checkpoint_dates(rules, y) if d > as_of]
    return min(later)


def current_cohort(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    model: str,
    as_of: date | None,
) -> ScoringCohort:
    """The cohort at the as-of date: the declared model's grade enrolled then. Its
    matrix has no column yet: the point-in-time features are built per part of whole
    schools (:func:`ontrack.scoring.parts.score_part`)."""
    spec = config.model_spec(model)
    config = with_model_checkpoints(config, model)  # the model's own checkpoints, if declared
    end = data_end_date(con)
    day = as_of or latest_checkpoint(con, config, end)
    cohort = build_cohort(con, config, model=model, as_of_dates=[day], data_end=end)
    if cohort.empty:
        raise SchemaError(
            f"enrollments must hold {who(spec.grade)} enrolled on {day} to "
            "score. Got none instead."
        )
    # Each district's own calendar sets when its lists expire (its next checkpoint).
    expires = {
        str(d): next_checkpoint(config, str(d), day) for d in cohort["district_id"].unique()
    }
    return ScoringCohort(cohort, pd.DataFrame(index=cohort.index), day, min(expires.values()), end, expires)


def model_inputs(matrix: pd.DataFrame, contract: dict) -> pd.DataFrame:
    """The model's columns, in order; the column diff as an error when they differ."""
    expected, got = list(contract["features"]), list(matrix.columns)
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    if missing or extra:
        raise ModelContractError(
            f"the data's features must match the model's input contract "
            f"(feature hash {contract.get('feature_hash')}). Got a different set instead:\n"
            f"  missing (the model needs them): {', '.join(missing) or 'none'}\n"
            f"  unexpected (the model never saw them): {', '.join(extra) or 'none'}\n"
            "Retrain the model on the current feature set, or restore the features it was "
            "trained with."
        )
    return matrix[expected]


def rule_columns(rule: str, matrix: pd.DataFrame) -> pd.DataFrame:
    """Baseline ``rule``'s status (met / not_met / unknown) and each criterion, per row."""
    score = rule_score(rule, matrix)
    out = pd.DataFrame({"rule_status": score.map(STATUS_OF_SCORE)}, index=matrix.index)
    columns = baseline(rule).roster_columns
    built = [(c, f) for c, f in columns if f in matrix.columns]  # this grade's criteria
    for column, feature in built or columns:
        values = matrix[feature] if feature in matrix.columns else pd.Series(np.nan, index=matrix.index)
        if feature.endswith("_ok_ytd"):  # a criterion flag: yes / no / unknown
            values = values.map({1.0: True, 0.0: False}).astype("boolean")
        out[column] = values
    out["rule_score"] = score
    return out
