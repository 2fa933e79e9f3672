"""Write the rosters of a scoring run: one per school, one per counselor.

A school's file holds every model scored there (a 6-12 school has 8th and 9th
graders): each model's latest roster is kept in ``OUT/rosters/_history/
<model>_roster.parquet`` and a school's files are rebuilt from all of them, so scoring
grade 9 never erases the grade-8 rows of the same school. Counselor files
(``OUT/rosters/counselors/<staff_id>.*``) hold only the students of that counselor's
caseload this school year. File names come from :func:`ontrack.paths.file_stem`.

Names (``student_name``, "Last, First") and the support active on the as-of date
(``current_support``) are joined here, after the per-model rosters are saved, so they
reach only the roster files and the follow-up lists (``OUT/followup/<school>.csv``,
:mod:`ontrack.scoring.followup`), never the history or the summary.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from ontrack.reports.profile_parts import (
    ProfilePart,
    group_size,
    write_all_profiles,
    write_profile_part,
)
from ontrack.reports.roster_html import render_index, tier_order
from ontrack.reports.roster_people import rostered_students, staff_of, student_names
from ontrack.reports.roster_values import (  # noqa: F401
    model_header,
    plain_text,
    roster_order,
    rule_lines,
    tiers_text,
)
from ontrack.reports.rosters import RosterMeta, write_table_csv
from ontrack.reports.workers import beside, in_process, publish_school, run_jobs

from ontrack.config import Config
from ontrack.modeling.baselines import roster_columns
from ontrack.paths import file_stem, staging_folder, swap_in, write_atomically
from ontrack.scoring.followup import current_support, followup_items, read_interventions
from ontrack.scoring.history import read_history
from ontrack.scoring.parts import ScoringPart, score_part
from ontrack.scoring.run import REASON_COLUMNS, ScoreResult, score_model

RUN_NOTE = (
    "Risk is the model's calibrated probability that the student will need support "
    "to be on track; it is a flashlight, not a hammer: a prompt to look closer and "
    "offer help, read beside the rule and the student's own record, never a label."
)
FIRST = ["student_id", "student_name", "school_id", "school_name", "grade_level", "staff_id", "staff_name",
         "model", "ranked_by", "risk", "risk_tier", "rank", "change", "current_support", "alerts", "reason_1",
         "reason_2", "reason_3", "rule_status"]
LAST = ["model_version", "as_of_date", "expires", "config_hash"]
# From this many students on, a forked process writes the roster set while the profiles are written.
ROSTERS_BESIDE_FROM = 1000


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    rule = [c for c in roster_columns() if c in frame.columns]
    rest = [c for c in frame.columns if c not in FIRST and c not in LAST and c not in rule]
    return frame[[c for c in FIRST if c in frame.columns] + rule + rest + [c for c in LAST if c in frame.columns]]


def score_and_publish(out_dir: Path, config: Config, *, model: str, as_of: date | None = None,
                      progress: Callable[[str], None] | None = None,
                      run_wave: Callable[[list[tuple]], list] | None = None) -> ScoreResult:
    """The score stage: :func:`ontrack.scoring.score_model` computes the roster (and its
    history and summary), then this module renders it: every school and counselor file
    and ``reasons.csv``, and every student's profile page. The render time joins the
    summary's timings. ``run_wave`` (the flows: Dask tasks) runs the parts: first the
    scoring of whole schools (:class:`~ontrack.scoring.parts.ScoringPart`), then the
    profile pages (:class:`ProfilePart`), then the :func:`publish_school` jobs; without
    it, this process and forked ones do that work (:func:`run_jobs`)."""
    out_dir = Path(out_dir)
    result = score_model(out_dir, config, model=model, as_of=as_of, progress=progress, run_wave=run_wave)
    started = time.perf_counter()
    run = {**result.run, "ranked_by_reason": result.summary.get("ranked_by_reason")}
    # The roster set (every school and counselor file, the index, reasons.csv, each
    # model's saved roster and summary) and the follow-up lists are written into staging
    # folders and swapped in at the end: a killed run leaves the previous set whole.
    staged = {final: staging_folder(final) for final in (result.folder, out_dir / "followup")}
    try:
        rosters = staged[result.folder]
        (rosters / "_history" / f"{model}.parquet").unlink(missing_ok=True)  # an older ontrack's state file

        def roster_set() -> None:
            publish_rosters(result.roster, run, rosters, out_dir, config,
                            followup_dir=staged[out_dir / "followup"], run_wave=run_wave or wave)
            publish_reasons(rosters / "reasons.csv", result.reasons, model)

        # Profiles and the staged roster set (which links to them) are both written before the
        # swap: in two processes when they fit the memory limit together (one profile group).
        together = run_wave is None and ROSTERS_BESIDE_FROM <= len(result.roster) and (
            len(result.roster) <= group_size(config) or result.roster["school_id"].nunique() < 2)
        wave = in_process if together else None  # the forked process writes its files itself
        with beside(roster_set, fork=together) as roster_files:
            write_all_profiles(out_dir, config, result, run_wave)
            roster_files()
        result.summary["timings_s"]["render_s"] = round(time.perf_counter() - started, 3)
        text = json.dumps(result.summary, indent=2)
        write_atomically(rosters / f"summary_{model}.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
        publish_pause()
        for final, folder in staged.items():
            swap_in(folder, final)
    finally:
        for folder in staged.values():
            shutil.rmtree(folder, ignore_errors=True)  # gone already when it was swapped in
    return result


def publish_part(out_dir: Path, config: Config, job: ScoringPart | ProfilePart | tuple) -> object:
    """One part of the score stage a task runner runs: a :class:`ScoringPart` (its
    students' features, risks and reasons), a :class:`ProfilePart` (its pages) or a
    :func:`publish_school` job (a school's or counselor's files)."""
    if isinstance(job, ScoringPart):
        return score_part(Path(out_dir), config, job)
    if isinstance(job, ProfilePart):
        return write_profile_part(Path(out_dir), config, job)
    return publish_school(*job)


def publish_pause() -> None:
    """Test hook: ``ONTRACK_TEST_PUBLISH_PAUSE=SECONDS`` waits before the swap (unset: nothing)."""
    if seconds := os.environ.get("ONTRACK_TEST_PUBLISH_PAUSE"):
        time.sleep(float(seconds))


def publish_rosters(roster: pd.DataFrame, run: dict, folder: Path, out_dir: Path, config: Config, *,
                    followup_dir: Path | None = None,
                    run_wave: Callable[[list[tuple]], list] | None = None) -> list[str]:
    """Save this model's roster, then rewrite every school and counselor file into
    ``folder`` and every school's follow-up list into ``followup_dir`` (default
    ``OUT/followup``). Returns the school IDs of this run's rows."""
    out_dir = Path(out_dir)
    followup_dir = Path(followup_dir) if followup_dir is not None else out_dir / "followup"
    schools = pd.read_parquet(out_dir / "validated" / "schools.parquet")
    names = dict(zip(schools["school_id"].astype(str), schools["school_name"].astype(str), strict=False))
    district_of = dict(zip(schools["school_id"].astype(str), schools["district_id"].astype(str), strict=False))
    staff = staff_of(out_dir, roster[["student_id", "school_year"]], rostered_students(roster, folder, run["model"]))
    combined, runs = _combined(roster, run, folder, staff, names)
    combined = _with_people(combined, out_dir)
    todo = _followup(combined, runs, out_dir, config)
    jobs, written = [], []
    with_names = "student_name" in combined.columns
    in_order = _in_order_of(combined, config)
    for school_id, rows in combined.groupby("school_id", sort=True):
        here = [r for r in runs if r["model"] in set(rows["model"])]
        title = f"{names.get(school_id, school_id)}: support roster"
        items = todo[todo["school_id"] == school_id]
        meta = _meta(rows, title, here, config, district_of, followup=items, profiles="../profiles/")
        stem = file_stem(school_id)
        jobs.append((in_order(rows, meta), meta, folder, stem,
                     _followup_frame(items, with_names), followup_dir / f"{stem}.csv"))
        written.append(school_id)
    for (staff_id, staff_name), ids in staff.groupby(["staff_id", "staff_name"]):
        rows = combined[combined["student_id"].isin(set(ids["student_id"]))]
        if not rows.empty:
            title = f"{staff_name or staff_id}: caseload support roster"
            items = todo[todo["student_id"].isin(set(rows["student_id"]))]
            meta = _meta(rows, title, runs, config, district_of, followup=items, profiles="../../profiles/")
            jobs.append((in_order(rows, meta), meta, folder / "counselors", file_stem(staff_id),
                         None, None))
    (run_wave or run_jobs)(jobs)  # each job's files land in ``folder``: swapped in by the caller
    write_index(folder, [job[:4] for job in jobs])
    scored_here = set(roster["school_id"])
    return [s for s in written if s in scored_here]


