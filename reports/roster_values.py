"""What every roster format shares: the run's facts and how a column's values read.

:class:`RosterMeta` is what each roster file repeats about the scoring run. A column's
kind (id, risk, rate, float, int, bool or text) is decided once from its name and
values, and every format reads a value through the same two functions:
:func:`plain_text` (what a tool sees; IDs stay IDs) and :func:`shown_text` (what a person
reads; risk as a percentage). :class:`Columns` reads a frame once for all three files,
a column at a time (each distinct value converted once, :func:`by_value`), so a roster's
cost per row stays small. The CSV and XLSX writers live in :mod:`reports.rosters`,
the HTML page in :mod:`reports.roster_html`; both import from here, never from each other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.indicators.definitions import rule_summary

NO_STUDENTS = "No students in this roster."
NOTHING_NEW = "Nothing new since the last run."
NOTHING_TO_FOLLOW = "Nothing to follow up this week."
RULE_NOT_MET = "rule not met"

# Column headers people read (HTML, XLSX), and what each column means (the XLSX
# "columns" sheet). Any other column gets label(name) and a generic note.
LABELS = {
    "student_id": "Student ID", "student_name": "Name", "current_support": "Current support",
    "school_id": "School ID", "school_name": "School", "grade_level": "Grade",
    "staff_id": "Staff ID", "staff_name": "Counselor", "model": "Model",
    "ranked_by": "Ranked by", "risk": "Risk", "risk_tier": "Support tier", "rank": "Rank",
    "change": "Change since last run", "rule_status": "Rule", "reason_1": "Top reason",
    "reason_2": "Reason 2", "reason_3": "Reason 3", "alerts": "Alerts",
    "rule_gpa": "GPA", "rule_gpa_ok": "GPA bar met", "rule_attendance_rate": "Attendance",
    "rule_attendance_ok": "Attendance bar met", "rule_no_d_or_f_ela_math": "No D/F in ELA or math",
    "rule_suspensions": "Suspensions", "rule_not_suspended": "Not suspended",
    "rule_credits_earned": "Credits earned", "rule_credits_vs_pace": "Credits vs pace",
    "rule_credits_ok": "Credits on pace", "rule_core_semester_fs": "Core semester Fs",
    "rule_fs_ok": "Core Fs within limit", "rule_on_track_end_of_9": "On track end of 9th (prior year)",
    "model_version": "Model version", "as_of_date": "As of", "expires": "Valid until",
    "config_hash": "Config hash",
}
NOTES = {
    "student_id": "The district's student ID.", "student_name": "Last, first (from the students table).",
    "current_support": "Supports running on the as-of date, from the interventions table.",
    "school_id": "The district's school ID.", "school_name": "The school's name.",
    "grade_level": "Grade on the as-of date.", "staff_id": "Counselor staff IDs of the student's caseloads.",
    "staff_name": "Counselor names of the student's caseloads.", "model": "The model this row belongs to (grade8, grade9, ...).",
    "ranked_by": "model: the model ranks the list; rule: the district's rule ranks it (the model did not pass its gate, expired or drifted).",
    "risk": "Calibrated chance the student will not be on track without help (0-100%); empty when ranked by the rule.",
    "risk_tier": "The support tier: how tiers are cut is on the 'about' sheet.",
    "rank": "Order within the school (1 = most in need).",
    "change": "Compared with the previous scoring run.",
    "rule_status": "The district rule: met, not met or unknown (missing data is never counted as met).",
    "reason_1": "The strongest reason in plain words, with the student's value and the district's bar.",
    "reason_2": "The second reason.", "reason_3": "The third reason.",
    "alerts": "What is new since the last scoring: failing marks, suspensions, rising absences.",
    "model_version": "Version of the model in the registry ('none' when ranked by the rule).",
    "as_of_date": "The date the data was scored as of.", "expires": "The next checkpoint: rescore by then.",
    "config_hash": "Fingerprint of the configuration used.",
}
# Rule criteria flags (1/True met, 0/False not met, empty unknown) and their short names.
CRITERIA = {
    "rule_gpa_ok": "GPA", "rule_attendance_ok": "attendance",
    "rule_no_d_or_f_ela_math": "D/F in ELA/math", "rule_not_suspended": "suspension",
    "rule_credits_ok": "credits", "rule_fs_ok": "core Fs",
}
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ModelHeader:
    """One model's line at the top of a roster: who ranked it and how tiers are cut."""

    model: str
    as_of_date: str
    ranking: str  # "ranked by the model grade8, version 7" or "ranked by the rule because ..."
    tiers: str  # "intensive support at risk ≥ 50%, check in ≥ 20%, on track below"


