"""The follow-up list: who the success team should look at this week (CONTRACT §4).

Computed from the risk history (:mod:`ontrack.scoring.history`) and the district's
interventions, for one run of one model, in this order:

- ``flagged, no support``: in the first tier (most support) now, and no intervention
  started since the flag (from the flag date up to the as-of date) nor active on the
  as-of date. The flag date is the first as-of date of the student's current unbroken
  stretch of runs in the first tier of that model;
- ``newly flagged``: in the first tier now, not at the previous run (needs one);
- ``risk up``: calibrated risk rose by at least ``followup.risk_rise`` since the previous
  run, both runs ranked by the model;
- ``absence spike``: the absence alert (:mod:`ontrack.scoring.alerts`) holds on the
  as-of date.

Each item has ``since`` (an ISO date) and a ``detail`` in plain words. IDs only: names
are added by whoever writes the list for staff.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ontrack.scoring.alerts import RECENT_DAYS
from ontrack.scoring.history import previous_run, run_rows, runs_of

ITEMS: tuple[str, ...] = ("flagged, no support", "newly flagged", "risk up", "absence spike")
FOLLOWUP_COLUMNS: tuple[str, ...] = ("student_id", "school_id", "model", "item", "since", "detail")
SUPPORT_COLUMNS: tuple[str, ...] = ("student_id", "intervention_type", "start_date", "end_date")


def read_interventions(out_dir: Path) -> pd.DataFrame | None:
    """The validated interventions (student_id, intervention_type, start_date, end_date as
    dates), or None when the district provided none."""
    path = Path(out_dir) / "validated" / "interventions.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if "end_date" not in frame.columns:
        frame["end_date"] = pd.NaT
    out = pd.DataFrame({
        "student_id": frame["student_id"].astype(str),
        "intervention_type": frame["intervention_type"].fillna("").astype(str),
        "start_date": pd.to_datetime(frame["start_date"]).dt.normalize(),
        "end_date": pd.to_datetime(frame["end_date"]).dt.normalize(),
    })
    return out[out["start_date"].notna()].reset_index(drop=True)


def active_on(interventions: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """The interventions active on ``as_of``: started on or before it, not ended before it."""
    day = pd.Timestamp(as_of).normalize()
    keep = (interventions["start_date"] <= day) & (interventions["end_date"].isna() | (interventions["end_date"] >= day))
    return interventions[keep]


def current_support(interventions: pd.DataFrame | None, student_ids: pd.Series, as_of: pd.Series) -> pd.Series:
    """Per row, the supports active on that row's as-of date: "tutoring since
    2026-01-12; mentoring since 2025-10-01" (latest start first), "" when none.

    One merge of rows and interventions, one filter and one group-by: no loop over
    students (the district's rosters hold tens of thousands of them)."""
    empty = pd.Series("", index=student_ids.index, dtype=object)
    if interventions is None or interventions.empty:
        return empty
    days = pd.to_datetime(pd.Series(as_of, index=student_ids.index).replace("", None), errors="coerce")
    rows = pd.DataFrame({"_row": range(len(student_ids)), "student_id": student_ids.astype(str).to_numpy(),
                         "_day": days.dt.normalize().to_numpy()})
    pairs = rows[rows["_day"].notna()].merge(interventions, on="student_id", how="inner")
    live = (pairs["start_date"] <= pairs["_day"]) & (pairs["end_date"].isna() | (pairs["end_date"] >= pairs["_day"]))
    pairs = pairs[live].sort_values(["_row", "start_date", "intervention_type"], ascending=[True, False, True],
                                    kind="stable")
    if pairs.empty:
        return empty
    pairs["_text"] = pairs["intervention_type"] + " since " + pairs["start_date"].dt.strftime("%Y-%m-%d")
    texts = pairs.groupby("_row", sort=False)["_text"].agg("; ".join)
    out = pd.Series([""] * len(student_ids), dtype=object)
    out.iloc[texts.index.to_numpy()] = texts.to_numpy()
    out.index = student_ids.index
    return out


def flag_dates(history: pd.DataFrame, model: str, as_of: str, version: str) -> dict[str, str]:
    """For each student in the first tier at this run: the as-of date their current
    unbroken stretch in the first tier began (runs of ``model`` up to this one, in
    (as_of_date, scored_at) order)."""
    runs = runs_of(history, model)
    runs = runs[runs["as_of_date"] <= as_of]
    this = (runs["as_of_date"] == as_of) & (runs["model_version"] == version)
    order = pd.concat([runs[~this], runs[this]])  # this run is the last one
    mine = history[history["model"] == model]
    first_tier = {(v, d): set(mine.loc[(mine["model_version"] == v) & (mine["as_of_date"] == d)
                                       & (mine["tier_level"] == 0), "student_id"])
                  for v, d in zip(order["model_version"], order["as_of_date"], strict=True)}
    keys = list(zip(order["model_version"], order["as_of_date"], strict=True))
    if not keys or keys[-1] != (version, as_of):
        return {}
    dates = {}
    for sid in first_tier[keys[-1]]:
        start = as_of
        for key in reversed(keys[:-1]):
            if sid not in first_tier[key]:
                break
            start = key[1]
        dates[sid] = start
    return dates


def followup_items(history: pd.DataFrame, model: str, as_of: str, version: str,
                   interventions: pd.DataFrame | None, risk_rise: float) -> pd.DataFrame:
    """The follow-up items of one run (FOLLOWUP_COLUMNS), in ITEMS order, then student."""
    now = run_rows(history, model, as_of, version).drop_duplicates("student_id", keep="last")
    previous = previous_run(history, model, as_of, version)
    before = None if previous is None else previous.drop_duplicates("student_id", keep="last").set_index("student_id")
    items: list[tuple[str, str, str, str, str]] = []
    flagged = now[now["tier_level"] == 0]
    started = flag_dates(history, model, as_of, version)
    flag_since = {sid: started.get(sid, as_of) for sid in flagged["student_id"]}
    supported = _supported(interventions, flag_since, as_of)
    for sid, school in zip(flagged["student_id"], flagged["school_id"], strict=True):
        if sid not in supported:
            since = flag_since[sid]
            items.append((sid, school, ITEMS[0], since, f"no support recorded since {since}"))
    if before is not None:
        then = before.reindex(now["student_id"])
        tier_then = dict(zip(now["student_id"], then["risk_tier"].tolist(), strict=True))
        level_then = dict(zip(now["student_id"], then["tier_level"].tolist(), strict=True))
        prev_as_of = str(previous["as_of_date"].iloc[0])
        for row in flagged.itertuples(index=False):
            if level_then[row.student_id] != 0:
                was = tier_then[row.student_id]
                detail = f"was {was} on {prev_as_of}" if isinstance(was, str) and was else f"not scored on {prev_as_of}"
                items.append((row.student_id, row.school_id, ITEMS[1], as_of, f"now {row.risk_tier}; {detail}"))
        risk_then = then["risk"].to_numpy(dtype="float64")
        ranked_then = then["ranked_by"].to_numpy()
        for row, old, by in zip(now.itertuples(index=False), risk_then, ranked_then, strict=True):
            if by == "model" and row.ranked_by == "model" and row.risk - old >= risk_rise - 1e-9:
                items.append((row.student_id, row.school_id, ITEMS[2], prev_as_of, f"risk {old:.2f} → {row.risk:.2f}"))
    for row in now[now["absence_alert"].astype(bool)].itertuples(index=False):
        items.append((row.student_id, row.school_id, ITEMS[3], as_of,
                      f"absent {row.recent_absence_rate:.0%} of the last {RECENT_DAYS} school days"))
    frame = pd.DataFrame(items, columns=["student_id", "school_id", "item", "since", "detail"])
    frame["model"] = model
    frame["_order"] = frame["item"].map({item: i for i, item in enumerate(ITEMS)})
    frame = frame.sort_values(["_order", "since", "student_id"], kind="stable")
    return frame[list(FOLLOWUP_COLUMNS)].reset_index(drop=True)


def _supported(interventions: pd.DataFrame | None, since: dict[str, str], as_of: str) -> set[str]:
    """The students of ``since`` (student -> flag date) with an intervention started
    between their flag and the as-of date, or active on the as-of date: one merge of
    students and interventions, no filter per student."""
    if interventions is None or interventions.empty or not since:
        return set()
    flags = pd.DataFrame({"student_id": list(since), "_since": pd.to_datetime(list(since.values()))})
    pairs = flags.merge(interventions, on="student_id", how="inner")
    started = (pairs["start_date"] >= pairs["_since"]) & (pairs["start_date"] <= pd.Timestamp(as_of))
    return set(pairs.loc[started, "student_id"]) | set(active_on(pairs, as_of)["student_id"])
