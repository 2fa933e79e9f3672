"""Schools and students of the synthetic district: who they are and their latent traits.

Every student carries two latent traits on a standard-normal scale: *achievement*
(``a``) and *engagement* (``e``), correlated at 0.45 at entry and drifting each year
with a personal slope. Subgroup flags shift them modestly. Everything the district
records later (attendance, marks, discipline, test scores, exits) is a noisy function of
these traits, so the flags themselves never decide an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RACES = (
    "hispanic",
    "white",
    "black",
    "asian",
    "filipino",
    "pacific_islander",
    "american_indian",
    "two_or_more",
    "not_reported",
)
RACE_P = (0.49, 0.12, 0.10, 0.12, 0.04, 0.01, 0.005, 0.065, 0.05)
RACE_SED_P = (0.75, 0.35, 0.75, 0.35, 0.55, 0.75, 0.75, 0.55, 0.55)
RACE_EL_P = (0.30, 0.03, 0.04, 0.28, 0.20, 0.20, 0.05, 0.04, 0.10)
GENDERS = ("F", "M", "X")
GENDER_P = (0.487, 0.503, 0.010)
GRADES = np.arange(6, 13)
# Relative size of grades 6..12: a ninth-grade bulge (retention, entrants from private
# and charter middle schools), then attrition through dropout and transfer.
GRADE_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.10, 1.0, 0.95, 0.90])

_PLACES = (
    "Alder", "Bayview", "Cedar Hill", "Crestmont", "Eastlake", "Fairview", "Garfield",
    "Harbor", "Highland", "Jackson", "King", "Lakeside", "Lincoln", "Madison", "Mesa",
    "Mission", "Northgate", "Oakridge", "Parkside", "Pioneer", "Redwood", "Ridgeview",
    "Riverside", "Roosevelt", "Sequoia", "Sierra", "Southside", "Sunset", "Valley View",
    "Washington", "Westlake", "Willow Creek",
)  # fmt: skip


@dataclass(frozen=True)
class Schools:
    """The district's schools as parallel arrays (index = school number)."""

    school_id: tuple[str, ...]
    name: tuple[str, ...]
    level: np.ndarray  # str: middle, high, span
    low: np.ndarray  # lowest grade served
    high: np.ndarray  # highest grade served
    weight: np.ndarray  # relative size among schools serving the same grades
    feeder: np.ndarray  # for middle schools: the usual high school; else -1
    eng_effect: np.ndarray  # shift of engagement (attendance) at this school
    grading: np.ndarray  # shift of marks (lenient or strict grading)
    discipline: np.ndarray  # shift of suspension log-odds
    numeric_marks: np.ndarray  # bool: marks are numbers 0-100
    year_long: np.ndarray  # bool: finals are full-year (term Y)
    pass_fail_pe: np.ndarray  # bool: PE is graded P/NP
    reports_gpa: np.ndarray  # bool: the school sends an official GPA
    district_id: str
    district_name: str = "Synthetic Unified School District"
    county: str = "Synthetic County"

    def __len__(self) -> int:
        return len(self.school_id)

    def serving(self, grade: int) -> np.ndarray:
        """Indices of the schools that serve ``grade``."""
        return np.flatnonzero((self.low <= grade) & (self.high >= grade))

    def table(self) -> pa.Table:
        """The ``schools`` table of CONTRACT §1."""
        n = len(self)
        return pa.table(
            {
                "school_id": pa.array(self.school_id, pa.string()),
                "school_name": pa.array(self.name, pa.string()),
                "district_id": pa.array([self.district_id] * n, pa.string()),
                "district_name": pa.array([self.district_name] * n, pa.string()),
                "school_level": pa.array(self.level.tolist(), pa.string()),
                "county": pa.array([self.county] * n, pa.string()),
            }
        )