@dataclass(frozen=True)
class RosterMeta:
    """Facts about the scoring run that every roster file repeats for its reader."""

    title: str
    model: str
    model_version: str
    as_of_date: str
    expires: str
    config_hash: str
    banner: str | None = None
    alerts: list[tuple[str, str]] = field(default_factory=list)
    tier_counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The rule behind the roster, one sentence per model, from the district's rules
    # (``ontrack.indicators.definitions.rule_summary``); shown under the title.
    rules: tuple[str, ...] = ()
    # The follow-up items of these students: (student_id, student_name, item, since,
    # detail), listed first on the page (``ontrack.scoring.followup``).
    followup: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    # Where the profile pages are, relative to the roster's folder ("../profiles/"):
    # each student ID links to <profiles><file_stem(school_id)>/<file_stem(student_id)>.html.
    # None: no links.
    profiles: str | None = None
    # One header per model in the file: how it was ranked and how its tiers are cut.
    models: tuple[ModelHeader, ...] = ()


def missing(value: object) -> bool:
    """Whether a cell is empty: None, pandas' NA or NaT, or a float NaN."""
    if value.__class__ is str:  # most cells: answered before the slower checks
        return False
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def is_number(value: object) -> bool:
    """Whether a value is an int or a float (a bool is not a number here)."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_))


def label(name: str) -> str:
    """A column's header for people: "rule_gpa_ok" -> "GPA bar met"; others readable."""
    return LABELS.get(name) or name.replace("_", " ").strip().capitalize() or name


def column_kind(name: str, series: pd.Series) -> str:
    """How a column is shown: id, risk, rate, float, int, bool, date or text."""
    return kind_of(name, series.tolist())


def kind_of(name: str, values: list) -> str:
    """:func:`column_kind` of a column's values as a list."""
    if name == "student_id" or name.endswith("_id"):
        return "id"
    if not (name in ("as_of_date", "expires") or name.endswith("_date")) and all(
            v.__class__ is str for v in values):
        return "risk" if name == "risk" else "text"  # what the checks below find for plain strings
    present = [v for v in values if not missing(v)]
    if name in CRITERIA and present and all(v in (0, 1) for v in present):
        return "bool"  # a criterion flag read back as 0/1
    if present and all(_is_day(v) for v in present) and (
            name in ("as_of_date", "expires") or name.endswith("_date")
            or not all(isinstance(v, str) for v in present)):
        return "date"
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return "bool"
    if present and all(is_number(v) for v in present):
        if name == "risk":
            return "risk"
        if name.endswith("_rate") and all(0 <= v <= 1 for v in present):
            return "rate"
        floats = any(isinstance(v, float | np.floating) for v in present)
        return "float" if floats else "int"
    return "risk" if name == "risk" else "text"


def plain_text(value: object) -> str:
    """A value as plain text; an ID that arrived as 123.0 becomes "123"."""
    if value.__class__ is str:  # most cells: as they are, before the slower checks
        return value
    if missing(value):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return str(value)


def shown_text(kind: str, value: object) -> str:
    """A value as a person should read it (HTML cells, XLSX column widths)."""
    if missing(value):
        return ""
    if kind == "risk" and is_number(value):
        v = float(value)
        if 0 < v < 0.005:
            return "<1%"
        if 0.995 <= v < 1:
            return ">99%"
        return f"{v:.0%}"
    if kind == "rate":
        return f"{float(value):.1%}"
    if kind == "float":
        return f"{float(value):.2f}"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "date":
        day = as_day(value)
        return day.isoformat() if day else plain_text(value)
    return plain_text(value)


def by_value(convert: Callable[[object], object], values: list) -> list:
    """``convert`` of every value of a column, computed once per distinct value (a
    roster repeats its grades, tiers, rates and reasons). Only strings, ints, bools and
    non-zero floats are remembered, keyed by type and value (1, 1.0 and True stay apart;
    0.0 and -0.0 would not, so zeros and every other type are converted each time)."""
    done: dict = {}
    out = []
    for value in values:
        kind = value.__class__
        if kind in _REMEMBERED and (value or kind is not float):
            key = (kind, value)
            text = done.get(key, done)
            if text is done:
                text = done[key] = convert(value)
        else:
            text = convert(value)
        out.append(text)
    return out


_REMEMBERED = frozenset((str, int, bool, float))


def plain_strings(kind: str, values: list) -> bool:
    """Whether a column is text (or IDs) holding only plain strings: every format then
    shows each value as the string itself (the writers' fast path)."""
    return kind in ("id", "text") and all(v.__class__ is str for v in values)


def shown_column(kind: str, values: list) -> list[str]:
    """:func:`shown_text` of every value of one column, as a list."""
    if plain_strings(kind, values):
        return list(values)  # plain text of a string is the string
    return by_value(lambda value: shown_text(kind, value), values)


class Columns:
    """A roster frame read once for the three writers: each column's values (as Python
    objects), its kind, and (on first use) its shown text."""

    def __init__(self, frame: pd.DataFrame, kinds: dict[str, str] | None = None) -> None:
        self.names = [str(c) for c in frame.columns]
        self.values = {n: frame.iloc[:, i].tolist() for i, n in enumerate(self.names)}
        self.kinds = kinds or {n: kind_of(n, self.values[n]) for n in self.names}
        self.rows = len(frame)
        self._shown: dict[str, list[str]] = {}

    def shown(self, name: str) -> list[str]:
        """The column's values as a person reads them (:func:`shown_text`)."""
        if name not in self._shown:
            self._shown[name] = shown_column(self.kinds[name], self.values[name])
        return self._shown[name]


