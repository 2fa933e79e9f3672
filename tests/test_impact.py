"""Impact estimates (issue 16 item 6): constructed cases with a known answer, suppression,
the words when nothing can be said, the report section, and the acceptance test: the
regression discontinuity on the synthetic district covers the effect it was generated with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ontrack.reports.district.impact import impact_section

from ontrack.config import config_from_dict, load_config
from ontrack.impact import IMPACT_FILE, run_impact
from ontrack.impact.data import VALUE_COLUMNS, build_study, history_risk, outcomes
from ontrack.impact.discontinuity import estimate
from ontrack.impact.matching import compare
from ontrack.impact.run import (
    ASSOCIATION,
    NO_HISTORY,
    NO_TABLE,
    TOO_FEW_SERVED,
    cutoff_entry,
    discontinuity_rows,
    matched_entry,
)
from ontrack.support_settings import ImpactCutoff
from ontrack.validation import validate_directory
from ontrack.validation.store import open_validated


def _jump(treated: str, n: int = 1000, seed: int = 1) -> tuple[np.ndarray, ...]:
    """Outcome 0.5 + 0.4 x, plus 0.2 for the served side of the cutoff at 0."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.3, 0.3, n)
    served = x < 0 if treated == "below" else x >= 0
    y = 0.5 + 0.2 * served + 0.4 * x + rng.normal(0, 0.05, n)
    return y, x, served


@pytest.mark.parametrize("treated", ["below", "above"])
def test_rdd_recovers_a_jump_of_0_2_served_minus_not_served(treated: str) -> None:
    y, x, served = _jump(treated)
    found = estimate(y, x, served, treated=treated)
    assert found.design == "sharp"
    assert found.ci[0] <= 0.2 <= found.ci[1]
    assert found.ci[0] > 0, "help that helps must read > 0 on either side of the cutoff"
    assert 0 < found.bandwidth < 0.3 and min(found.n_served_side, found.n_other_side) > 50
    assert found.density_p_value is not None and found.density_p_value > 0.05


def test_rdd_is_fuzzy_when_some_below_the_cutoff_were_not_served() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    x = rng.uniform(-0.3, 0.3, n)
    served = (x < 0) & (rng.uniform(size=n) < 0.7)
    y = 0.5 + 0.2 * served + 0.4 * x + rng.normal(0, 0.05, n)
    found = estimate(y, x, served, treated="below")
    assert found.design == "fuzzy"
    assert found.ci[0] <= 0.2 <= found.ci[1] and found.ci[0] > 0


def _rows(n: int, n_served: int | None = None, seed: int = 3) -> pd.DataFrame:
    """Students of two grade-year cells; low attendance makes service likelier and the
    outcome worse (confounding), and service adds 0.15 to the chance of being on track."""
    rng = np.random.default_rng(seed)
    attendance = rng.uniform(0.75, 1.0, n)
    p_served = 1 / (1 + np.exp(-(-1.0 - 12 * (attendance - 0.9))))
    served = rng.uniform(size=n) < p_served
    if n_served is not None:
        served = np.zeros(n, dtype=bool)
        served[:n_served] = True
    p_on_track = np.clip(0.25 + 2.2 * (attendance - 0.75) + 0.15 * served, 0, 1)
    frame = pd.DataFrame({
        "student_id": [f"S{i:05d}" for i in range(n)], "served": served,
        "grade_level": 8, "school_year": rng.choice([2023, 2024], n),
        "rule_status": np.where(attendance >= 0.96, "met", "not_met"),
        "risk": np.nan, "on_track_9": (rng.uniform(size=n) < p_on_track).astype(float),
        "intervention_type": "mentoring",
    })
    for col in VALUE_COLUMNS.values():
        frame[col] = np.nan
    frame["attendance_rate"] = attendance
    return frame


def test_weighted_comparison_recovers_a_known_effect_that_the_raw_difference_misses() -> None:
    rows = _rows(3000)
    raw = rows.loc[rows["served"], "on_track_9"].mean() - rows.loc[~rows["served"], "on_track_9"].mean()
    found = compare(rows, n_boot=200)
    assert raw < 0.05, "the constructed confounding must hide the effect in the raw difference"
    assert found.ci[0] <= 0.15 <= found.ci[1]
    assert found.ci[0] > 0.0
    assert found.n_served + found.n_comparison == 3000
    assert found.max_abs_std_diff < 0.1


def test_a_side_below_the_minimum_group_size_is_withheld() -> None:
    rows = _rows(400, n_served=12)
    config = config_from_dict({"reporting": {"min_group_size": 20}})
    entry = matched_entry(rows, config)
    assert entry["n_served"] == "fewer than 20" and entry["n_comparison"] == 388
    assert entry["why"] == TOO_FEW_SERVED and not entry["estimable"]
    assert entry["served_rate"] is None and entry["effect"] is None and entry["ci_low"] is None
    assert entry["label"] == ASSOCIATION
    text = json.dumps(entry)
    assert "S000" not in text, "no student ID may reach impact.json"


