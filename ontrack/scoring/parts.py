"""The heavy half of scoring, in parts of whole schools: features, risk, reasons, state.

A scored row depends only on its own student: its point-in-time features, the model's
risk and TreeSHAP contributions for them, its reasons (the top tier, which asks for a
context line, is ranked within the student's school) and the counts the alerts compare.
So a cohort splits by school with the same rows whichever way it is computed:

- in this process (``ontrack score``, a flow without ``--dask``): one part, the whole
  cohort, on the connection the cohort came from;
- with a task runner (the flows' ``--dask``): :func:`scoring_parts` of whole schools,
  each one task, :func:`score_part`, a pure function of its part and OUT's files, on a
  cluster's workers. It loads the champion the run named and checks it is the same one.

:func:`combined` puts the partials back in the cohort's order. Deciding who ranks (the
drift guard reads every risk), tiers, ranks, history and the roster stay in the driver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.dataset.budget import part_rows
from ontrack.dataset.cohorts import with_model_checkpoints
from ontrack.dataset.featurize import build_feature_matrix, load_feature_set
from ontrack.modeling.bundle import LoadedModel, ModelIntegrityError
from ontrack.scoring.alerts import absence_rise
from ontrack.scoring.champion import read_champion, registered_name
from ontrack.scoring.cohort import ScoringCohort, model_inputs
from ontrack.scoring.reasons import explain
from ontrack.scoring.tiers import assign_tiers
from ontrack.validation.store import open_validated, provided


@dataclass(frozen=True)
class ModelScores:
    """The champion's risks and reasons for the scored rows."""

    risk: pd.Series
    reasons: pd.DataFrame  # reason_1..3 (wide)
    reason_rows: pd.DataFrame  # the long table of explain()
    contributions: pd.DataFrame  # TreeSHAP per feature plus ``base_value``, rows as ``risk``


@dataclass(frozen=True)
class ScoringPart:
    """One task's rows: whole schools of the cohort (``positions``: where its rows stand
    in the cohort), scored as of ``as_of`` with champion ``version`` ("": none)."""

    model: str
    as_of: date
    version: str
    cohort: pd.DataFrame
    positions: np.ndarray


@dataclass(frozen=True)
class ScoredPart:
    """What a part hands back: its feature matrix, model scores (None without a
    champion), state (the alerts' counts) and how long its steps took."""

    matrix: pd.DataFrame
    scores: ModelScores | None
    state: pd.DataFrame
    positions: np.ndarray
    timings: dict


def load_champion(config: Config, out_dir: Path, name: str) -> tuple[LoadedModel | None, dict | None]:
    """The verified champion and its version's tags, or (None, None) when there is no
    registry or no champion (scoring then ranks by the rule). A local default registry
    is read directly (:mod:`ontrack.scoring.champion`); any other through MLflow."""
    found = read_champion(config, out_dir, name)
    if not isinstance(found, str):
        return found
    from ontrack.modeling import tracking  # imports MLflow: only for a registry elsewhere

    try:
        client = tracking.connect(config, out_dir, create=False)
        return tracking.load_registered(client, name, tracking.CHAMPION)
    except tracking.RegistryError:
        return None, None


def school_sets(schools: pd.Series, count: int) -> list[set[str]]:
    """The schools in ``count`` sets of about as many rows each (largest school first
    into the set with fewest rows so far; ties to the earlier set)."""
    sets: list[set[str]] = [set() for _ in range(count)]
    totals = [0] * count
    for school, size in sorted(schools.astype(str).value_counts().items(), key=lambda kv: (-kv[1], kv[0])):
        lightest = min(range(count), key=totals.__getitem__)  # the first of the lightest
        sets[lightest].add(school)
        totals[lightest] += int(size)
    return sets


