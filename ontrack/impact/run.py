"""``run_impact``: did the support help? Writes ``OUT/impact/impact.json`` (CONTRACT §4).

Per intervention type: a weighted comparison of served and comparable not-served
students (``matching``), and for each ``impact.cutoffs`` entry a regression-discontinuity
estimate at the cutoff (``discontinuity``). Every effect reads *served - not served* in
on-track rate at the end of 9th grade, so help that helps shows > 0. A side with fewer
than ``reporting.min_group_size`` students is withheld (no rate, no effect; its size
reads "fewer than N"), and when nothing can be estimated the file says why in words.
No student ID or name is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.dataset.budget import BoundedFrames, shelf_bytes
from ontrack.impact.data import (
    VALUE_COLUMNS,
    build_study,
    checkpoints_before,
    history_risk,
    values_as_of,
)
from ontrack.impact.discontinuity import estimate, preload
from ontrack.impact.matching import OUTCOME, compare
from ontrack.paths import write_atomically
from ontrack.support_settings import ImpactCutoff
from ontrack.validation.store import open_validated

IMPACT_FILE = Path("impact") / "impact.json"
ASSOCIATION = "association, not proof"
NO_TABLE = "no interventions table: the district did not provide one"
TOO_FEW_SERVED = "too few students served"
TOO_FEW_COMPARISON = "too few comparable students not served"
NO_OUTCOMES = "no outcomes yet: no served student has finished 9th grade in the data"
NOT_SERVED_TYPE = "no students served with this intervention type"
NO_HISTORY = "not enough history: no risk scores from this model on or before the cutoff date"
TOO_FEW_NEAR = "too few students near the cutoff"
MATCH_METHOD = ("inverse-probability weighting (effect on the served) within grade, school "
                "year and rule status, on the criteria's values before the start and the "
                "risk score when known")
# Past this largest standardized difference before the start, the sides are not alike.
BALANCE_LIMIT = 0.25
UNBALANCED = (
    "no effect is given: even after weighting, the served students differed from the "
    "not-served ones before the start (largest standardized difference {diff} > {limit}), "
    "so these data hold no fair comparison; a support given by a cutoff declared in "
    "impact.cutoffs is estimated at the cutoff instead"
)
Say = Callable[[str], None]


def size(n: int, floor: int) -> int | str:
    """A count as published: the number, or "fewer than N" below the minimum group size."""
    return int(n) if n >= floor else f"fewer than {floor}"


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def matched_entry(rows: pd.DataFrame, config: Config) -> dict[str, Any]:
    """The weighted comparison of one type, suppressed or explained when it cannot be made."""
    floor = config.reporting.min_group_size
    known = rows.dropna(subset=[OUTCOME])
    served, others = known["served"].sum(), (~known["served"]).sum()
    waiting = int(rows["served"].sum() - served)
    entry: dict[str, Any] = {
        "label": ASSOCIATION, "method": MATCH_METHOD,
        "grades": sorted({int(g) for g in rows.loc[rows["served"], "grade_level"]}),
        "school_years": sorted({int(y) for y in rows.loc[rows["served"], "school_year"]}),
        "n_served": size(served, floor), "n_comparison": size(others, floor),
        "n_served_outcome_not_yet_known": size(waiting, floor) if waiting else 0,
        "served_rate": None, "comparison_rate": None, "effect": None,
        "ci_low": None, "ci_high": None, "ci_method": None, "effective_n_comparison": None,
        "balance_max_std_diff": None, "balanced": None, "risk_used": False,
        "estimable": False, "why": None,
    }
    if not rows["served"].any():
        entry["why"] = NOT_SERVED_TYPE
    elif served == 0:
        entry["why"] = NO_OUTCOMES
    elif served < floor:
        entry["why"] = TOO_FEW_SERVED
        entry["comparison_rate"] = _r(known.loc[~known["served"], OUTCOME].mean()) if others >= floor else None
    elif others < floor:
        entry["why"] = TOO_FEW_COMPARISON
        entry["served_rate"] = _r(known.loc[known["served"], OUTCOME].mean())
    else:
        found = compare(known, confidence=config.impact.confidence)
        entry.update(
            served_rate=_r(found.served_rate), comparison_rate=_r(found.comparison_rate),
            effect=_r(found.effect), ci_low=_r(found.ci[0]), ci_high=_r(found.ci[1]),
            ci_method="percentile bootstrap over students, resampled within each side",
            effective_n_comparison=round(found.effective_n_comparison, 1),
            balance_max_std_diff=found.max_abs_std_diff, estimable=True,
            balanced=bool(found.max_abs_std_diff <= BALANCE_LIMIT),
            risk_used=bool(known["risk"].notna().mean() >= 0.5),
        )
        if not entry["balanced"]:  # no fair comparison: the rates stay, the "effect" goes
            entry.update(effect=None, ci_low=None, ci_high=None, estimable=False,
                         why=UNBALANCED.format(diff=found.max_abs_std_diff, limit=BALANCE_LIMIT))
    return entry


def running_variable(con: Any, config: Config, out_dir: Path, rows: pd.DataFrame,
                     cutoff: ImpactCutoff, cache: dict | BoundedFrames | None = None) -> pd.Series:
    """Each row's value of the cutoff's variable at the latest ``as_of`` on or before its start."""
    dates = checkpoints_before(config, rows, rows["start_date"], (cutoff.as_of,))
    if cutoff.variable.startswith("risk:"):
        return history_risk(out_dir, rows, dates, model=cutoff.variable.split(":", 1)[1])
    column = VALUE_COLUMNS[cutoff.variable.split(".", 1)[1]]
    return pd.to_numeric(values_as_of(con, config, rows, dates, cache)[column],
                         errors="coerce")


def discontinuity_rows(con: Any, config: Config, out_dir: Path, rows: pd.DataFrame,
                       cutoff: ImpactCutoff, cache: dict | BoundedFrames | None = None) -> pd.DataFrame:
    """``rows`` with ``x``: the running variable centred at the threshold (NaN: unknown)."""
    value = running_variable(con, config, out_dir, rows, cutoff, cache)
    return rows.assign(x=value - cutoff.threshold)


def cutoff_entry(con: Any, config: Config, out_dir: Path, rows: pd.DataFrame,
                 cutoff: ImpactCutoff, cache: dict | BoundedFrames | None = None) -> dict[str, Any]:
    """The regression-discontinuity estimate for one ``impact.cutoffs`` entry."""
    floor = config.reporting.min_group_size
    entry: dict[str, Any] = {
        **cutoff.model_dump(mode="json"), "label": "regression discontinuity at the cutoff",
        "estimable": False, "why": None, "design": None, "bandwidth": None,
        "n_served_side": None, "n_other_side": None, "effect": None, "ci_low": None,
        "ci_high": None, "p_value": None, "density_p_value": None,
    }
    if rows.empty or not rows["served"].any():
        entry["why"] = NOT_SERVED_TYPE
        return entry
    usable = discontinuity_rows(con, config, out_dir, rows, cutoff, cache)
    if cutoff.variable.startswith("risk:") and usable["x"].isna().all():
        entry["why"] = NO_HISTORY
        return entry
    usable = usable.dropna(subset=[OUTCOME, "x"])
    if not usable["served"].any():
        entry["why"] = NO_OUTCOMES
        return entry
    try:
        found = estimate(usable[OUTCOME], usable["x"], usable["served"],
                         treated=cutoff.treated, confidence=config.impact.confidence)
    except Exception:  # noqa: BLE001 - rdrobust cannot fit: too few distinct values nearby
        entry["why"] = TOO_FEW_NEAR
        return entry
    entry.update(design=found.design, bandwidth=_r(found.bandwidth, 4),
                 n_served_side=size(found.n_served_side, floor),
                 n_other_side=size(found.n_other_side, floor),
                 density_p_value=_r(found.density_p_value))
    if min(found.n_served_side, found.n_other_side) < floor:
        entry["why"] = TOO_FEW_NEAR
        return entry
    entry.update(effect=_r(found.effect), ci_low=_r(found.ci[0]), ci_high=_r(found.ci[1]),
                 p_value=_r(found.p_value), estimable=True,
                 ci_method="robust bias-corrected (rdrobust)")
    return entry


def impact_summary(out_dir: Path | str, config: Config, progress: Say | None = None) -> dict[str, Any]:
    """Everything ``impact.json`` holds, computed from the validated tables under ``out_dir``."""
    say, out_dir = progress or (lambda _msg: None), Path(out_dir)
    floor = config.reporting.min_group_size
    result: dict[str, Any] = {
        "outcome": OUTCOME, "effect_reads": "on-track rate served - not served (> 0: helped)",
        "confidence": config.impact.confidence, "min_group_size": floor,
        "config_hash": config.config_hash, "created_at": datetime.now(UTC).isoformat(
            timespec="seconds"), "status": "ok", "why": None, "interventions": [],
    }
    con = open_validated(out_dir, config)
    try:
        say("reading interventions, pre-start criteria, risk and outcomes")
        # Values as of each date, kept for the cutoffs (within the limit) when there are any.
        cache = BoundedFrames(shelf_bytes(config)) if config.impact.cutoffs else None
        if config.impact.cutoffs:
            preload()  # the cutoffs' estimates need rdrobust: imported while the study builds
        study = build_study(con, config, out_dir, cache=cache)
        if study is None:
            result.update(status="not_estimable", why=NO_TABLE)
            return result
        types = sorted(set(study["intervention_type"]) | {c.intervention_type
                                                           for c in config.impact.cutoffs})
        for kind in types:
            rows = study[study["intervention_type"] == kind].reset_index(drop=True)
            say(f"estimating the impact of {kind}")
            cutoffs = [c for c in config.impact.cutoffs if c.intervention_type == kind]
            result["interventions"].append({
                "intervention_type": kind,
                "matched": matched_entry(rows, config),
                "discontinuity": [cutoff_entry(con, config, out_dir, rows, c, cache)
                                  for c in cutoffs],
            })
    finally:
        con.close()
    if not any(i["matched"].get("estimable") or any(d["estimable"] for d in i["discontinuity"])
               for i in result["interventions"]):
        result.update(status="not_estimable", why=_why_nothing(result["interventions"]))
    return result


def _why_nothing(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "the interventions table holds no supports"
    reasons = sorted({e["matched"]["why"] for e in entries if e["matched"].get("why")})
    return "; ".join(reasons) or TOO_FEW_SERVED


def write_json(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` as JSON atomically (a temp file in the same folder, then replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def run_impact(out_dir: Path | str, config: Config, progress: Say | None = None) -> dict[str, Any]:
    """Estimate and write ``OUT/impact/impact.json``; return what was written."""
    payload = impact_summary(out_dir, config, progress)
    write_json(payload, Path(out_dir) / IMPACT_FILE)
    return payload
