"""Small-cell suppression: nothing below the minimum is published, nothing withheld is
recoverable from the published rows and the totals they must add up to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ontrack.config import config_from_dict
from ontrack.indicators import GROUP_FLAGS, indicator_rates

MIN = 10
CONFIG = config_from_dict({"reporting": {"min_group_size": MIN}})
RACES = ("asian", "black", "hispanic", "white", None)
GENDERS = ("F", "M", None)


def make(students: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(student indicator frame, student group frame) from compact student dicts."""
    rows, groups = [], []
    for i, s in enumerate(students):
        sid = f"s{i:04d}"
        rows.append({"student_id": sid, "district_id": s.get("district", "D1"),
                     "school_id": s["school"], "school_year": 2024, "grade_level": 8,
                     "indicator": "hs_readiness_8", "status": s["status"]})
        groups.append({"student_id": sid, "school_year": 2024, "race_ethnicity": s.get("race"),
                       "gender": s.get("gender"),
                       **{f: s.get(f, False) for f in GROUP_FLAGS}})
    return pd.DataFrame(rows), pd.DataFrame(groups)


def cohort(school: str, n: int, status: str = "met", **attrs) -> list[dict]:
    return [{"school": school, "status": status, "race": "white", "gender": "F", **attrs}] * n


def cell(rates: pd.DataFrame, level="school", school="A", gtype="all", group="all") -> pd.Series:
    sel = (rates["level"] == level) & (rates["group_type"] == gtype) & (rates["group"] == group)
    if level == "school":
        sel &= rates["school_id"] == school
    (found,) = rates[sel].itertuples(index=False)
    return pd.Series(found._asdict())


def test_small_group_is_withheld_entirely_and_logged():
    students = cohort("A", 30) + cohort("A", 4, english_learner=True)
    rates, log = indicator_rates(*make(students), CONFIG)
    el = cell(rates, gtype="english_learner", group="yes")
    assert el.suppressed and el.suppression == "primary"
    assert pd.isna(el.n) and pd.isna(el.n_met) and pd.isna(el.rate) and pd.isna(el.n_unknown)
    assert ((log["group_type"] == "english_learner") & (log["suppression"] == "primary")).any()
    # The complement (not EL) is never published, so EL needs no second cell withheld.
    assert not cell(rates).suppressed


def test_small_complement_of_a_flag_withholds_the_flag():
    """34 EL and 4 non-EL: publishing all and EL would reveal the 4 by subtraction."""
    students = cohort("A", 34, english_learner=True) + cohort("A", 4, status="not_met")
    rates, log = indicator_rates(*make(students), CONFIG)
    el = cell(rates, gtype="english_learner", group="yes")
    assert el.suppressed and el.suppression == "complementary"
    assert "english_learner=no" in log.loc[log["suppression"] == "complementary", "why"].iloc[0]


def test_one_small_race_withholds_the_next_smallest():
    students = (cohort("A", 40, race="white") + cohort("A", 25, race="asian")
                + cohort("A", 12, race="black") + cohort("A", 3, race="hispanic"))
    rates, _ = indicator_rates(*make(students), CONFIG)
    shown = {g: cell(rates, gtype="race_ethnicity", group=g).suppression
             for g in ("white", "asian", "black", "hispanic")}
    assert shown == {"white": "", "asian": "", "black": "complementary", "hispanic": "primary"}
    assert not cell(rates).suppressed


def test_school_cell_is_protected_across_the_district_total():
    students = (cohort("A", 30) + cohort("A", 3, foster_youth=True)
                + cohort("B", 30) + cohort("B", 15, foster_youth=True))
    rates, _ = indicator_rates(*make(students), CONFIG)
    assert cell(rates, school="A", gtype="foster_youth", group="yes").suppression == "primary"
    # district foster = A + B: one of them must go too
    b = cell(rates, school="B", gtype="foster_youth", group="yes")
    district = cell(rates, level="district", gtype="foster_youth", group="yes")
    assert b.suppressed or district.suppressed


def test_unknown_status_is_not_counted_in_n():
    students = cohort("A", 25) + cohort("A", 5, status="unknown") + cohort("A", 5, status="not_met")
    rates, _ = indicator_rates(*make(students), CONFIG)
    all_a = cell(rates)
    assert (all_a.n, all_a.n_met, all_a.n_unknown, all_a.rate) == (30, 25, 5, pytest.approx(0.8333))


# --- the property: no withheld value can be recovered --------------------------------

