"""Training end to end on a small synthetic district: split, registry, safety, privacy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from ontrack.cli import main
from ontrack.modeling import ModelIntegrityError, tracking, train_model
from tests.shared_outputs import clone_output


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory, trained_grade8: dict) -> dict:
    """The session's trained grade-8 model, copied here: these tests retrain, promote and
    edit artifacts. The registry tests need a champion (forced if the gate failed)."""
    root = tmp_path_factory.mktemp("train")
    out = clone_output(trained_grade8["out"], root / "out")
    return {"root": root, "data": trained_grade8["data"], "out": out,
            "config": trained_grade8["config"], "config_file": trained_grade8["config_file"],
            "result": trained_grade8["result"]}


def test_split_is_respected_and_reported(district: dict) -> None:
    evaluation = district["result"].evaluation
    split = evaluation["split"]
    assert max(split["train_years"]) < min(split["calibrate_years"]) < min(split["test_years"])
    assert split["kind"] == "deployment" and len(split["folds"]) >= 2  # rolling origin
    for fold in split["folds"]:
        assert fold["labels_close"] < fold["first_test_as_of"]
        assert max(fold["train_years"] + fold["calibrate_years"]) < min(fold["test_years"])
    sheet = (district["out"] / "models" / "grade8" / "datasheet.md").read_text()
    assert "| train | " + ", ".join(map(str, split["train_years"])) in sheet
    saved = json.loads((district["out"] / "models" / "grade8" / "evaluation.json").read_text())
    for key in ("n", "base_rate", "roc_auc", "pr_auc", "brier", "ece", "precision_at_rule_rate",
                "recall_at_rule_rate", "precision_at_top_10", "recall_at_top_20", "subgroups",
                "mlflow_run_id", "model_version", "test_cohorts", "by_checkpoint", "by_cohort", "gate"):
        assert key in saved, key
    assert set(saved["baselines"]) == {"rule", "logistic"}
    assert saved["calibration"]["method"] in ("sigmoid", "beta", "isotonic")


def test_booster_and_calibrator_never_see_the_test_cohort(district: dict, tmp_path: Path) -> None:
    """Flipping every test-cohort label changes the evaluation, never the fitted model."""
    out = tmp_path / "out"
    shutil.copytree(district["out"] / "features", out / "features")
    labels_path = out / "features" / "grade8" / "labels" / "off_track_9.parquet"
    labels = pd.read_parquet(labels_path)
    test_years = district["result"].evaluation["split"]["test_years"]  # the registered model's
    in_test = labels["school_year"].isin(test_years) & labels["label"].notna()
    labels.loc[in_test, "label"] = 1.0 - labels.loc[in_test, "label"]
    labels.to_parquet(labels_path)
    flipped = train_model(out, district["config"], model="grade8")
    original = district["result"]
    assert flipped.estimator.booster_.model_to_string() == original.estimator.booster_.model_to_string()
    assert flipped.estimator.calibration_ == original.estimator.calibration_
    newest = str(test_years[0])
    assert flipped.evaluation["by_cohort"][newest]["model"]["roc_auc"] == pytest.approx(
        1 - original.evaluation["by_cohort"][newest]["model"]["roc_auc"], abs=1e-9)


def test_registered_champion_round_trips_to_identical_probabilities(district: dict) -> None:
    result, out = district["result"], district["out"]
    assert "challenger" in result.registered.aliases
    assert ("champion" in result.registered.aliases) == result.evaluation["gate"]["passed"]
    X = pd.read_parquet(out / "features" / "grade8" / "matrix.parquet")
    expected = result.estimator.predict_risk(X)
    client = tracking.connect(district["config"], out)
    loaded, tags = tracking.load_registered(client, "ontrack-grade8", "champion")
    assert np.array_equal(loaded.predict_risk(X), expected)
    assert tags["label"] == "off_track_9" and tags["manifest_sha256"]
    pyfunc = mlflow.pyfunc.load_model("models:/ontrack-grade8@champion")
    assert np.array_equal(pyfunc.predict(X)["risk"].to_numpy(), expected)
    contributions = loaded.contributions(X)
    assert np.allclose(contributions.sum(axis=1), loaded.decision_function(X))


def _stored_bundle(out: Path) -> Path:
    found = list((out / "mlflow" / "artifacts").glob("models/*/artifacts/artifacts/bundle"))
    assert len(found) >= 1
    return found[0]


def test_a_modified_artifact_is_refused(district: dict) -> None:
    bundle = _stored_bundle(district["out"])
    booster = bundle / "booster.txt"
    original = booster.read_bytes()
    client = tracking.connect(district["config"], district["out"])
    try:
        booster.write_bytes(original.replace(b"shrinkage=", b"shrinkage=9", 1))
        with pytest.raises(ModelIntegrityError, match="booster.txt must have SHA-256"):
            tracking.load_registered(client, "ontrack-grade8", "champion")
        version = str(district["result"].registered.version)
        with pytest.raises(ModelIntegrityError, match="booster.txt must have SHA-256"):
            tracking.promote(client, "ontrack-grade8", version, why="test", force=True)  # forced or not
        with pytest.raises(Exception, match="refusing to load"):
            mlflow.pyfunc.load_model("models:/ontrack-grade8@champion")
        # Rewriting the manifest to match does not help: the registry holds its digest.
        manifest = json.loads((bundle / "manifest.json").read_text())
        from ontrack.modeling.bundle import sha256_of

        manifest["booster.txt"] = sha256_of(booster)
        saved_manifest = (bundle / "manifest.json").read_text()
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ModelIntegrityError, match="manifest.json must have SHA-256"):
            tracking.load_registered(client, "ontrack-grade8", "champion")
        (bundle / "manifest.json").write_text(saved_manifest)
    finally:
        booster.write_bytes(original)
    loaded, _ = tracking.load_registered(client, "ontrack-grade8", "champion")
    assert loaded.feature_names


def test_no_student_rows_in_any_mlflow_artifact_or_run_field(district: dict) -> None:
    ids = set(pd.read_parquet(district["out"] / "validated" / "students.parquet")["student_id"])
    pattern = re.compile(r"(?<![0-9A-Za-z])(" + "|".join(map(re.escape, ids)) + r")(?![0-9A-Za-z])")
    artifacts = district["out"] / "mlflow" / "artifacts"
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert any(p.name == "evaluation.json" for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        hit = pattern.search(text)
        assert hit is None, f"{path} holds student id {hit.group(0) if hit else ''}"
    client = tracking.connect(district["config"], district["out"])
    run = client.get_run(district["result"].registered.run_id)
    fields = json.dumps({**run.data.params, **run.data.tags, **run.data.metrics})
    assert pattern.search(fields) is None
    card = (district["out"] / "models" / "grade8" / "model_card.md").read_text()
    assert "flashlight, not a hammer" in card and pattern.search(card) is None


def test_cli_retrain_is_reproducible_registers_a_challenger_and_promote_moves_champion(
    district: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    out, config_file = district["out"], str(district["config_file"])
    code = main(["train", str(district["data"]), "--model", "grade8", "--out", str(out),
                 "--reuse-features", "--config", config_file, "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "ROC AUC" in printed and "rule" in printed and "logistic" in printed
    assert "mlflow run" in printed and "version 2 (challenger)" in printed
    again = json.loads((out / "models" / "grade8" / "evaluation.json").read_text())
    first = district["result"].evaluation
    for key in ("roc_auc", "brier", "ece", "recall_at_rule_rate"):
        assert again[key] == pytest.approx(first[key], abs=1e-12), key
    assert again["intervals"]["roc_auc"] == pytest.approx(first["intervals"]["roc_auc"])
    client = tracking.connect(district["config"], out)
    assert str(client.get_model_version_by_alias("ontrack-grade8", "champion").version) == "1"
    force = [] if again["gate"]["passed"] else ["--force"]
    code = main(["promote", "--model", "grade8", "--version", "2", "--out", str(out), *force,
                 "--why", "beats v1 on the 2024 cohort", "--who", "analyst", "--config", config_file])
    assert code == 0
    champion = client.get_model_version_by_alias("ontrack-grade8", "champion")
    assert str(champion.version) == "2"
    assert champion.tags["promoted_by"] == "analyst"
    assert champion.tags["promoted_why"] == "beats v1 on the 2024 cohort"
    assert main(["promote", "--model", "grade8", "--version", "9", "--out", str(out)]) == 1
    assert "must have version 9" in capsys.readouterr().err


def test_bad_target_and_missing_features_exit_1(district: dict, tmp_path: Path, capsys) -> None:
    code = main(["train", str(district["data"]), "--model", "grade8", "--target", "graduation",
                 "--out", str(tmp_path), "--reuse-features"])
    assert code == 1
    assert "--reuse-features needs" in capsys.readouterr().err


def test_a_target_without_an_honest_split_fails_with_the_dates(district: dict) -> None:
    from ontrack.errors import LeakageError

    with pytest.raises(LeakageError, match="a deployment split must exist.*no cohort older"):
        train_model(district["out"], district["config"], model="grade8", target="graduation",
                    split_kind="deployment")