def _combined(roster: pd.DataFrame, run: dict, folder: Path, staff: pd.DataFrame,
              names: dict[str, str]) -> tuple[pd.DataFrame, list[dict]]:
    """Save this model's roster (no names) and return every model's latest rows, ordered,
    with each model's run facts."""
    ids: dict[str, list[str]] = {}
    people: dict[str, list[str]] = {}
    for student, staff_id, name in zip(staff["student_id"], staff["staff_id"], staff["staff_name"], strict=True):
        ids.setdefault(student, []).append(staff_id)
        if name:
            people.setdefault(student, []).append(name)
    frame = roster.drop(columns=["district_id", "school_year", "rule_score"], errors="ignore").copy()
    frame["school_name"] = frame["school_id"].map(names).fillna("")
    # Each student's counselors, IDs and names each sorted and joined by "; " ("" when none).
    for column, of in (("staff_id", ids), ("staff_name", people)):
        joined = {student: "; ".join(sorted(values)) for student, values in of.items()}
        frame[column] = [joined.get(student, "") for student in frame["student_id"]]
    history = folder / "_history"
    history.mkdir(parents=True, exist_ok=True)
    # Atomic writes: in a staging folder (ontrack.paths.staging_folder) these names are
    # hard links to the live set's files, which must never be written through.
    write_atomically(history / f"{run['model']}_roster.parquet", frame.to_parquet)
    text = json.dumps(run, indent=1)
    write_atomically(history / f"{run['model']}_run.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    frames, runs = [], []
    for path in sorted(history.glob("*_roster.parquet")):
        model = path.name.removesuffix("_roster.parquet")
        frames.append(pd.read_parquet(path))
        runs.append(json.loads((history / f"{model}_run.json").read_text(encoding="utf-8")))
    combined = _ordered(pd.concat(frames, ignore_index=True)).sort_values(["school_id", "model", "rank"])
    return combined, runs


def _with_people(combined: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """Add ``student_name`` ("Last, First"; only when ``students`` has names) and
    ``current_support`` (only when the district provided interventions)."""
    frame = combined.copy()
    names = student_names(out_dir, set(frame["student_id"].astype(str)))
    if names is not None:
        frame["student_name"] = frame["student_id"].astype(str).map(names).fillna("")
    interventions = read_interventions(out_dir)
    if interventions is not None:
        frame["current_support"] = current_support(interventions, frame["student_id"], frame["as_of_date"]).to_numpy()
    return _ordered(frame)


def _followup(combined: pd.DataFrame, runs: list[dict], out_dir: Path, config: Config) -> pd.DataFrame:
    """Every model's follow-up items of its latest run, for the students on the rosters,
    with their names when the rosters have them."""
    interventions = read_interventions(out_dir)
    frames = []
    for run in runs:
        history = read_history(out_dir, run["model"])
        version = run.get("history_version", "" if run["version"] == "none" else run["version"])
        items = followup_items(history, run["model"], run["as_of"], version, interventions,
                               config.followup.risk_rise)
        mine = combined[combined["model"] == run["model"]]
        frames.append(items[items["student_id"].isin(set(mine["student_id"]))])
    todo = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["student_id", "school_id"])
    if "student_name" in combined.columns:
        name_of = dict(zip(combined["student_id"], combined["student_name"], strict=False))
        todo["student_name"] = todo["student_id"].map(name_of).fillna("")
    return todo


def _followup_frame(items: pd.DataFrame, with_names: bool) -> pd.DataFrame:
    """The columns of ``OUT/followup/<school>.csv`` (headers even when there is nothing to do)."""
    columns = ["student_id", "student_name", "item", "since", "detail"] if with_names else \
        ["student_id", "item", "since", "detail"]
    return items.reindex(columns=columns)


def publish_reasons(path: Path, reasons: pd.DataFrame, model: str) -> None:
    """``OUT/rosters/reasons.csv`` (CONTRACT §4): this model's rows replace the ones of
    its previous run; another model's rows stay. Empty for a model ranked by the rule."""
    columns = list(REASON_COLUMNS)
    old = pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else pd.DataFrame(columns=columns)
    if list(old.columns) != columns:  # written by an older ontrack: start again
        old = pd.DataFrame(columns=columns)
    mine = reasons[columns].copy()
    mine["value"] = [f"{v:.6g}" for v in mine["value"].astype(float)]
    mine["contribution"] = [f"{v:.6f}" for v in mine["contribution"].astype(float)]
    combined = pd.concat([old[old["model"] != model], mine.astype(str)], ignore_index=True)
    combined["_rank"] = combined["rank"].astype(int)
    combined = combined.sort_values(["model", "student_id", "_rank"], kind="stable").drop(columns="_rank")
    write_table_csv(combined, path)


def _in_order(rows: pd.DataFrame, meta: RosterMeta) -> pd.DataFrame:
    """A file's rows by model, then tier, then risk (or the rule's rank): never by school."""
    return roster_order(rows, tier_order(meta, rows))


def _in_order_of(combined: pd.DataFrame, config: Config) -> Callable[[pd.DataFrame, RosterMeta], pd.DataFrame]:
    """A file's rows of ``combined`` as ``_in_order(_drop_empty(rows))``; with configured tiers
    only (then one tier order for all), taken from ``combined`` sorted once (a stable sort of
    a subset keeps the whole's order) instead of sorting file by file."""
    tiers = list(config.scoring.tier_names)
    if "risk_tier" in combined.columns and set(map(plain_text, combined["risk_tier"].tolist())) - set(tiers) - {""}:
        return lambda rows, meta: _in_order(_drop_empty(rows), meta)
    ordered = roster_order(combined.assign(_at=combined.index), tiers)
    at = ordered["_at"].to_numpy()
    columns = [(i, c) for i, c in enumerate(ordered.columns) if c != "_at"]
    empty = {c: ordered[c].isna().to_numpy() for _i, c in columns if c.startswith("rule_") and c != "rule_status"}

    def in_order(rows: pd.DataFrame, _meta: RosterMeta) -> pd.DataFrame:
        take = np.flatnonzero(np.isin(at, rows.index.to_numpy()))
        keep = [i for i, c in columns if c not in empty or not empty[c][take].all()]  # as _drop_empty
        return ordered.iloc[take, keep].reset_index(drop=True)

    return in_order


def write_index(folder: Path, jobs: list[tuple]) -> Path:
    """``OUT/rosters/index.html``: every school and counselor roster, linked, with its
    students, students per tier and follow-up items."""
    entries = []
    for rows, meta, where, stem in jobs:
        href = Path(where).relative_to(folder) / f"{stem}.html"
        entries.append({"title": meta.title, "href": href.as_posix(), "kind": "school" if href.parent == Path(".")
                        else "counselor", "students": len(rows), "tiers": dict(meta.tier_counts),
                        "followup": len(meta.followup), "models": sorted(set(rows["model"].astype(str)))})
    # Who ranks, when it is not a model that passed its gate: said here as on every roster.
    banners = list(dict.fromkeys(meta.banner for _rows, meta, _where, _stem in jobs if meta.banner))
    path = Path(folder) / "index.html"
    page = render_index(entries, banners)
    write_atomically(path, lambda temporary: temporary.write_text(page, encoding="utf-8", newline="\n"))
    return path


def _drop_empty(rows: pd.DataFrame) -> pd.DataFrame:
    """Leave out rule columns of a model not in these rows (all empty)."""
    keep = [c for c in rows.columns if not (c.startswith("rule_") and c != "rule_status" and rows[c].isna().all())]
    return rows[keep]


def _meta(rows: pd.DataFrame, title: str, runs: list[dict], config: Config,
          district_of: dict[str, str] | None = None, *, followup: pd.DataFrame | None = None,
          profiles: str | None = None) -> RosterMeta:
    # Two columns only: itertuples over a roster's ~100 columns built a tuple class a call.
    alerts = [(s, a) for s, a in zip(rows["student_id"], rows["alerts"], strict=True) if a]
    counts = {name: int((rows["risk_tier"] == name).sum()) for name in config.scoring.tier_names}
    banners = [f"{r['model']}: {r['banner']}" for r in runs if r.get("banner")]

    def expires(run: dict) -> str:
        """When this file's rows of ``run`` expire: their districts' next checkpoints."""
        mine = rows.loc[rows["model"] == run["model"], "expires"].dropna().astype(str)
        return ", ".join(sorted(set(mine))) or run["expires"]

    def joined(value) -> str:
        if len(runs) == 1:
            return value(runs[0])
        return "; ".join(f"{r['model']} {value(r)}" for r in runs)

    return RosterMeta(
        title=title, model=", ".join(r["model"] for r in runs),
        model_version=joined(lambda r: r["version"]), as_of_date=joined(lambda r: r["as_of"]),
        expires=joined(expires), config_hash=config.config_hash,
        banner=" ".join(banners) or None, alerts=alerts, tier_counts=counts, notes=[RUN_NOTE],
        rules=rule_lines(rows, district_of or {}, config),
        followup=_followup_lines(followup), profiles=profiles,
        models=tuple(model_header(r, config) for r in runs if r["model"] in set(rows["model"])),
    )


def _followup_lines(items: pd.DataFrame | None) -> list[tuple[str, str, str, str, str]]:
    """(student_id, student_name, item, since, detail) of each follow-up item."""
    if items is None or items.empty:
        return []
    names = items["student_name"] if "student_name" in items.columns else pd.Series("", index=items.index)
    return list(zip(items["student_id"].astype(str), names.fillna("").astype(str), items["item"],
                    items["since"], items["detail"], strict=True))