def attacker_equations(rates: pd.DataFrame) -> tuple[list[dict], list[tuple]]:
    """Equations a reader can write from the published rows alone.

    Unknowns: every withheld row, and the never-published "not flagged" count of every
    unit and flag. Rows that are absent are zero. Returns (equations as {cell: coef},
    unknown cell keys).
    """
    value = {}
    unknown = []
    for r in rates.itertuples(index=False):
        unit = r.school_id if r.level == "school" else f"district {r.district_id}"
        key = (unit, r.group_type, r.group)
        if r.suppressed:
            unknown.append(key)
        else:
            value[key] = float(r.n_met)
    units = {(r.school_id if r.level == "school" else f"district {r.district_id}")
             for r in rates.itertuples(index=False)}
    for unit in units:
        for flag in GROUP_FLAGS:
            unknown.append((unit, flag, "no"))
    equations = []
    by_unit_type: dict[tuple, dict] = {}
    for key in [*value, *unknown]:
        unit, gtype, _ = key
        if gtype != "all":
            by_unit_type.setdefault((unit, gtype), {})[key] = -1.0
    for (unit, _gtype), parts in by_unit_type.items():
        equations.append({(unit, "all", "all"): 1.0, **parts})
    schools = {u for u in units if not u.startswith("district")}
    districts = {u for u in units if u.startswith("district")}
    groups = {(k[1], k[2]) for k in [*value, *unknown]}
    school_district = dict(zip(rates["school_id"], rates["district_id"], strict=False))
    for dist in districts:
        mine = [s for s in schools if f"district {school_district[s]}" == dist]
        for gtype, group in groups:
            eq = {(dist, gtype, group): 1.0}
            eq.update({(s, gtype, group): -1.0 for s in mine})
            equations.append(eq)
    return equations, unknown


def recoverable(rates: pd.DataFrame) -> list[tuple]:
    """Unknown cells whose n_met the equations pin down: column j is outside the span of
    the other unknowns' columns exactly when removing it lowers the rank."""
    equations, unknown = attacker_equations(rates)
    index = {k: j for j, k in enumerate(unknown)}
    matrix = np.zeros((len(equations), len(unknown)))
    for i, eq in enumerate(equations):
        for key, coef in eq.items():
            if key in index:
                matrix[i, index[key]] = coef
    full = np.linalg.matrix_rank(matrix)
    exposed = []
    for key, j in index.items():
        if np.linalg.matrix_rank(np.delete(matrix, j, axis=1)) < full:
            exposed.append(key)
    return exposed


student = st.fixed_dictionaries(
    {
        "school": st.sampled_from(["A", "B", "C"]),
        "status": st.sampled_from(["met", "met", "not_met", "unknown"]),
        "race": st.sampled_from(RACES),
        "gender": st.sampled_from(GENDERS),
        "english_learner": st.booleans(),
        "foster_youth": st.sampled_from([False, False, False, True]),
    }
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(student, min_size=25, max_size=120))
def test_no_cell_below_minimum_and_no_withheld_value_recoverable(students):
    for s in students:  # two districts: A and B in D1, C alone in D2
        s["district"] = "D2" if s["school"] == "C" else "D1"
    frame, groups = make(students)
    rates, log = indicator_rates(frame, groups, CONFIG)
    published = rates[~rates["suppressed"]]
    assert (published["n"] >= MIN).all()
    assert rates.loc[rates["suppressed"], ["n", "n_met", "rate", "n_unknown"]].isna().all().all()
    assert len(log) == int(rates["suppressed"].sum())
    # No withheld row with students behind it, and no never-published "not flagged"
    # count below the minimum, may be recoverable. (A row whose students all have an
    # unknown status has n = 0: there is nothing to disclose.)
    true_n = _true_n(frame, groups)
    exposed = [
        k for k in recoverable(rates)
        if true_n.get(k, 0) > 0 and (k[2] != "no" or true_n[k] < MIN)
    ]
    assert exposed == []


def _true_n(frame: pd.DataFrame, groups: pd.DataFrame) -> dict[tuple, int]:
    """Students with a known status per (unit, group type, group), computed directly."""
    data = frame.merge(groups, on=["student_id", "school_year"])
    data = data[data["status"] != "unknown"]
    counts: dict[tuple, int] = {}
    for r in data.itertuples(index=False):
        cats = [("all", "all"), ("race_ethnicity", r.race_ethnicity or "not_reported"),
                ("gender", r.gender or "not_reported")]
        cats += [(f, "yes" if getattr(r, f) else "no") for f in GROUP_FLAGS]
        for unit in (r.school_id, f"district {r.district_id}"):
            for gtype, group in cats:
                counts[(unit, gtype, group)] = counts.get((unit, gtype, group), 0) + 1
    return counts


def test_published_counts_are_exact():
    students = cohort("A", 30, race="asian") + cohort("A", 22, status="not_met", race="white")
    frame, groups = make(students)
    rates, _ = indicator_rates(frame, groups, CONFIG)
    for (gtype, group), (n, met) in {("all", "all"): (52, 30), ("race_ethnicity", "asian"): (30, 30),
                                     ("race_ethnicity", "white"): (22, 0)}.items():
        c = cell(rates, gtype=gtype, group=group)
        assert (c.n, c.n_met, c.suppressed) == (n, met, False)


def test_exact_check_catches_what_single_equations_miss():
    """a + b and a + b + d are both published totals: each equation has two unknowns,
    yet d is their difference. The exact check must see it."""
    from ontrack.indicators.suppression import _recoverable

    equations = [[(0, 1.0), (1, 1.0)], [(0, 1.0), (1, 1.0), (2, 1.0)]]
    hidden = np.array([True, True, True])
    protected = np.array([True, True, True])
    assert [cell for cell, _ in _recoverable(equations, hidden, protected)] == [2]
    hidden = np.array([True, True, False])
    assert _recoverable(equations, hidden, np.array([True, True, False])) == []