def build_schools(n_students: int, rng: np.random.Generator) -> Schools:
    """Middle (6-8) and high (9-12) schools and one 6-12 academy, sized to enrollment.

    One middle school per ~700 students in grades 6-8 and one high school per ~1,200 in
    grades 9-12 (at least two of each). The academy grades with full-year finals; the
    second high school grades on a 0-100 scale; the first high school grades PE pass/no
    pass; every other high school (the first, third, ...) sends an official GPA.
    """
    share = GRADE_WEIGHTS / GRADE_WEIGHTS.sum()
    n_ms = max(2, round(n_students * share[:3].sum() * 0.93 / 700))
    n_hs = max(2, round(n_students * share[3:].sum() * 0.93 / 1200))
    level = np.array(["middle"] * n_ms + ["high"] * n_hs + ["span"])
    n = len(level)
    low = np.where(level == "high", 9, 6)
    high = np.where(level == "middle", 8, 12)
    weight = rng.lognormal(0.0, 0.3, n)
    weight[-1] = 0.08 / 0.92 * weight[:n_ms].sum()  # academy: ~8% of middle graders
    feeder = np.full(n, -1)
    feeder[:n_ms] = n_ms + np.arange(n_ms) % n_hs
    numbers = rng.choice(np.arange(1, max(1000, 5 * n)), size=n, replace=False)
    numbers.sort()
    ids = tuple(f"{x:04d}" for x in numbers)
    places = rng.permutation(len(_PLACES))
    suffix = {"middle": "Middle School", "high": "High School", "span": "Academy"}
    names = []
    for i, lev in enumerate(level):
        place = _PLACES[places[i % len(_PLACES)]]
        extra = f" {i // len(_PLACES) + 1}" if i >= len(_PLACES) else ""
        names.append(f"{place}{extra} {suffix[lev]}")
    hs = np.flatnonzero(level == "high")
    numeric = np.zeros(n, bool)
    numeric[hs[1]] = True
    pass_fail = np.zeros(n, bool)
    pass_fail[hs[0]] = True
    gpa = np.zeros(n, bool)
    gpa[hs[::2]] = True
    return Schools(
        school_id=ids,
        name=tuple(names),
        level=level,
        low=low,
        high=high,
        weight=weight,
        feeder=feeder,
        eng_effect=rng.normal(0.0, 0.12, n),
        grading=rng.normal(0.0, 0.08, n),
        discipline=rng.normal(0.0, 0.30, n),
        numeric_marks=numeric,
        year_long=level == "span",
        pass_fail_pe=pass_fail,
        reports_gpa=gpa,
        district_id=f"06{rng.integers(10000, 100000):05d}",
    )


def grade_targets(n_students: int) -> np.ndarray:
    """Enrollment that each of grades 6..12 is topped up to at the start of a year.

    Slightly below the share of ``n_students``: late entrants and the minimum inflow
    into every grade add about 4% during the year.
    """
    return 0.96 * n_students * GRADE_WEIGHTS / GRADE_WEIGHTS.sum()


@dataclass
class Population:
    """Every student the simulation has created, as growing parallel numpy arrays."""

    cols: dict[str, np.ndarray] = field(default_factory=dict)
    next_id: int = 1000

    def __len__(self) -> int:
        return len(self.cols["sid"]) if self.cols else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def add(self, new: dict[str, np.ndarray]) -> np.ndarray:
        """Append students; return their indices."""
        start = len(self)
        if not self.cols:
            self.cols = {k: np.asarray(v) for k, v in new.items()}
        else:
            for k, v in new.items():
                self.cols[k] = np.concatenate([self.cols[k], np.asarray(v)])
        return np.arange(start, len(self))


def student_id_strings(sid: np.ndarray) -> pa.Array:
    """Student numbers as 8-character strings with leading zeros."""
    return pc.utf8_lpad(pa.array(sid, pa.int64()).cast(pa.string()), 8, "0")


def new_students(
    pop: Population,
    grade: np.ndarray,
    school: np.ndarray,
    school_year: int,
    rng: np.random.Generator,
    *,
    migrant: bool,
) -> np.ndarray:
    """Create students entering ``grade`` at ``school`` in ``school_year``.

    Ages follow the Sep 1 cut-off, with 4% over-age at entry (8% for high-school
    entrants). ``migrant`` marks students moving in from outside the district: slightly
    lower engagement and more likely to move again.
    """
    n = len(grade)
    grade = np.asarray(grade, np.int64)
    gaps = rng.integers(1, 17, n)
    sid = pop.next_id + np.cumsum(gaps)
    pop.next_id = int(sid[-1]) if n else pop.next_id
    who = _demographics(grade, school_year, rng, migrant=migrant)
    a0, e0, credits = _starting_point(who, grade, rng, migrant=migrant)
    first9 = np.where(grade >= 9, school_year - (grade - 9), 0)
    f32 = np.float32
    return pop.add(
        {
            "sid": sid.astype(np.int64),
            **who,
            "a0": a0.astype(f32),
            "e0": e0.astype(f32),
            "a": a0.astype(f32),
            "e": e0.astype(f32),
            **_habits(who["gender"], rng, migrant=migrant),
            "grade": grade.astype(np.int8),
            "school": np.asarray(school, np.int16),
            "active": np.ones(n, bool),
            "fresh": np.ones(n, bool),
            "first9": first9.astype(np.int16),
            "credits": credits.astype(f32),
            "years12": np.zeros(n, np.int8),
            "carry": np.zeros(n, f32),
            "mentored": np.zeros(n, np.int16),  # school year of 8th-grade mentoring
            "susp_last": np.zeros(n, bool),
            "in_output": np.zeros(n, bool),
            "hs_output": np.zeros(n, bool),
            "outcome": np.zeros(n, np.int8),
            "outcome_day": np.zeros(n, np.int32),
        }
    )