def test_a_support_given_past_a_cutoff_gets_no_weighted_effect() -> None:
    rows = _rows(600)
    rows["served"] = rows["attendance_rate"] < 0.9  # everyone below, nobody above: no overlap
    entry = matched_entry(rows, load_config())
    assert entry["balanced"] is False and entry["balance_max_std_diff"] > 0.25
    assert entry["effect"] is None and entry["ci_low"] is None and not entry["estimable"]
    assert entry["served_rate"] is not None and "impact.cutoffs" in entry["why"]


def test_no_interventions_table_says_so(tmp_path: Path, tiny_district: Path) -> None:
    config = load_config()
    validate_directory(tiny_district, tmp_path / "out", config)
    written = run_impact(tmp_path / "out", config)
    on_disk = json.loads((tmp_path / "out" / IMPACT_FILE).read_text(encoding="utf-8"))
    assert on_disk["status"] == written["status"] == "not_estimable"
    assert on_disk["why"] == NO_TABLE and on_disk["interventions"] == []
    html = impact_section(tmp_path / "out")
    assert "no interventions table" in html and "Nothing could be estimated" in html  # the section heading ("Did support help?") is the report's


def test_the_report_section_escapes_the_district_s_words(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script>'
    payload = {
        "confidence": 0.95, "min_group_size": 20, "why": None, "status": "ok",
        "interventions": [{
            "intervention_type": hostile,
            "matched": {"n_served": 40, "n_comparison": "fewer than 20", "served_rate": 0.5,
                        "comparison_rate": None, "effect": None, "ci_low": None,
                        "ci_high": None, "why": "too few comparable students not served",
                        "balanced": None},
            "discontinuity": [{"variable": "readiness.attendance", "treated": "below",
                               "threshold": 0.92, "as_of": "01-31", "n_served_side": 30,
                               "n_other_side": 45, "effect": 0.1, "ci_low": -0.1,
                               "ci_high": 0.3, "bandwidth": 0.05, "design": "sharp",
                               "density_p_value": 0.01, "why": None}],
        }],
    }
    (tmp_path / "impact").mkdir()
    (tmp_path / IMPACT_FILE).write_text(json.dumps(payload), encoding="utf-8")
    html = impact_section(tmp_path)
    assert hostile not in html and "&lt;script&gt;" in html
    assert "association, not proof" in html
    assert "fewer than 20" in html and "+10.0 pts" in html and "-10.0 to +30.0 pts" in html
    assert "within 0.05 of the cutoff" in html and "bunch on one side" in html


def test_risk_before_the_start_comes_from_the_history_and_a_risk_cutoff_needs_it(tmp_path: Path) -> None:
    rows = _rows(60).assign(start_date=pd.Timestamp("2024-02-10"), district_id="D1")
    cutoff = ImpactCutoff(intervention_type="mentoring", variable="risk:grade8", as_of="01-31",
                          threshold=0.5, treated="above")
    entry = cutoff_entry(None, load_config(), tmp_path, rows, cutoff)
    assert entry["why"] == NO_HISTORY and not entry["estimable"]
    (tmp_path / "history").mkdir()
    pd.DataFrame({  # text dates, as the history stores them; one score after the start
        "student_id": ["S00000", "S00000", "S00000", "S00001"], "model": ["grade8", "grade8", "grade9", "grade8"],
        "as_of_date": ["2023-10-31", "2024-01-31", "2024-02-01", "2024-06-30"], "risk": [0.2, 0.4, 0.9, 0.7],
    }).to_parquet(tmp_path / "history" / "scores.parquet")
    found = history_risk(tmp_path, rows.head(3), rows.head(3)["start_date"])
    assert found.iloc[0] == 0.9 and np.isnan(found.iloc[1]) and np.isnan(found.iloc[2])
    found = history_risk(tmp_path, rows.head(2), rows.head(2)["start_date"], model="grade8")
    assert found.iloc[0] == 0.4 and np.isnan(found.iloc[1])


# The acceptance test's district: big enough that ~70 served students sit near the
# cutoff, small enough to run in well under 20 s (measured: docs/impact.md).
ACCEPTANCE = {"n_students": 4000, "n_years": 5, "seed": 2}
_UNUSED = ("assessments", "caseloads", "outcomes", "discipline")  # no part of either value


def _without_support(data: Path, target: Path, students: pd.Series) -> Path:
    """The tables on-track reads, with course_marks as they would have been without
    support, for ``students`` only: each student's outcome reads only that student's
    rows (as ``ontrack.dataset.asof.scoped`` relies on), and validating the whole
    district a second time took a third of the test."""
    target.mkdir()
    wanted = set(students.astype(str))

    def theirs(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["student_id"].astype(str).isin(wanted)]

    shutil.copy(data / "schools.parquet", target)
    for name in ("students", "enrollments", "student_years"):
        theirs(pd.read_parquet(data / f"{name}.parquet")).to_parquet(target / f"{name}.parquet", index=False)
    truth = theirs(pd.read_parquet(data / "_truth" / "course_marks_without_support.parquet"))
    marks = theirs(pd.read_parquet(data / "course_marks.parquet"))
    changed = truth[["student_id", "school_year"]].drop_duplicates().assign(changed=True)
    kept = marks.merge(changed, on=["student_id", "school_year"], how="left")
    kept = kept[kept["changed"].isna()].drop(columns="changed")
    pd.concat([kept, truth], ignore_index=True).to_parquet(target / "course_marks.parquet", index=False)
    return target


@pytest.mark.slow
def test_rdd_on_the_synthetic_district_covers_the_effect_it_was_generated_with(tmp_path: Path) -> None:
    from ontrack.synth import generate_district

    data = tmp_path / "data"
    generate_district(data, **ACCEPTANCE)
    for name in _UNUSED:
        (data / f"{name}.parquet").unlink()
    spec = json.loads((data / "_synth.json").read_text(encoding="utf-8"))["interventions"]
    cutoff = ImpactCutoff(**spec["mentoring"]["cutoff"])
    config = config_from_dict({"impact": {"cutoffs": [cutoff.model_dump()]}})
    validate_directory(data, tmp_path / "out", config)
    con = open_validated(tmp_path / "out", config)
    cache: dict = {}
    rows = build_study(con, config, tmp_path / "out", types=[cutoff.intervention_type], cache=cache)
    entry = cutoff_entry(con, config, tmp_path / "out", rows, cutoff, cache)
    assert entry["estimable"], entry["why"]
    assert entry["design"] == "sharp", "the generator serves exactly the students below the cutoff"

    # The truth: the served students near the cutoff, on track as observed minus on
    # track as ontrack's own indicators compute it from the marks without support.
    near = discontinuity_rows(con, config, tmp_path / "out", rows, cutoff, cache)
    near = near[near["served"] & (near["x"].abs() <= entry["bandwidth"])].copy()
    validate_directory(_without_support(data, tmp_path / "cf", near["student_id"]), tmp_path / "out_cf", config)
    near["without"] = outcomes(open_validated(tmp_path / "out_cf", config), config, near)[
        "on_track_9"].to_numpy()
    near = near.dropna(subset=["on_track_9", "without"])
    true_effect = near["on_track_9"].mean() - near["without"].mean()
    assert true_effect > 0.05, "the generated support must help near the cutoff"
    assert entry["ci_low"] <= true_effect <= entry["ci_high"], (entry, true_effect)
    assert entry["ci_high"] - entry["ci_low"] < 0.8


@pytest.mark.slow
def test_impact_on_the_shared_synthetic_district_names_no_student(tmp_path: Path, synthetic_district: Path,
                                                                  trained_grade8: dict) -> None:
    spec = json.loads((synthetic_district / "_synth.json").read_text(encoding="utf-8"))["interventions"]
    config = config_from_dict({"impact": {"cutoffs": [spec["mentoring"]["cutoff"]]}})
    out = tmp_path / "out"
    # The shared district as the session already validated it (the impact cutoffs play
    # no part in validation): a copy, so that the shared output stays as it came.
    shutil.copytree(trained_grade8["out"] / "validated", out / "validated")
    written = run_impact(out, config)
    assert {i["intervention_type"] for i in written["interventions"]} == set(spec) - {"truth", "truth_rows"}
    tutoring = next(i["matched"] for i in written["interventions"] if i["intervention_type"] == "tutoring")
    assert tutoring["estimable"] and tutoring["balanced"], "tutoring is given at random: the sides are alike"
    assert tutoring["effect"] > 0 and tutoring["ci_high"] > 0, "tutoring lifts marks (_synth.json)"
    text = (out / IMPACT_FILE).read_text(encoding="utf-8")
    students = pd.read_parquet(synthetic_district / "students.parquet")
    for column in ("student_id", "first_name", "last_name"):
        if column in students:
            leaked = [v for v in students[column].dropna().astype(str) if len(v) > 2 and f'"{v}"' in text]
            assert not leaked, f"{column} values reached impact.json: {leaked[:3]}"
    html = impact_section(out)
    assert html.count('data-kind="matched"') == len(written["interventions"])
    assert html.count('data-kind="discontinuity"') == 1