def _is_day(value: object) -> bool:
    if isinstance(value, datetime | pd.Timestamp):
        return value == pd.Timestamp(value).normalize()
    if isinstance(value, date):
        return True
    return isinstance(value, str) and bool(_ISO_DAY.match(value))


def as_day(value: object) -> date | None:
    """A date cell as a :class:`datetime.date` (None when empty or not a date)."""
    if missing(value):
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        return None


def unmet(row: dict) -> tuple[list[str], list[str]]:
    """The rule criteria a row does not meet, and those unknown, by their short names."""
    failed, unknown = [], []
    for column, short in CRITERIA.items():
        if column not in row:
            continue
        value = row[column]
        if missing(value):
            unknown.append(short)
        elif not bool(value):
            failed.append(short)
    return failed, unknown


def roster_order(frame: pd.DataFrame, tier_order: list[str]) -> pd.DataFrame:
    """Rows by model, then tier (most support first), then risk (highest first) or, for
    rows ranked by the rule, the rule's rank; never by school first."""
    if frame.empty:
        return frame
    keys = pd.DataFrame(index=frame.index)
    keys["model"] = frame["model"].astype(str) if "model" in frame.columns else ""
    tiers = frame["risk_tier"].map(plain_text) if "risk_tier" in frame.columns else pd.Series("", index=frame.index)
    keys["tier"] = tiers.map({t: i for i, t in enumerate(tier_order)}).fillna(len(tier_order))
    risk = pd.to_numeric(frame["risk"], errors="coerce") if "risk" in frame.columns else pd.Series(float("nan"), index=frame.index)
    keys["risk"] = -risk.fillna(-1.0)
    keys["rank"] = pd.to_numeric(frame["rank"], errors="coerce") if "rank" in frame.columns else 0
    keys["id"] = frame["student_id"].map(plain_text)
    order = keys.sort_values(["model", "tier", "risk", "rank", "id"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


# The indicator whose rule a baseline applies (ontrack.modeling.baselines).
RULE_INDICATOR = {"readiness": "hs_readiness_8", "on_track": "on_track_9"}


def rule_lines(rows: pd.DataFrame, district_of: dict[str, str], config: Config) -> tuple[str, ...]:
    """The rule of every model in these rows, in the words and numbers of each of their
    districts (one line per distinct sentence), for the roster's header."""
    lines: list[str] = []
    for model in sorted(set(rows["model"])):
        spec = config.models.get(model)
        indicator = RULE_INDICATOR.get(spec.baseline) if spec is not None else None
        if indicator is None:
            continue
        schools = rows.loc[rows["model"] == model, "school_id"].astype(str)
        for district in sorted({district_of.get(s) for s in schools} - {None}):
            line = f"{model}: {rule_summary(config.rules_for(district), indicator)}"
            if line not in lines:
                lines.append(line)
    return tuple(lines)


def model_header(run: dict, config: Config) -> ModelHeader:
    """One model's line on a roster: who ranked it (and why the rule, when it did) and
    how its tiers are cut, in the configured names and numbers."""
    if run.get("ranked_by", "model") == "rule":
        reason = run.get("ranked_by_reason") or _reason_of(run.get("banner"))
        ranking = f"ranked by the rule because {reason}" if reason else "ranked by the rule"
    else:
        ranking = f"ranked by the model, version {run.get('version', '')}"
    return ModelHeader(model=str(run["model"]), as_of_date=str(run.get("as_of", "")), ranking=ranking,
                       tiers=tiers_text(run.get("ranked_by", "model"), config))


def tiers_text(ranked_by: str, config: Config) -> str:
    """How tiers are cut: the rule's criteria, risk bands, or each school's capacity."""
    scoring = config.scoring
    first, second, third = scoring.tier_names
    if ranked_by == "rule":
        return (f"{first} when two or more criteria are not met, {second} when one is not met "
                f"or unknown, {third} when all are met")
    if scoring.tier_mode == "capacity":
        top, nxt = scoring.capacity_per_school
        return f"{first}: the {top} highest-risk students of each school, {second}: the next {nxt}, {third}: the rest"
    high, middle = scoring.risk_bands
    return f"{first} at risk ≥ {high:.0%}, {second} at risk ≥ {middle:.0%}, {third} below {middle:.0%}"


def _reason_of(banner: str | None) -> str:
    """The "because ..." of a rule-ranked run's banner (runs saved before the reason was)."""
    text = banner or ""
    if " because " not in text:
        return ""
    return text.split(" because ", 1)[1].split(". No risk", 1)[0].rstrip(".")
