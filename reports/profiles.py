"""One page per rostered student: ``OUT/profiles/<school_id>/<student_id>.html``.

Each page is self-contained and offline (inline style, inline SVG charts, a
Content-Security-Policy that forbids loading anything, no script) and shows only that
student's records: header, the rule's criteria at every checkpoint, attendance by month,
marks and credits, tests, discipline, risk over time, the current reasons (a SHAP
waterfall when the run hands over its contributions) and interventions. Records come
from :func:`ontrack.scoring.profile_data.gather_records`, one school at a time; every
page is rendered by one autoescaping Jinja2 template on the shared page shell
(:mod:`reports.templating`), so IDs, names and course names reach the page only as
escaped text; the pieces many pages of a batch share (mark rows, months, bars, credit
rows, grid lines) are rendered once a batch by :mod:`reports.profile_markup`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from ontrack.reports.profile_charts import interventions_chart, risk_chart
from ontrack.reports.profile_markup import (
    attendance_section,
    marks_html,
    rows_html,
    waterfall,
    with_ticks,
)
from ontrack.reports.profile_values import cell_text, day_text, formatted, missing
from ontrack.reports.templating import template

from ontrack.config import Config
from ontrack.indicators.definitions import CRITERIA, NAMES
from ontrack.paths import file_stem, write_atomically
from ontrack.scoring.profile_data import (
    SchoolRecords,
    contribution_rows,
    data_end,
    gather_records,
    school_names_of,
)

NO_RECORDS = "No records."
MANIFEST = "_pages_{model}.json"
# Schools are gathered together up to this many students (the per-call cost of the
# indicators at each checkpoint is mostly fixed; memory grows with the students).
BATCH_STUDENTS = 3000
# The criteria shown at each checkpoint: (label, value column, flag column, format).
CRITERION_COLUMNS = (
    ("GPA", "gpa", "gpa_ok", "{:.2f}"),
    ("Attendance", "attendance_rate", "attendance_ok", "pct"),
    ("D/F in ELA or math", "df_ela_math", "df_ok", "{:d}"),
    ("Suspensions", "suspensions", "suspension_ok", "{:d}"),
    ("Credits earned", "credits_earned", "credits_ok", "{:g}"),
    ("Core semester Fs", "core_semester_fs", "fs_ok", "{:d}"),
)
STATUS_WORDS = {"met": "met", "not_met": "not met", "unknown": "unknown"}
# Chronic absence and suspension: "met" means the condition holds (CONTRACT §2).
CONDITION_WORDS = {"met": "yes", "not_met": "no", "unknown": "unknown"}

@dataclass(frozen=True)
class ProfileRun:
    """What :func:`write_profiles` wrote: pages, schools and the seconds it took."""

    pages: int
    schools: int
    seconds: float

    @property
    def pages_per_second(self) -> float:
        """Pages written per second, gathering included."""
        return self.pages / self.seconds if self.seconds else float("nan")


def write_profiles(out_dir: Path | str, config: Config, roster: pd.DataFrame, run: dict, *,
                   ranked_by_reason: str | None = None,
                   contributions: pd.DataFrame | None = None,
                   base_value: float | None = None, through: date | None = None) -> ProfileRun:
    """Write a page for every student of ``roster`` (one scoring run's rows).

    ``contributions`` (one row per student, indexed or keyed by ``student_id``; a
    column per feature in log-odds before calibration, optionally ``base_value``) and
    ``base_value`` draw the SHAP waterfall; without them the page shows the reasons as
    text. Pages of this model's students that left the roster since its last run are
    removed (each school folder lists the pages each model wrote). ``through``: what
    :func:`profiles_through` returns (read here when not given).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    through = through or profiles_through(out_dir, config, run)
    school_names = school_names_of(out_dir)
    shap_rows = contribution_rows(contributions, base_value, roster)
    page = template("profile.html.j2")
    config_hash = config.config_hash  # hashes the whole config: once, not per page
    pages = 0
    for schools in _batches(roster):
        rendered: dict[tuple, Any] = {}  # a table row shared by pages of this batch -> its markup
        ids = schools["student_id"].astype(str).tolist()
        records = gather_records(out_dir, config, ids, through=through)
        for school_id, rows in schools.groupby("school_id", sort=True):
            folder = out_dir / "profiles" / file_stem(school_id)
            folder.mkdir(parents=True, exist_ok=True)
            written = []
            for row in rows.to_dict("records"):
                student = str(row["student_id"])
                context = student_context(row, records, run, config, school_names.get(str(school_id), ""),
                                          ranked_by_reason=ranked_by_reason, shap=shap_rows.get(student),
                                          config_hash=config_hash, rendered=rendered)
                name = f"{file_stem(student)}.html"
                _write_atomic(folder / name, page.render(context))
                written.append(name)
            _forget_left(folder, str(run["model"]), written)
            pages += len(written)
    return ProfileRun(pages, int(roster["school_id"].nunique()), time.perf_counter() - started)


def profiles_through(out_dir: Path | str, config: Config, run: dict) -> date:
    """The last day the pages show records of: the data's end (never before the as-of date)."""
    as_of = date.fromisoformat(str(run["as_of"]))
    return max(as_of, data_end(Path(out_dir), config) or as_of)


def _batches(roster: pd.DataFrame):
    """Whole schools, gathered together up to ``BATCH_STUDENTS`` students: one read of
    each table per batch (a school larger than that is a batch of its own)."""
    batch, size = [], 0
    for _, rows in roster.groupby("school_id", sort=True):
        if batch and size + len(rows) > BATCH_STUDENTS:
            yield pd.concat(batch)
            batch, size = [], 0
        batch.append(rows)
        size += len(rows)
    if batch:
        yield pd.concat(batch)


def student_context(row: dict, records: SchoolRecords, run: dict, config: Config, school_name: str,
                    *, ranked_by_reason: str | None = None, shap: dict | None = None,
                    config_hash: str | None = None, rendered: dict[tuple, Any] | None = None) -> dict:
    """Everything one page shows, as plain values (the template only lays them out).
    ``config_hash``: ``config.config_hash`` when the caller has it (hashing the config
    costs more than the rest of a page's values). ``rendered``: the batch's cache of
    shared markup (:mod:`reports.profile_markup`)."""
    student = str(row["student_id"])
    person = (records.of("students", student) or [{}])[0]
    risk = row.get("risk")
    marks = records.of("course_marks", student)
    history = records.of("history", student)
    interventions = records.of("interventions", student)
    rendered = {} if rendered is None else rendered
    shown_marks, marks_markup, credits = marks_html(marks, rendered)
    history_rows = _history(history)
    checkpoints = _checkpoint_rows(records.of("criteria", student))
    attendance = attendance_section(records.of("attendance_months", student),
                                    records.of("attendance_summary", student), rendered)
    for point in checkpoints:
        point["cells_html"] = rows_html("criterion_cell", point["cells"], rendered)
    return {
        "student_id": student,
        "name": " ".join(p for p in (cell_text(person.get("first_name")), cell_text(person.get("last_name"))) if p),
        "grade": row.get("grade_level"),
        "school_id": str(row.get("school_id", "")),
        "school_name": school_name,
        "counselors": _counselors(records.of("caseloads", student)),
        "tier": cell_text(row.get("risk_tier")),
        "risk": None if missing(risk) else f"{float(risk):.0%}",
        "ranked_by": cell_text(row.get("ranked_by")),
        "model": cell_text(run.get("model")),
        "model_version": cell_text(run.get("version")),
        "ranked_by_reason": ranked_by_reason or "",
        "as_of": cell_text(run.get("as_of")),
        "through": records.through.isoformat(),
        "reasons": [cell_text(row.get(f"reason_{i}")) for i in (1, 2, 3) if cell_text(row.get(f"reason_{i}"))],
        "config_hash": config_hash or config.config_hash,
        "checkpoints": checkpoints,
        "attendance": attendance,
        "marks": shown_marks,
        "marks_html": marks_markup,
        "credits": credits,
        "credits_html": rows_html("credit_row", credits, rendered),
        "tests": _tests(records.of("assessments", student)),
        "discipline": _discipline(records.of("discipline", student)),
        "history": history_rows,
        "history_html": rows_html("history_row", history_rows, rendered),
        "risk_chart": with_ticks(risk_chart(history), rendered),
        "waterfall": waterfall(shap, rendered) if shap else None,
        "interventions": _interventions(interventions),
        "interventions_chart": interventions_chart(interventions, records.through),
        "has_interventions_table": "interventions" in records.provided,
        "no_records": NO_RECORDS,
    }


def _checkpoint_rows(criteria: list[dict]) -> list[dict]:
    """A row per checkpoint: each criterion's value and met / not met / unknown (the
    flag only where the student's grade has the rule), the rule's overall status, and
    chronic absence and suspension."""
    by_point: dict[tuple, dict[str, dict]] = {}
    for r in criteria:
        by_point.setdefault((day_text(r["as_of_date"]), int(r["school_year"])), {})[r["indicator"]] = r
    rows = []
    for (day, year), by_indicator in sorted(by_point.items()):
        rule = by_indicator.get("hs_readiness_8") or by_indicator.get("on_track_9")
        cells = []
        applying = _applying(rule["indicator"]) if rule is not None else _NONE_APPLY
        for (label, value_col, flag_col, fmt), applies in zip(CRITERION_COLUMNS, applying):
            sources = [rule] if applies else list(by_indicator.values())
            value = next((r[value_col] for r in sources if not missing(r.get(value_col))), None)
            status = _flag_status(rule[flag_col]) if applies else ""
            cells.append({"label": label, "value": formatted(value, fmt), "status": status})
        first = next(iter(by_indicator.values()))
        rows.append({
            "date": day, "school_year": year, "grade": formatted(first["grade_level"], "{:d}"),
            "rule": NAMES[rule["indicator"]] if rule is not None else "",
            "rule_status": STATUS_WORDS.get(rule["status"], "") if rule is not None else "",
            "unknown": cell_text(rule.get("unknown_criteria")) if rule is not None else "",
            "cells": cells,
            "chronic": CONDITION_WORDS.get(by_indicator.get("chronic_absence", {}).get("status"), ""),
            "suspended": CONDITION_WORDS.get(by_indicator.get("suspension", {}).get("status"), ""),
        })
    return rows


_CRITERION_OF_FLAG = {"gpa_ok": "gpa", "attendance_ok": "attendance", "df_ok": "df_ela_math",
                      "suspension_ok": "suspensions", "credits_ok": "credits", "fs_ok": "core_semester_fs"}


@cache
def _applying(indicator: str) -> tuple[bool, ...]:
    """Whether each of :data:`CRITERION_COLUMNS` is a criterion of rule ``indicator``."""
    return tuple(_CRITERION_OF_FLAG[flag_col] in CRITERIA[indicator] for _l, _v, flag_col, _f in CRITERION_COLUMNS)


_NONE_APPLY = (False,) * len(CRITERION_COLUMNS)  # no rule at the checkpoint


def _flag_status(flag: object) -> str:
    if missing(flag):
        return "unknown"
    return "met" if bool(flag) else "not met"


def _tests(tests: list[dict]) -> list[dict]:
    ordered = sorted(tests, key=lambda t: (t["school_year"], str(t["subject"]), cell_text(t["test_date"])))
    return [{"school_year": int(t["school_year"]), "test": cell_text(t["test_name"]), "subject": cell_text(t["subject"]),
             "score": formatted(t["scale_score"], "{:g}"), "level": formatted(t["performance_level"], "{:d}"),
             "grade": formatted(t["grade_level"], "{:d}"), "date": cell_text(t["test_date"])}
            for t in ordered]


def _discipline(incidents: list[dict]) -> list[dict]:
    ordered = sorted(incidents, key=lambda d: cell_text(d["incident_date"]))
    return [{"date": cell_text(d["incident_date"]), "action": cell_text(d["action"]).replace("_", " "),
             "type": cell_text(d["incident_type"]), "days": formatted(d["days"], "{:g}")}
            for d in ordered]


def _history(history: list[dict]) -> list[dict]:
    return [{"as_of": day_text(h["as_of_date"]), "model": cell_text(h["model"]),
             "version": cell_text(h["model_version"]), "ranked_by": cell_text(h["ranked_by"]),
             "risk": "" if missing(h["risk"]) else f"{float(h['risk']):.0%}", "tier": cell_text(h["risk_tier"]),
             "rule_status": STATUS_WORDS.get(cell_text(h["rule_status"]), cell_text(h["rule_status"]))}
            for h in history]


def _interventions(rows: list[dict]) -> list[dict]:
    ordered = sorted(rows, key=lambda i: cell_text(i["start_date"]))
    return [{"type": cell_text(i["intervention_type"]), "start": cell_text(i["start_date"]),
             "end": cell_text(i["end_date"]) or "ongoing", "tier": formatted(i["tier"], "{:d}"),
             "domain": cell_text(i["domain"]), "staff": cell_text(i["staff_id"])}
            for i in ordered]


def _counselors(loads: list[dict]) -> list[str]:
    """The staff of the student's latest caseload year (undated rows count as current)."""
    years = [int(r["school_year"]) for r in loads if not missing(r["school_year"])]
    latest = max(years) if years else None
    names = {cell_text(r["staff_name"]) or cell_text(r["staff_id"]) for r in loads
             if missing(r["school_year"]) or int(r["school_year"]) == latest}
    return sorted(n for n in names if n)


def _forget_left(folder: Path, model: str, written: list[str]) -> None:
    """Remove this model's pages of students no longer on its roster (unless another
    model's last run wrote them too); then record what this run wrote."""
    manifest = folder / MANIFEST.format(model=file_stem(model))
    before = set(json.loads(manifest.read_text(encoding="utf-8"))) if manifest.is_file() else set()
    others = set()
    for other in folder.glob(MANIFEST.format(model="*")):
        if other != manifest:
            others |= set(json.loads(other.read_text(encoding="utf-8")))
    for name in before - set(written) - others:
        (folder / name).unlink(missing_ok=True)
    _write_atomic(manifest, json.dumps(sorted(written)))


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` in one step, unless it holds these bytes already
    (renaming over a file on ext4 also starts writing it out: most of writing a page)."""
    data = text.encode("utf-8")
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    write_atomically(path, lambda temporary: temporary.write_bytes(data))
