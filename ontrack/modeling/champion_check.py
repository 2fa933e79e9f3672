"""Check a registered model on the newest labelled cohort, against the rule.

Used by ``ontrack evaluate`` and by scoring's drift guard: a champion trained years
ago is scored on the newest cohort whose labels are complete (the current split's test
cohort) and compared with the rule on the same rows. The result says whether the
champion still passes its gate (``ontrack.modeling.gate``) there; the scoring fallback
reads that verdict, so ``evaluate`` and the rosters never disagree.
"""

from __future__ import annotations

from pathlib import Path


from ontrack.config import Config
from ontrack.errors import ModelContractError
from ontrack.modeling import tracking
from ontrack.modeling.dataset import load_training_data
from ontrack.modeling.evaluation import evaluate_part
from ontrack.modeling.train import write_json

TARGET_OF_LABEL = {"off_track_9": "on_track_9", "not_graduated_4yr": "graduation"}


def check_registered(
    out_dir: Path, config: Config, *, model: str, alias_or_version: str = tracking.CHAMPION
) -> dict:
    """Evaluate a registered version on the newest labelled cohort; write and return it.

    Writes ``OUT/models/<model>/check_<alias or version>.json``.
    """
    client = tracking.connect(config, out_dir, create=False)
    name = tracking.registered_name(config, model)
    loaded, info = tracking.load_registered(client, name, alias_or_version)
    label = loaded.contract["label"]
    kind = loaded.contract.get("split", {}).get("kind")
    data = load_training_data(out_dir, model, config, target=TARGET_OF_LABEL[label],
                              split_kind="retrospective" if kind == "retrospective" else None)
    missing = sorted(set(loaded.feature_names) - set(data.X.columns))
    if missing:
        raise ModelContractError(
            f"features of {model} must include every input of {name} version "
            f"{info['version']}. Got these missing: {', '.join(missing)}."
        )
    test = data.part("test")
    scores = {"model": loaded.predict_risk(data.X[test]), "rule": data.rule_score[test].to_numpy()}
    evaluation = evaluate_part(data, test, scores, config)
    rule = evaluation["baselines"]["rule"]
    result = {
        "model": model,
        "registered_model": name,
        "model_version": str(info["version"]),
        "alias": alias_or_version,
        "label": label,
        "test_cohorts": list(data.split.test_years),
        "trained_on": loaded.contract.get("split", {}),
        "beats_rule_auc": bool(evaluation["roc_auc"] >= rule["roc_auc"]),
        "beats_rule_recall": bool(evaluation["recall_at_rule_rate"] >= rule["recall_at_rule_rate"]),
        "passes_gate": bool(evaluation["gate"]["passed"]),
        **evaluation,
    }
    folder = Path(out_dir) / "models" / model
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"check_{alias_or_version}.json", result)
    return result
