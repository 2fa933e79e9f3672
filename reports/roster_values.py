"""What every roster format shares: the run's facts and how a column's values read.

:class:`RosterMeta` is what each roster file repeats about the scoring run. A column's
kind (id, risk, rate, float, int, bool or text) is decided once from its name and
values, and every format reads a value through the same two functions:
:func:`plain_text` (what a tool sees; IDs stay IDs) and :func:`shown_text` (what a person
reads; risk as a percentage). The CSV and XLSX writers live in :mod:`reports.rosters`,
the HTML page in :mod:`reports.roster_html`; both import from here, never from each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NO_STUDENTS = "No students in this roster."
NOTHING_NEW = "Nothing new since the last run."
NOTHING_TO_FOLLOW = "Nothing to follow up this week."


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


def missing(value: object) -> bool:
    """Whether a cell is empty: None, pandas' NA or NaT, or a float NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def is_number(value: object) -> bool:
    """Whether a value is an int or a float (a bool is not a number here)."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_))


def column_kind(name: str, series: pd.Series) -> str:
    """How a column is shown: id, risk, rate, float, int, bool or text."""
    if name == "student_id" or name.endswith("_id"):
        return "id"
    present = [v for v in series.tolist() if not missing(v)]
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
    return plain_text(value)
