"""Load what the district report shows: the published rates, never student rows.

Every number in the report comes from files ontrack already published under ``OUT``:

- ``indicators/rates.csv``: rates exactly as suppressed there (a withheld cell stays
  withheld; no rate is recomputed from students);
- ``indicators/students.csv``: only aggregated here, to counts of students not meeting
  each criterion, and those counts are suppressed below the minimum group size;
- ``rosters/<school_id>.csv``: only counted by tier;
- ``models/<model>/evaluation.json``: read as written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ontrack.config import DistrictRules, ModelSpec, default_models
from ontrack.errors import OnTrackError
from ontrack.indicators.definitions import CRITERIA as RULE_CRITERIA
from ontrack.indicators.definitions import FLAGS, NAMES, criterion_words
from ontrack.indicators.rates import CELL_KEY
from ontrack.indicators.rules import MET_IS_GOOD

# The report's focus: (indicator, grade) pairs shown for the district and each school.
FOCUS: tuple[tuple[str, int], ...] = (
    ("hs_readiness_8", 8),
    ("on_track_9", 9),
    ("chronic_absence", 8),
    ("chronic_absence", 9),
    ("suspension", 8),
    ("suspension", 9),
)
LABELS: dict[str, str] = dict(NAMES)
# The criteria behind readiness and on-track: indicator -> flag columns in students.csv.
# Their words come from the district's rules (``criterion_label``), never typed here.
CRITERIA: dict[str, tuple[str, ...]] = {
    indicator: tuple(FLAGS[c] for c in criteria)
    for indicator, criteria in RULE_CRITERIA.items()
}
_CRITERION_OF_FLAG = {flag: criterion for criterion, flag in FLAGS.items()}
GROUP_TYPES: tuple[tuple[str, str], ...] = (
    ("all", "All students"),
    ("race_ethnicity", "Race/ethnicity"),
    ("english_learner", "English learners"),
    ("students_with_disabilities", "Students with disabilities"),
    ("socioeconomically_disadvantaged", "Socioeconomically disadvantaged"),
    ("foster_youth", "Foster youth"),
    ("homeless", "Students experiencing homelessness"),
    ("gender", "Gender"),
)
N_TREND_YEARS = 3
_RATE_KEY = (
    "school_year",
    "indicator",
    "level",
    "unit",
    "grade_level",
    "group_type",
    "group",
)
# The published cell key of rates.csv and the columns the report reads from it.
_REQUIRED = (*CELL_KEY, "n", "n_met", "rate", "suppressed")


def label(indicator: str, grade: int) -> str:
    """Words for one indicator in one grade, e.g. 'Chronically absent (grade 8)'."""
    return f"{LABELS.get(indicator, indicator)} (grade {grade})"


def criterion_label(rules: DistrictRules, flag: str) -> str:
    """Words for a criterion's flag with the district's own bar (``criterion_words``)."""
    criterion = _CRITERION_OF_FLAG.get(flag)
    return flag if criterion is None else criterion_words(rules, criterion)


def good_is_high(indicator: str) -> bool:
    """True when a higher rate is the better outcome (readiness, on-track)."""
    return MET_IS_GOOD.get(indicator, True)


class Cell(NamedTuple):
    """One published rate cell of rates.csv (``rate`` is None when withheld).

    A named tuple: a district of 200 schools has ~100,000 cells, and tuples are made
    and pickled (for the page processes) several times faster than dataclasses."""

    key: str
    suppressed: bool
    n: int | None
    n_met: int | None
    rate: float | None
    n_unknown: int | None
    # Why a withheld cell is withheld: "primary" (a small group) or "complementary"
    # (withheld so that a smaller group cannot be worked out by subtraction).
    suppression: str | None = None


@dataclass
class ReportData:
    """Everything the pages need, loaded once."""

    out_dir: Path
    min_size: int
    rates: pd.DataFrame
    years: tuple[int, ...]
    schools: pd.DataFrame
    criteria: pd.DataFrame
    rosters: dict[str, pd.DataFrame] | None
    models: dict[str, dict]
    checks: dict[str, dict]
    config_hash: str
    as_of: str | None
    cells: dict[tuple, Cell] = field(default_factory=dict)
    groups: dict[tuple, list[tuple[str, str]]] = field(default_factory=dict)
    # Grades with any cell in the latest year, per unit; and the district ids.
    grades: dict[str, tuple[int, ...]] = field(default_factory=dict)
    districts: tuple[str, ...] = ()
    # Each district's rules (``Config.rules_for``): the bars the report's words state.
    rules: dict[str, DistrictRules] = field(default_factory=dict)
    # The config's model declarations (``Config.models``): which models the report names.
    specs: dict[str, ModelSpec] = field(default_factory=default_models)

    def without_rates(self) -> ReportData:
        """The same data without the rates frame (what page workers need: the indexes)."""
        return replace(self, rates=self.rates.iloc[0:0])

    @property
    def latest(self) -> int:
        """The latest school year in rates.csv."""
        return self.years[-1]

    def cell(
        self,
        year: int,
        indicator: str,
        unit: str,
        grade: int,
        group_type: str = "all",
        group: str = "all",
    ) -> Cell | None:
        """The published cell, or None when rates.csv has no such row (no students).

        ``unit`` is ``district:<id>`` or ``school:<id>``.
        """
        return self.cells.get((year, indicator, unit, grade, group_type, group))

    def rules_of(self, unit: str) -> DistrictRules:
        """The rules of a unit's district (``district:<id>`` or ``school:<id>``)."""
        kind, _, unit_id = unit.partition(":")
        district = unit_id
        if kind == "school":
            found = self.schools.loc[self.schools["school_id"] == unit_id, "district_id"]
            district = str(found.iloc[0]) if len(found) else ""
        if district not in self.rules:
            raise OnTrackError(
                f"the report must be given the rules of district {district!r} (of {unit}). "
                f"Got rules of {', '.join(sorted(self.rules)) or 'no district'} instead."
            )
        return self.rules[district]

    def groups_of(self, indicator: str, grade: int, unit: str) -> list[tuple[str, str]]:
        """(group_type, group) pairs rates.csv has for a unit (any trend year), in order."""
        return self.groups.get((indicator, grade, unit), [])


