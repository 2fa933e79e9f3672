"""Score the current cohort: the roster frame of ``ontrack score``, not its files.

Order of work: load and verify the champion (``ontrack.scoring.champion``), build the
cohort and its features at the as-of date, check the input contract, predict calibrated
risk, compute exact TreeSHAP contributions and reasons, decide who ranks (the gate, its
fallback to the rule), tiers, the change since the previous run and the alerts. It
writes only this run's rows of the risk history (``OUT/history/scores.parquet``,
:mod:`ontrack.scoring.history`: no names) and returns the scored frame and its
counts-only summary; ``ontrack.reports.publish`` renders them into the roster set
(``summary_<model>.json`` included), follow-up and profile files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.modeling.bundle import LoadedModel
from ontrack.scoring.alerts import alert_texts
from ontrack.scoring.champion import registered_name
from ontrack.scoring.cohort import ScoringCohort, current_cohort, rule_columns
from ontrack.modeling.gate import Ranking, ranking_for
from ontrack.scoring.drift import expiry_problem, latest_check_gate, stability_problem
from ontrack.scoring.history import HISTORY_COLUMNS, append_run, previous_run, read_history
from ontrack.scoring.parts import ModelScores, combined, load_champion, score_part, scoring_parts
from ontrack.scoring.rule_ranking import rule_reasons, rule_tiers
from ontrack.scoring.tiers import assign_tiers, change_since, risk_change, school_rank, tier_level
from ontrack.validation.store import open_validated

@dataclass(frozen=True)
class ScoreResult:
    """What a scoring run wrote and measured, and what its rosters and profiles show."""

    folder: Path
    summary: dict
    roster: pd.DataFrame
    reasons: pd.DataFrame  # the long reasons table (REASON_COLUMNS); empty when the rule ranks
    run: dict  # model, version, as-of, expiry, who ranks, the banner, scored_at: what rosters print
    # Full TreeSHAP contributions (log-odds) of the model-ranked rows, indexed like
    # ``roster``, one column per feature; None when the rule ranks.
    contributions: pd.DataFrame | None = None
    base_value: float | None = None  # the model's expected log-odds (the waterfall's start)


def score_model(
    out_dir: Path, config: Config, *, model: str, as_of: date | None = None,
    progress: Callable[[str], None] | None = None, run_wave: Callable[[list], list] | None = None,
) -> ScoreResult:
    """The whole scoring run; see the module docstring. ``run_wave`` (the flows' task
    runner) computes the cohort's features, risks and reasons in parts of whole schools
    (:mod:`ontrack.scoring.parts`); without it this process computes them in one part."""
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    name = registered_name(config, model)
    loaded, tags = load_champion(config, out_dir, name)
    if tags is not None:
        say(f"champion {name} version {tags['version']}")
    con = open_validated(out_dir, config)
    try:
        current = current_cohort(con, config, model=model, as_of=as_of)
        say(f"{len(current.cohort):,} students in {model} on {current.as_of}")
        parts = scoring_parts(current.cohort, config, model=model, as_of=current.as_of,
                              version=str(tags["version"]) if loaded and tags else "", many=run_wave is not None)
        partials = run_wave(parts) if run_wave is not None else \
            [score_part(out_dir, config, part, loaded=loaded, con=con) for part in parts]
    finally:
        con.close()
    matrix, scored, state, timings = combined(partials, len(current.cohort))
    current = replace(current, matrix=matrix)
    rules_of = current.cohort["district_id"].map(config.rules_for)
    psi, drift = float("nan"), None
    if scored is not None:
        psi, drift = stability_problem(loaded.contract, scored.risk.to_numpy(), config.scoring.psi_threshold,
                                       checkpoint=current.as_of.strftime("%m-%d"))
    ranking = _ranking(tags, loaded, drift, current, out_dir / "models" / model, config)
    if ranking.ranked_by == "rule":
        say(f"ranked by the rule: {ranking.reason}")
    version = tags["version"] if tags else ""
    roster, reasons = _roster_frame(current, scored, ranking, rules_of, model, version, config)
    roster["rank"] = school_rank(roster["_order"], roster["school_id"]).to_numpy()
    roster = roster.drop(columns="_order")
    scored_at = datetime.now(UTC)
    as_of_text = current.as_of.isoformat()
    previous = previous_run(read_history(out_dir, model), model, as_of_text, version)
    roster = _with_changes(roster, state, previous, config)
    folder = out_dir / "rosters"  # written by ontrack.reports.publish, as one set
    run = {"model": model, "version": version or "none", "as_of": as_of_text,
           "expires": current.expires.isoformat(), "ranked_by": ranking.ranked_by,
           "banner": _banner(ranking), "scored_at": scored_at.isoformat(), "history_version": version}
    started = time.perf_counter()
    append_run(out_dir, _history_rows(roster, state, config, scored_at))
    timings["history_s"] = time.perf_counter() - started
    summary = _summary(roster, model, name, version, current, ranking, psi, timings, config)
    contributions, base = _contributions(scored, roster, ranking)
    return ScoreResult(folder, summary, roster, reasons, run, contributions, base)


REASON_COLUMNS: tuple[str, ...] = (
    "student_id", "model", "model_version", "as_of_date", "rank", "feature", "value",
    "contribution", "text", "kind",
)


def _ranking(tags: dict | None, loaded: LoadedModel | None, drift: str | None, current: ScoringCohort,
             check_dir: Path, config: Config) -> Ranking:
    """Who ranks: ``ranking_for`` (the gate's one decision) given the champion's
    latest check, age and today's score stability (``drift``: the sentence, if any)."""
    if tags is None or loaded is None:
        return ranking_for(None)
    expired = expiry_problem(tags, loaded.contract, current.as_of, config.scoring.model_max_age_years)
    return ranking_for(tags, check_gate=latest_check_gate(check_dir, tags["version"]),
                       expired=expired, drift=drift)


def _banner(ranking: Ranking) -> str | None:
    """The sentence at the top of every roster: why the rule ranks, or the forced note."""
    if ranking.ranked_by == "rule":
        return (
            f"This list is ranked by the rule, not the model, because {ranking.reason}. "
            "No risk is shown; tiers come from the rule's criteria."
        )
    return ranking.forced


def _roster_frame(current: ScoringCohort, scored: ModelScores | None, ranking: Ranking,
                  rules_of: pd.Series, model: str, version: str,
                  config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The roster rows (``_order``: what ranks them) and this run's long reasons table."""
    cohort = current.cohort
    rule = config.model_spec(model).baseline
    rules = rule_columns(rule, current.matrix)
    by_model = ranking.ranked_by == "model" and scored is not None
    frame = pd.DataFrame(
        {
            "student_id": cohort.index.get_level_values("student_id").astype(str),
            "school_id": cohort["school_id"].astype(str).to_numpy(),
            "grade_level": cohort["grade_level"].astype(int).to_numpy(),
            "district_id": cohort["district_id"].astype(str).to_numpy(),
            "school_year": cohort["school_year"].astype(int).to_numpy(),
            "model": model,
            "ranked_by": ranking.ranked_by,
            "risk": scored.risk.to_numpy() if by_model else np.nan,
        }
    )
    if by_model:
        frame["risk_tier"] = assign_tiers(frame["risk"], frame["school_id"], config.scoring).to_numpy()
        frame["_order"] = frame["risk"].to_numpy()
        reasons = scored.reasons
    else:
        tiers = rule_tiers(rule, current.matrix, config.scoring)
        frame["risk_tier"] = tiers["risk_tier"].to_numpy()
        frame["_order"] = tiers["rule_order"].to_numpy()
        reasons = rule_reasons(rule, current.matrix, rules_of, config.scoring.reasons_per_student)
    for column in rules.columns:
        frame[column] = rules[column].to_numpy()
    for column in reasons.columns:
        frame[column] = reasons[column].to_numpy()
    frame["model_version"] = version
    frame["as_of_date"] = current.as_of.isoformat()
    expires = {d: day.isoformat() for d, day in current.expires_by_district.items()}
    frame["expires"] = frame["district_id"].map(expires).fillna(current.expires.isoformat())
    frame["config_hash"] = config.config_hash
    long = scored.reason_rows if by_model else pd.DataFrame(columns=list(REASON_COLUMNS[4:]) + ["row"])
    positions = long["row"].astype(int).to_numpy()
    long = long.assign(student_id=frame["student_id"].to_numpy()[positions], model=model,
                       model_version=version, as_of_date=current.as_of.isoformat())
    return frame, long[list(REASON_COLUMNS)]


def _with_changes(roster: pd.DataFrame, state: pd.DataFrame, previous: pd.DataFrame | None,
                  config: Config) -> pd.DataFrame:
    """``change`` (tier, and risk in points when both runs were ranked by the model; "first
    run" without a previous run) and ``alerts``, both against the previous run's rows."""
    level = tier_level(roster["risk_tier"], config.scoring)
    if previous is None:
        roster["change"] = "first run"
        roster["alerts"] = alert_texts(state, None).to_numpy()
        return roster
    before = previous.drop_duplicates("student_id", keep="last").set_index("student_id")
    then = before.reindex(roster["student_id"])
    tiers = change_since(pd.Series(then["tier_level"].to_numpy(), index=roster.index), level, config.scoring)
    by_model = (then["ranked_by"].to_numpy() == "model") & (roster["ranked_by"].to_numpy() == "model")
    old_risk = pd.Series(np.where(by_model, then["risk"].to_numpy(dtype="float64"), np.nan), index=roster.index)
    points = risk_change(old_risk, roster["risk"])
    roster["change"] = [f"{t}; {p}" if p else t for t, p in zip(tiers, points, strict=True)]
    roster["alerts"] = alert_texts(state, before).to_numpy()
    return roster


def _history_rows(roster: pd.DataFrame, state: pd.DataFrame, config: Config, scored_at: datetime) -> pd.DataFrame:
    """This run's rows of ``OUT/history/scores.parquet``: scores, tiers and the counts the
    alerts and the follow-up list compare between runs (IDs only, no names)."""
    rows = roster[["student_id", "school_id", "model", "model_version", "as_of_date", "ranked_by", "risk",
                   "risk_tier", "rule_status", "school_year"]].copy()
    rows["scored_at"] = scored_at
    rows["tier_level"] = tier_level(rows["risk_tier"], config.scoring).to_numpy()
    counts = state.reindex(rows["student_id"])
    for column in ("failing_core", "suspensions", "absence_alert", "recent_absence_rate"):
        rows[column] = counts[column].to_numpy()
    return rows[list(HISTORY_COLUMNS)]


def _contributions(scored: ModelScores | None, roster: pd.DataFrame,
                   ranking: Ranking) -> tuple[pd.DataFrame | None, float | None]:
    """The model's per-feature contributions indexed like the roster, and its base value."""
    if scored is None or ranking.ranked_by != "model":
        return None, None
    values = scored.contributions.reset_index(drop=True)
    base = float(values["base_value"].iloc[0]) if len(values) else None
    values = values.drop(columns="base_value")
    values.index = roster.index
    return values, base


def _summary(roster: pd.DataFrame, model: str, name: str, version: str, current: ScoringCohort,
             ranking: Ranking, psi: float, timings: dict, config: Config) -> dict:
    n = len(roster)
    total = sum(timings.values())
    return {
        "model": model,
        "registered_model": name,
        "model_version": version or None,
        "as_of_date": current.as_of.isoformat(),
        "expires": current.expires.isoformat(),
        "config_hash": config.config_hash,
        "students": n,
        "schools": int(roster["school_id"].nunique()),
        "ranked_by": ranking.ranked_by,
        "ranked_by_reason": ranking.reason,
        "forced_note": ranking.forced,
        "tiers": {t: int((roster["risk_tier"] == t).sum()) for t in config.scoring.tier_names},
        "alerts": int((roster["alerts"] != "").sum()),
        "new_to_the_list": int(roster["change"].str.startswith("new to the list").sum()),
        "psi": None if not np.isfinite(psi) else round(psi, 4),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        # Predicting, TreeSHAP, reasons and the history only: the end-to-end rate (from
        # process start) is added by ``ontrack score`` as ``end_to_end``.
        "scoring_core_students_per_second": round(n / total, 1) if total else None,
    }