def _demographics(
    grade: np.ndarray, school_year: int, rng: np.random.Generator, *, migrant: bool
) -> dict[str, np.ndarray]:
    """Gender, race, birth day (days since the epoch) and subgroup flags of entrants."""
    n = len(grade)
    gender = rng.choice(3, n, p=GENDER_P).astype(np.int8)
    race = rng.choice(len(RACES), n, p=RACE_P).astype(np.int8)
    over_age = rng.random(n) < np.where(grade >= 9, 0.08, 0.04)
    birth_year = school_year - 1 - grade - 6 - over_age
    year = (birth_year - 1970).astype("datetime64[Y]")
    sept2 = (year.astype("datetime64[M]") + 8).astype("datetime64[D]") + 1
    birth = (sept2 + rng.integers(0, 365, n)).astype(np.int32)
    sed = rng.random(n) < np.take(RACE_SED_P, race)
    el_p = np.take(RACE_EL_P, race) * np.clip(1.25 - 0.1 * (grade - 6), 0.6, 1.25)
    el = rng.random(n) < el_p * (1.3 if migrant else 1.0)
    swd = rng.random(n) < np.where(gender == 1, 0.15, 0.085)
    housing_risk = sed & (rng.random(n) < 0.11)
    foster_risk = rng.random(n) < 0.015
    return {
        "gender": gender,
        "race": race,
        "birth": birth,
        "sed": sed,
        "el": el,
        "swd": swd,
        "housing_risk": housing_risk,
        "foster_risk": foster_risk,
    }


def _starting_point(
    who: dict[str, np.ndarray],
    grade: np.ndarray,
    rng: np.random.Generator,
    *,
    migrant: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entrants' starting achievement ``a0`` and engagement ``e0`` (correlated, shifted
    by subgroup) and the credits a high-school entrant brings."""
    sed, el, swd = who["sed"], who["el"], who["swd"]
    z = rng.multivariate_normal([0, 0], [[1, 0.45], [0.45, 1]], len(grade))
    # Subgroup shifts are centred on the district's rates, so the traits stay ~N(0, 1).
    a0 = z[:, 0] - 0.30 * (sed - 0.6) - 0.35 * (el - 0.2) - 0.45 * (swd - 0.13)
    unstable = (who["housing_risk"] | who["foster_risk"]) - 0.07
    e0 = z[:, 1] - 0.15 * (sed - 0.6) - 0.10 * (swd - 0.13) - 0.35 * unstable
    e0 = e0 - (0.10 if migrant else 0.0)
    hs_years = np.clip(grade - 9, 0, 3)
    fail_p = 1 / (1 + np.exp(3.2 + 1.2 * a0 + 0.8 * e0))
    credits = 6.0 * hs_years - 0.5 * rng.binomial(12 * hs_years, fail_p)
    return a0, e0, credits


def _habits(
    gender: np.ndarray, rng: np.random.Generator, *, migrant: bool
) -> dict[str, np.ndarray]:
    """Personal trends and propensities: achievement and engagement slopes, tardiness,
    mobility and conduct."""
    n, f32 = len(gender), np.float32
    return {
        "slope_a": rng.normal(0, 0.08, n).astype(f32),
        "slope_e": rng.normal(0, 0.12, n).astype(f32),
        "tardy": rng.normal(0, 0.6, n).astype(f32),
        "mobility": (rng.normal(0, 0.5, n) + (0.3 if migrant else 0.0)).astype(f32),
        "conduct": (rng.normal(0, 0.6, n) + 0.35 * (gender == 1)).astype(f32),
    }


def pick_school(
    schools: Schools, grade: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A school serving each student's grade, drawn in proportion to school size."""
    out = np.empty(len(grade), np.int16)
    for g in np.unique(grade):
        idx = np.flatnonzero(grade == g)
        cand = schools.serving(int(g))
        p = schools.weight[cand] / schools.weight[cand].sum()
        out[idx] = rng.choice(cand, len(idx), p=p)
    return out


def other_school(
    schools: Schools, grade: np.ndarray, current: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A different school serving the same grade, drawn in proportion to size."""
    out = np.empty(len(grade), np.int16)
    for g, s in {(int(g), int(s)) for g, s in zip(grade, current, strict=True)}:
        rows = np.flatnonzero((grade == g) & (current == s))
        cand = schools.serving(g)
        cand = cand[cand != s]
        p = schools.weight[cand] / schools.weight[cand].sum()
        out[rows] = rng.choice(cand, len(rows), p=p)
    return out
