"""The gate and the fallback to the rule (CONTRACT §3), from unit to command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ontrack.cli import main
from ontrack.config import GateConfig
from ontrack.modeling.gate import gate_verdict, ranking_for, verdict_line
from ontrack.modeling.metrics import expected_flags, precision_recall_at
from tests.research_district import write_research_district

# grade8's own gate raised beyond reach (a model's `gate:` overrides the config's)
GATE_CONFIG = "modeling:\n  bootstrap_samples: 20\nmodels:\n  grade8:\n    gate:\n      auc_margin: 0.9\n"


def _world(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=0.8, size=n) > 1.0).astype(float)
    risk = 1 / (1 + np.exp(-(2.0 * signal - 2.5)))
    rule = np.where(signal + rng.normal(scale=1.2, size=n) > 0.8, 1.0, 0.0)
    lists = np.repeat(["2023-10-31", "2024-01-31"], n // 2)
    groups = pd.DataFrame({"gender": rng.choice(["F", "M", "X"], size=n, p=[0.49, 0.49, 0.02])})
    return y, risk, rule, lists, groups


def test_a_model_that_ranks_better_passes_and_a_shuffled_one_fails_naming_the_check() -> None:
    y, risk, rule, lists, groups = _world()
    good = gate_verdict(y, risk, rule, lists, groups, GateConfig(max_ece=0.5))
    assert good["passed"], good
    shuffled = np.random.default_rng(1).permutation(risk)
    bad = gate_verdict(y, shuffled, rule, lists, groups, GateConfig(max_ece=0.5))
    assert not bad["passed"]
    failed = {c["name"] for c in bad["checks"] if not c["passed"]}
    assert {"recall_at_rule_rate", "roc_auc"} <= failed
    assert "recall at the rule's flag rate" in verdict_line(bad)


def test_small_groups_are_too_few_to_judge_never_passing_or_failing() -> None:
    y, risk, rule, lists, groups = _world()
    gate = gate_verdict(y, risk, rule, lists, groups, GateConfig(max_ece=0.5, min_positives=30))
    judged = {c["group"] for c in gate["checks"] if c["name"] == "subgroup_fnr"}
    assert judged == {"F", "M"}
    assert {"group_type": "gender", "group": "X"} in gate["too_few_to_judge"]


def test_recall_at_the_rules_rate_is_judged_per_list_and_tie_aware() -> None:
    # Two lists: the rule flags 1 of 2 in each. A constant score ties everyone: half a flag each.
    y = np.array([1.0, 0.0, 1.0, 0.0])
    rule = np.array([1.0, 0.0, 0.0, 1.0])
    flat = np.full(4, 0.3)
    gate = gate_verdict(y, flat, rule, np.array(["a", "a", "b", "b"]), pd.DataFrame(index=range(4)),
                        GateConfig(max_ece=1.0))
    recall = next(c for c in gate["checks"] if c["name"] == "recall_at_rule_rate")
    assert recall["model"] == pytest.approx(0.5) and recall["rule"] == pytest.approx(0.5)
    # A rule score of 1 / 0.5 / 0 at a rate cutting through its 0.5 ties counts them fractionally.
    assert expected_flags(np.array([1.0, 0.5, 0.5, 0.5, 0.0]), 2).tolist() == pytest.approx(
        [1.0, 1 / 3, 1 / 3, 1 / 3, 0.0])
    precision, recall_at = precision_recall_at(np.array([1, 1, 0, 0, 0]), np.array([1.0, 0.5, 0.5, 0.5, 0.0]), 0.4)
    assert precision == pytest.approx((1 + 1 / 3) / 2) and recall_at == pytest.approx((1 + 1 / 3) / 2)


def test_one_decision_of_who_ranks() -> None:
    assert ranking_for(None).ranked_by == "rule"
    passed = {"version": "3", "gate_passed": "true"}
    assert ranking_for(passed).ranked_by == "model"
    failed = {"version": "4", "gate_passed": "false", "gate_failed": "ROC AUC: model 0.6, rule 0.7"}
    decision = ranking_for(failed)
    assert decision.ranked_by == "rule" and "ROC AUC" in decision.reason
    forced = ranking_for({**failed, "forced": "true", "promoted_why": "pilot year", "promoted_by": "ana"})
    assert forced.ranked_by == "model" and "pilot year" in forced.forced
    assert ranking_for(passed, drift="scores shifted").ranked_by == "rule"
    assert ranking_for(passed, expired="too old").reason == "too old"
    assert ranking_for(passed, check_gate={"passed": False, "checks": []}).ranked_by == "rule"


@pytest.fixture(scope="module")
def losing(tmp_path_factory: pytest.TempPathFactory, trained_grade8: dict) -> dict:
    """The session's synthetic district trained with the gate's thresholds raised beyond
    reach: the training stage run on a copy of the session's validated tables and
    grade-8 features (the gate changes neither), into a registry of its own."""
    from ontrack import pipeline
    from ontrack.config import load_config

    root = tmp_path_factory.mktemp("gate")
    data, out = trained_grade8["data"], root / "out"
    for built in ("validated", "validation", "features"):
        shutil.copytree(trained_grade8["out"] / built, out / built)
    config = root / "config.yaml"
    config.write_text(GATE_CONFIG, encoding="utf-8")
    pipeline.run_stages(["train"], data, out, load_config(config), ["grade8"])
    return {"data": data, "out": out, "config": config}


def test_a_failed_version_is_not_champion_and_promote_refuses_naming_the_check(losing: dict, capsys) -> None:
    evaluation = json.loads((losing["out"] / "models" / "grade8" / "evaluation.json").read_text())
    assert evaluation["gate"]["passed"] is False
    assert evaluation["gate"]["settings"]["auc_margin"] == 0.9  # the model's own threshold
    assert "champion" not in evaluation["aliases"]
    for key in ("by_cohort", "by_checkpoint", "gate", "roc_auc", "recall_at_rule_rate", "baselines"):
        assert key in evaluation, key
    assert evaluation["split"]["kind"] == "deployment" and evaluation["split"]["folds"]
    for fold in evaluation["split"]["folds"]:
        assert fold["labels_close"] <= fold["first_test_as_of"]
    assert set(evaluation["by_cohort"]) == {str(y) for y in evaluation["test_cohorts"]}
    card = (losing["out"] / "models" / "grade8" / "model_card.md").read_text(encoding="utf-8")
    assert card.index("GATE FAILED") < card.index("How it was tested")
    capsys.readouterr()
    code = main(["promote", "--model", "grade8", "--version", "1", "--out", str(losing["out"]),
                 "--config", str(losing["config"])])
    err = capsys.readouterr().err
    assert code == 1 and "ROC AUC" in err and "--force --why" in err and "Traceback" not in err


def test_score_falls_back_to_the_rule_and_the_report_agrees(losing: dict, capsys) -> None:
    out, config = losing["out"], str(losing["config"])
    code = main(["score", str(losing["data"]), "--model", "grade8", "--out", str(out), "--config", config,
                 "--reuse-validated", "--quiet"])
    assert code == 0
    assert "ranked by the rule" in capsys.readouterr().err
    summary = json.loads((out / "rosters" / "summary_grade8.json").read_text())
    assert summary["ranked_by"] == "rule" and "no champion" in summary["ranked_by_reason"]
    school = sorted((out / "rosters").glob("[!s]*.csv"))[0]
    roster = pd.read_csv(school, dtype=str, keep_default_na=False)
    roster = roster[roster["model"] == "grade8"]
    assert (roster["ranked_by"] == "rule").all() and (roster["risk"] == "").all()
    tiers = roster["risk_tier"].tolist()
    order = {"intensive support": 0, "check in": 1, "on track": 2}
    assert [order[t] for t in tiers] == sorted(order[t] for t in tiers)
    met = roster["rule_status"] == "met"
    assert (roster.loc[met, "risk_tier"] == "on track").all()
    assert (roster.loc[~met, "risk_tier"] != "on track").all()
    page = school.with_suffix(".html").read_text(encoding="utf-8")
    assert "ranked by the rule, not the model" in page
    assert main(["report", str(losing["data"]), "--out", str(out), "--config", config, "--quiet"]) == 0
    pages = " ".join(p.read_text(encoding="utf-8") for p in (out / "report").rglob("*.html"))
    assert "no champion model" in pages


def test_a_forced_promotion_ranks_and_says_so_on_every_roster(losing: dict, capsys) -> None:
    out, config = losing["out"], str(losing["config"])
    assert main(["promote", "--model", "grade8", "--version", "1", "--out", str(out), "--config", config,
                 "--force"]) == 2
    assert main(["promote", "--model", "grade8", "--version", "1", "--out", str(out), "--config", config,
                 "--force", "--why", "pilot while the district reviews the rule"]) == 0
    assert main(["score", str(losing["data"]), "--model", "grade8", "--out", str(out), "--config", config,
                 "--reuse-validated", "--quiet"]) == 0
    summary = json.loads((out / "rosters" / "summary_grade8.json").read_text())
    assert summary["ranked_by"] == "model", summary["ranked_by_reason"]
    assert "pilot while the district reviews the rule" in summary["forced_note"]
    for page in (out / "rosters").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "grade8" in text:
            assert "pilot while the district reviews the rule" in text


def test_a_two_cohort_research_file_trains_retrospectively_and_deployment_refuses(tmp_path: Path, capsys) -> None:
    data = write_research_district(tmp_path / "data", students_per_cohort=400)
    out = tmp_path / "out"
    config = tmp_path / "config.yaml"
    config.write_text("modeling:\n  bootstrap_samples: 20\n", encoding="utf-8")
    code = main(["train", str(data), "--model", "grade8", "--target", "graduation", "--out", str(out),
                 "--config", str(config), "--split", "deployment"])
    captured = capsys.readouterr()
    assert code == 1 and "deployment split must exist" in captured.err and "Traceback" not in captured.err
    code = main(["train", str(data), "--model", "grade8", "--target", "graduation", "--out", str(out),
                 "--config", str(config), "--reuse-features"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "retrospective" in captured.err and "retrospective" in captured.out
    evaluation = json.loads((out / "models" / "grade8" / "evaluation.json").read_text())
    assert evaluation["split"]["kind"] == "retrospective" and evaluation["split"]["reason"]
    assert evaluation["label"] == "not_graduated_4yr"
    (fold,) = evaluation["split"]["folds"]
    assert fold["calibrate_years"] == [] and "cross-fitted" in fold["calibration"]
    assert "gate" in evaluation