def part_count(schools: pd.Series, size: int) -> int:
    """How many sets of whole schools a task runner gets: about ``size`` rows each, and
    at least two when there are two schools (never more sets than schools)."""
    return min(schools.nunique(), max(2, -(-len(schools) // size)))


def scoring_parts(cohort: pd.DataFrame, config: Config, *, model: str, as_of: date,
                  version: str, many: bool) -> list[ScoringPart]:
    """The cohort in parts of whole schools: one part in this process (``many`` False);
    for a task runner about :func:`~ontrack.dataset.budget.part_rows` rows each, and at
    least two when there are two schools (each part scans the event tables once)."""
    schools = cohort["school_id"].astype(str)
    count = part_count(schools, part_rows(config)) if many else 1
    sets = school_sets(schools, count) if count > 1 else [set(schools)]
    parts = []
    for chosen in sets:
        positions = np.flatnonzero(schools.isin(chosen).to_numpy())
        if len(positions):
            parts.append(ScoringPart(model, as_of, version, cohort.iloc[positions], positions))
    return parts


def score_part(out_dir: Path, config: Config, part: ScoringPart, *, loaded: LoadedModel | None = None,
               con: duckdb.DuckDBPyConnection | None = None) -> ScoredPart:
    """One part's features, scores and state (``loaded``/``con``: the driver's own, in
    this process; a task loads the champion ``part.version`` and opens OUT itself)."""
    if loaded is None and part.version:
        loaded = _same_champion(config, Path(out_dir), part.model, part.version)
    own = con is None
    con = open_validated(out_dir, config) if own else con
    timings: dict[str, float] = {}
    try:
        spec = config.model_spec(part.model)
        config_m = with_model_checkpoints(config, part.model)  # the model's own checkpoints, if declared
        features = load_feature_set(spec.feature_set).for_config(config_m).for_grades([spec.grade])
        matrix = build_feature_matrix(con, part.cohort, features, config_m, provided=provided(out_dir))
        # what the scores and the state read: the rows, their matrix and the date
        current = ScoringCohort(part.cohort, matrix, as_of=part.as_of, expires=part.as_of, data_end=None)
        rules_of = part.cohort["district_id"].map(config.rules_for)
        scores = model_scores(loaded, current, rules_of, part.model, config, timings) if loaded else None
        state = part_state(con, current, config)
    finally:
        if own:
            con.close()
    return ScoredPart(matrix, scores, state, part.positions, timings)


def _same_champion(config: Config, out_dir: Path, model: str, version: str) -> LoadedModel:
    loaded, tags = load_champion(config, out_dir, registered_name(config, model))
    found = tags["version"] if tags else "none"
    if loaded is None or str(found) != str(version):
        raise ModelIntegrityError(
            f"the champion of {model} must stay version {version} for the whole scoring run. "
            f"Got version {found} instead (promoted during the run): score again.")
    return loaded


def combined(parts: list[ScoredPart], count: int) -> tuple[pd.DataFrame, ModelScores | None, pd.DataFrame, dict]:
    """The partials back in the cohort's order (``count`` rows): matrix, model scores,
    state, and each step's time summed over the parts."""
    if len(parts) == 1 and np.array_equal(parts[0].positions, np.arange(count)):
        only = parts[0]
        return only.matrix, only.scores, only.state, dict(only.timings)
    order = np.argsort(np.concatenate([p.positions for p in parts]), kind="stable")
    matrix = pd.concat([p.matrix for p in parts]).iloc[order]
    state = pd.concat([p.state for p in parts]).iloc[order]
    timings: dict[str, float] = {}
    for p in parts:
        for step, seconds in p.timings.items():
            timings[step] = timings.get(step, 0.0) + seconds
    if parts[0].scores is None:
        return matrix, None, state, timings
    scores = ModelScores(
        risk=pd.concat([p.scores.risk for p in parts]).iloc[order],
        reasons=pd.concat([p.scores.reasons for p in parts]).iloc[order],
        reason_rows=_long_rows([(p.scores.reason_rows, p.positions) for p in parts]),
        contributions=pd.concat([p.scores.contributions for p in parts]).iloc[order],
    )
    return matrix, scores, state, timings


def _long_rows(tables: list[tuple[pd.DataFrame, np.ndarray]]) -> pd.DataFrame:
    """The long reasons tables with ``row`` as the cohort position, in the cohort's
    row order (each row's lines keep their own order)."""
    moved = [table.assign(row=positions[table["row"].astype(int).to_numpy()]) for table, positions in tables]
    long = pd.concat(moved, ignore_index=True)
    return long.sort_values("row", kind="stable").reset_index(drop=True)


def model_scores(loaded: LoadedModel, current: ScoringCohort, rules_of: pd.Series, model: str,
                 config: Config, timings: dict) -> ModelScores:
    """Calibrated risk, TreeSHAP contributions and reasons of ``current``'s rows."""
    X = model_inputs(current.matrix, loaded.contract)
    started = time.perf_counter()
    risk = pd.Series(loaded.predict_risk(X), index=X.index, name="risk")
    timings["predict_s"] = time.perf_counter() - started
    started = time.perf_counter()
    contributions = loaded.contributions(X)
    timings["contributions_s"] = time.perf_counter() - started
    started = time.perf_counter()
    tiers = assign_tiers(risk, current.cohort["school_id"], config.scoring)
    wide, long = explain(contributions, X, loaded.contract, rules_of, config.model_spec(model).baseline,
                         config.scoring.reasons_per_student,
                         must_explain=(tiers == config.scoring.tier_names[0]).to_numpy())
    timings["reasons_s"] = time.perf_counter() - started
    return ModelScores(risk, wide, long, contributions)


def part_state(con: duckdb.DuckDBPyConnection, current: ScoringCohort, config: Config) -> pd.DataFrame:
    """Per student: the counts the alerts compare between runs, and the absence alert.

    Each student's school year and its first day come from their own row and district
    (``config.rules_for``): one data directory may hold districts with different calendars.
    """
    cohort = current.cohort
    students = pd.Series(cohort.index.get_level_values("student_id").astype(str))
    years = cohort["school_year"].astype(int).to_numpy()
    district_years = list(zip(cohort["district_id"].astype(str), years.tolist(), strict=True))
    start_of = {(d, y): config.rules_for(d).year_start(y) for d, y in set(district_years)}
    starts = pd.Series([start_of[pair] for pair in district_years], index=students.index)
    rose = absence_rise(con, students, current.as_of, starts, config.scoring)
    matrix = current.matrix
    state = pd.DataFrame(
        {
            "student_id": students.to_numpy(),
            "school_year": years,
            "failing_core": _column(matrix, "failed_core_courses_ytd"),
            "suspensions": _column(matrix, "suspensions_ytd"),
            "absence_alert": rose["absence_alert"].to_numpy(),
            "recent_absence_rate": rose["recent_absence_rate"].to_numpy(),
        }
    )
    return state.set_index("student_id")


def _column(matrix: pd.DataFrame, name: str) -> np.ndarray:
    return matrix[name].to_numpy() if name in matrix.columns else np.full(len(matrix), np.nan)
