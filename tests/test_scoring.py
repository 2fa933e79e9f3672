"""Scoring and rosters end to end on a small synthetic district, and their pieces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openpyxl
from ontrack.reports.roster_values import label
import pandas as pd
import pytest
import shap

from ontrack.cli import main
from ontrack.config import Config, ScoringConfig
from ontrack.errors import ModelContractError
from ontrack.modeling import tracking
from ontrack.reports.publish import score_and_publish
from ontrack.scoring import assign_tiers, model_inputs, population_stability, top_reasons
from ontrack.scoring.alerts import alert_texts
from ontrack.scoring.drift import stability_problem
from ontrack.scoring.tiers import change_since, risk_change
from tests.shared_outputs import TRAIN_CONFIG as CONFIG
from tests.shared_outputs import clone_output


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, trained_grade8: dict) -> dict:
    """The session's trained grade-8 model (a champion, forced if it failed its gate, to
    exercise model-ranked rosters all the same), copied here and scored."""
    root = tmp_path_factory.mktemp("score")
    out = clone_output(trained_grade8["out"], root / "out")
    data, config = trained_grade8["data"], trained_grade8["config"]
    first = score_and_publish(out, config, model="grade8")
    return {"root": root, "data": data, "out": out, "config": config, "first": first}


def test_contributions_are_exact_additive_and_agree_with_shap(scored: dict) -> None:
    client = tracking.connect(scored["config"], scored["out"])
    loaded, _ = tracking.load_registered(client, "ontrack-grade8", "champion")
    X = pd.read_parquet(scored["out"] / "features" / "grade8" / "matrix.parquet")[loaded.feature_names]
    contributions = loaded.contributions(X)
    assert np.allclose(contributions.sum(axis=1).to_numpy(), loaded.decision_function(X), atol=1e-9)
    explainer = shap.TreeExplainer(loaded.booster)
    values = explainer.shap_values(X.iloc[:200])
    values = values[1] if isinstance(values, list) else values
    assert np.allclose(values, contributions.iloc[:200, :-1].to_numpy(), atol=1e-6)
    assert np.allclose(np.ravel(explainer.expected_value)[-1], contributions["base_value"].iloc[0], atol=1e-6)


def test_rosters_have_the_contract_columns_and_open(scored: dict) -> None:
    folder = scored["out"] / "rosters"
    schools = sorted(p.stem for p in folder.glob("*.csv"))
    assert schools, "no school rosters"
    frame = pd.read_csv(folder / f"{schools[0]}.csv", dtype=str)
    for column in ("student_id", "grade_level", "model", "risk", "risk_tier", "rule_status",
                   "rule_gpa_ok", "rule_attendance_ok", "reason_1", "reason_2", "reason_3",
                   "model_version", "as_of_date", "expires", "config_hash", "change", "alerts"):
        assert column in frame.columns, column
    risk = frame["risk"].astype(float)
    assert risk.between(0, 1).all()
    assert (frame["school_id"] == schools[0]).all()
    book = openpyxl.load_workbook(folder / f"{schools[0]}.xlsx")
    sheet = book["roster"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[: len(frame.columns)] == [label(c) for c in frame.columns]  # human headers
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    page = (folder / f"{schools[0]}.html").read_text(encoding="utf-8")
    assert "<script" in page and not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    assert frame["student_id"].iloc[0] in page


def test_reasons_are_risk_raising_malleable_and_never_protected(scored: dict) -> None:
    roster = scored["first"].roster
    contract_reasons = set()
    for column in ("reason_1", "reason_2", "reason_3"):
        contract_reasons |= set(roster[column]) - {""}
    assert contract_reasons, "no reasons at all"
    protected = ("English learner", "disability", "Socioeconomically", "gender", "race", "ethnic")
    history = ("last year", "days ago", "changed schools", "dropped", "{")  # context, not reasons
    for text in contract_reasons:
        assert not any(word.lower() in text.lower() for word in protected), text
        if not text.startswith("Context: "):
            plain = text.lower().replace("from last year", "")  # a change this year is a reason
            assert not any(word in plain for word in history), text
        assert not re.search(r"[+-]\d", text), text  # a direction word, never a signed number
    # The model's contract carries each feature's direction (reasons.explain reads it).
    contract = json.loads((scored["out"] / "models" / "grade8" / "bundle" / "model.json").read_text())
    assert contract["risk_when"]["marks_trend"] == "low" and contract["healthy"]["marks_trend"] == 0
    assert not contract["malleable"]["ela_level_prior_year"]
    # A student has at most one reason per domain: never two attendance reasons.
    attendance = roster[["reason_1", "reason_2", "reason_3"]].apply(
        lambda row: sum(("ttend" in r or "bsent" in r) for r in row), axis=1)
    assert attendance.max() <= 1


def test_top_reasons_filter_and_group_by_domain() -> None:
    # A contract from before directions were declared (no risk_when / healthy): still scores.
    contract = {
        "features": ["attendance_rate_ytd", "days_absent_ytd", "gpa_ytd", "age_for_grade",
                     "english_learner", "incidents_ytd"],
        "groups": {"attendance_rate_ytd": "attendance", "days_absent_ytd": "attendance",
                   "gpa_ytd": "coursework", "age_for_grade": "enrollment",
                   "english_learner": "enrollment", "incidents_ytd": "behavior"},
        "malleable": {"attendance_rate_ytd": True, "days_absent_ytd": True, "gpa_ytd": True,
                      "age_for_grade": False, "english_learner": True, "incidents_ytd": True},
        "reasons": {"attendance_rate_ytd": "Attended {value:.0%} of school days this year",
                    "days_absent_ytd": "Absent {value:.0f} days this year",
                    "gpa_ytd": "GPA so far this year is {value:.2f}",
                    "age_for_grade": "{value:.1f} years older", "english_learner": "English learner",
                    "incidents_ytd": "{value:.0f} discipline incidents this year"},
    }
    X = pd.DataFrame([[0.88, 20, 1.9, 2.0, 1.0, 0.0]], columns=contract["features"])
    phi = pd.DataFrame([[0.9, 0.8, 0.3, 5.0, 4.0, -0.5, 0.0]], columns=[*contract["features"], "base_value"])
    rules = pd.Series([Config().rules])
    got = top_reasons(phi, X, contract, rules, "readiness").iloc[0].tolist()
    assert got == ["Attended 88% of school days this year (readiness needs 96%)",
                   "GPA so far this year is 1.90 (readiness needs 2.5)", ""]


def test_counselor_files_hold_only_their_students(scored: dict) -> None:
    loads = pd.read_parquet(scored["out"] / "validated" / "caseloads.parquet")
    files = sorted((scored["out"] / "rosters" / "counselors").glob("*.csv"))
    assert files
    for path in files[:5]:
        frame = pd.read_csv(path, dtype=str)
        theirs = set(loads.loc[loads["staff_id"].astype(str) == path.stem, "student_id"].astype(str))
        assert set(frame["student_id"]) <= theirs
        assert frame["staff_id"].str.contains(path.stem, regex=False).all()


def test_rescoring_the_same_run_replaces_it_and_compares_with_the_same_previous_run(scored: dict) -> None:
    from ontrack.scoring.history import read_history

    before = read_history(scored["out"], "grade8")
    again = score_and_publish(scored["out"], scored["config"], model="grade8")
    after = read_history(scored["out"], "grade8")
    assert len(after) == len(before) == len(again.roster)  # replaced, not added
    assert after["scored_at"].min() > before["scored_at"].max()
    # Re-scoring a run compares with the run before it (none here), as the first time did.
    assert set(again.roster["change"]) == {"first run"}
    assert again.roster["alerts"].tolist() == scored["first"].roster["alerts"].tolist()
    assert not (scored["out"] / "rosters" / "_history" / "grade8.parquet").exists()


def test_score_result_carries_the_full_contributions(scored: dict) -> None:
    first = scored["first"]
    if first.summary["ranked_by"] != "model":
        pytest.skip("the rule ranks: no contributions")
    phi = first.contributions
    assert phi.index.equals(first.roster.index) and "base_value" not in phi.columns
    logit = np.log(first.roster["risk"] / (1 - first.roster["risk"]))
    margin = phi.sum(axis=1) + first.base_value
    assert np.isfinite(margin).all() and np.corrcoef(margin, logit)[0, 1] > 0.9  # calibration is monotone


def test_feature_contract_mismatch_shows_the_diff_and_exits_1(scored: dict, capsys) -> None:
    contract = {"features": ["a", "b", "c"], "feature_hash": "x"}
    with pytest.raises(ModelContractError) as err:
        model_inputs(pd.DataFrame(columns=["a", "c", "d"]), contract)
    assert "missing (the model needs them): b" in str(err.value)
    assert "unexpected (the model never saw them): d" in str(err.value)
    flags = scored["root"] / "flags.yaml"
    flags.write_text(CONFIG + "features:\n  include_program_flags: true\n", encoding="utf-8")
    code = main(["score", str(scored["data"]), "--model", "grade8", "--out", str(scored["out"]),
                 "--reuse-validated", "--config", str(flags), "--quiet"])
    assert code == 1
    err_text = capsys.readouterr().err
    assert "unexpected (the model never saw them): english_learner" in err_text
    assert "Traceback" not in err_text


def test_drift_guard_ranks_by_the_rule_and_says_so(scored: dict, tmp_path: Path) -> None:
    contract = {"score_reference": {"edges": [0.1, 0.5], "shares": [0.5, 0.3, 0.2]}}
    psi, problem = stability_problem(contract, np.array([0.05] * 10), 0.25)
    assert psi > 0.25 and "shifted" in problem
    assert population_stability(contract["score_reference"], np.array([0.9] * 100)) > 1
    risk = np.r_[np.full(50, 0.05), np.full(30, 0.3), np.full(20, 0.8)]
    assert stability_problem(contract, risk, 0.25)[1] is None
    # End to end: a champion check that shows the model below the rule flips the ranking.
    out, config = scored["out"], scored["config"]
    version = scored["first"].summary["model_version"]
    check = {"model_version": version, "test_cohorts": [2024],
             "gate": {"passed": False, "checks": [{"name": "roc_auc", "model": 0.5, "rule": 0.8,
                                                   "threshold": 0.8, "comparison": ">= rule + 0",
                                                   "passed": False}]}}

    path = out / "models" / "grade8" / "check_champion.json"
    path.write_text(json.dumps(check), encoding="utf-8")
    try:
        result = score_and_publish(out, config, model="grade8")
    finally:
        path.unlink()
    assert result.summary["ranked_by"] == "rule"
    assert "no longer passes its gate" in result.summary["ranked_by_reason"]
    assert result.roster["risk"].isna().all() and (result.roster["ranked_by"] == "rule").all()
    roster = result.roster.sort_values(["school_id", "rank"])
    for _, rows in roster.groupby("school_id"):
        order = rows["rule_status"].map({"not_met": 0, "unknown": 1, "met": 2}).to_numpy()
        assert (np.diff(order) >= 0).all()
    school = roster["school_id"].iloc[0]
    page = (out / "rosters" / f"{school}.html").read_text(encoding="utf-8")
    assert "ranked by the rule" in page


def test_tiers_by_bands_and_by_capacity() -> None:
    risk = pd.Series([0.9, 0.6, 0.3, 0.1, 0.7, 0.05])
    school = pd.Series(["a", "a", "a", "a", "b", "b"])
    bands = assign_tiers(risk, school, ScoringConfig())
    assert bands.tolist() == ["intensive support", "intensive support", "check in", "on track",
                              "intensive support", "on track"]
    capacity = assign_tiers(risk, school, ScoringConfig(tier_mode="capacity", capacity_per_school=(1, 2)))
    assert capacity.tolist() == ["intensive support", "check in", "check in", "on track",
                                 "intensive support", "check in"]
    settings = ScoringConfig()
    change = change_since(pd.Series([2.0, 1.0, 0.0, np.nan, 0.0, 0.0]), pd.Series([0, 0, 1, 1, 0, 2]), settings)
    assert change.tolist() == ["new to the list", "up a tier, to intensive support", "down a tier, to check in",
                               "new to the list", "no change", "down 2 tiers, to on track"]
    points = risk_change(pd.Series([0.31, 0.5, np.nan, 0.2]), pd.Series([0.45, 0.49, 0.3, 0.2]))
    assert points.tolist() == ["risk up 14 points", "risk down 1 point", "", "risk unchanged"]


def test_alerts_compare_with_the_last_run() -> None:
    index = pd.Index(["01", "02", "03"], name="student_id")
    before = pd.DataFrame({"school_year": 2025, "failing_core": [0, 1, 0], "suspensions": [0, 0, 1],
                           "absence_alert": [False, True, False], "recent_absence_rate": 0.1}, index=index)
    now = before.assign(failing_core=[1, 1, 0], suspensions=[0, 0, 2], absence_alert=[True, True, False])
    texts = alert_texts(now, before).tolist()
    assert texts[0].startswith("absences rose") and "new failing mark" in texts[0]
    assert texts[1] == ""  # absence alert already raised last time, nothing else new
    assert texts[2] == "new suspension"
    assert alert_texts(before, before).tolist() == ["", "", ""]


def test_a_school_with_both_grades_keeps_both_models_rows(tmp_path: Path) -> None:
    from ontrack.reports.publish import publish_rosters

    (tmp_path / "validated").mkdir()
    pd.DataFrame({"school_id": ["007"], "school_name": ["Six-Twelve Academy"],
                  "district_id": ["d"]}).to_parquet(tmp_path / "validated" / "schools.parquet")

    def roster(model: str, ids: list[str]) -> pd.DataFrame:
        return pd.DataFrame({
            "student_id": ids, "school_id": "007", "grade_level": int(model[-1]),
            "district_id": "d", "school_year": 2025, "model": model, "risk": 0.4,
            "risk_tier": "check in", "rank": range(1, len(ids) + 1), "change": "first run",
            "alerts": "", "reason_1": "", "reason_2": "", "reason_3": "", "rule_status": "met",
            "rule_score": 0.0, "model_version": "1", "as_of_date": "2025-01-31",
            "expires": "2025-06-30", "config_hash": "h",
        })

    for model, ids in (("grade8", ["0801", "0802"]), ("grade9", ["0901"])):
        run = {"model": model, "version": "1", "as_of": "2025-01-31", "expires": "2025-06-30", "banner": None}
        publish_rosters(roster(model, ids), run, tmp_path / "rosters", tmp_path, Config())
    frame = pd.read_csv(tmp_path / "rosters" / "007.csv", dtype=str)
    assert sorted(frame["student_id"]) == ["0801", "0802", "0901"]
    assert set(frame["model"]) == {"grade8", "grade9"}


def test_reasons_read_naturally_for_a_count_of_one() -> None:
    from ontrack.scoring.reasons import singular

    assert singular("Suspended 1 times this year") == "Suspended once this year"
    assert singular("1 discipline incidents this year") == "1 discipline incident this year"
    assert singular("1 semester Fs in core subjects") == "1 semester F in core subjects"
    assert singular("Absent 21 days this year") == "Absent 21 days this year"
    assert singular("0.1 full-year credits earned so far") == "0.1 full-year credits earned so far"