def index_groups(rates: pd.DataFrame) -> dict[tuple, list[tuple[str, str]]]:
    """Groups present per (indicator, grade, unit), in report order."""
    order = {t: k for k, (t, _) in enumerate(GROUP_TYPES)}
    found: dict[tuple, set[tuple[str, str]]] = {}
    cols = [
        rates[c].tolist()
        for c in ("indicator", "grade_level", "unit", "group_type", "group")
    ]
    for ind, grade, unit, gtype, grp in zip(*cols, strict=True):
        found.setdefault((ind, int(grade), unit), set()).add((gtype, grp))
    return {
        k: sorted(v, key=lambda p: (order.get(p[0], 99), p[1]))
        for k, v in found.items()
    }


def index_grades(rates: pd.DataFrame, year: int) -> dict[str, tuple[int, ...]]:
    """Grades each unit has cells for in ``year``."""
    part = rates[rates["school_year"] == year]
    found: dict[str, set[int]] = {}
    for unit, grade in zip(
        part["unit"].tolist(), part["grade_level"].tolist(), strict=True
    ):
        found.setdefault(unit, set()).add(int(grade))
    return {unit: tuple(sorted(grades)) for unit, grades in found.items()}


def cell_key(row: tuple) -> str:
    """The id written into the HTML for a rate cell (tests map it back to rates.csv)."""
    year, indicator, unit, grade, group_type, group = row
    return f"{year}|{indicator}|{unit}|{grade}|{group_type}|{group}"


def read_rates(path: Path) -> pd.DataFrame:
    """rates.csv, typed, with a ``unit`` column (``district:<id>`` / ``school:<id>``)."""
    if not path.exists():
        raise OnTrackError(
            f"{path} must exist (run `ontrack indicators DATA --out OUT` first). "
            "Got no such file instead."
        )
    rates = pd.read_csv(
        path,
        dtype={
            "district_id": str,
            "school_id": str,
            "group": str,
            "group_type": str,
            "indicator": str,
            "level": str,
        },
    )
    missing = [c for c in _REQUIRED if c not in rates.columns]
    if missing:
        raise OnTrackError(
            f"{path} must have the columns of rates.csv. Got no {', '.join(missing)} instead."
        )
    if "n_unknown" not in rates.columns:
        rates["n_unknown"] = pd.NA
    rates["suppressed"] = (
        rates["suppressed"].astype(str).str.lower().isin(("true", "1"))
    )
    if "suppression" not in rates.columns:
        rates["suppression"] = pd.NA
    rates["suppression"] = (
        rates["suppression"].fillna("primary").astype(str).where(rates["suppressed"])
    )
    for col in ("school_year", "grade_level"):
        rates[col] = pd.to_numeric(rates[col]).astype("int64")
    rates["unit"] = ("district:" + rates["district_id"]).where(
        rates["level"] == "district", "school:" + rates["school_id"].fillna("")
    )
    return rates


def check_min_size(rates: pd.DataFrame, min_size: int, path: Path) -> None:
    """Refuse rates computed with a smaller minimum group size than the config's."""
    small = rates[~rates["suppressed"] & (rates["n"] < min_size)]
    if len(small):
        raise OnTrackError(
            f"every published cell of {path} must have at least {min_size} students "
            f"(reporting.min_group_size). Got {len(small)} smaller cells instead: rerun "
            "`ontrack indicators` with this config."
        )


def index_cells(rates: pd.DataFrame) -> dict[tuple, Cell]:
    """Published cells keyed by (year, indicator, unit, grade, group_type, group)."""
    cells: dict[tuple, Cell] = {}
    cols = [
        rates[c].tolist()
        for c in (
            *_RATE_KEY, "suppressed", "n", "n_met", "rate", "n_unknown", "suppression"
        )
    ]
    for year, ind, _lvl, unit, grade, gtype, grp, sup, n, met, rate, unk, why in zip(
        *cols, strict=True
    ):
        key = (int(year), ind, unit, int(grade), gtype, grp)
        cells[key] = Cell(
            key=cell_key(key),
            suppressed=bool(sup),
            n=None if sup or _nan(n) else int(n),
            n_met=None if sup or _nan(met) else int(met),
            rate=None if sup or _nan(rate) else float(rate),
            n_unknown=None if sup or _nan(unk) else int(unk),
            suppression=str(why) if sup and not _nan(why) else None,
        )
    return cells


def _nan(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or value is pd.NA
    )
