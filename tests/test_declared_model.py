"""A model declared only in a district's YAML works end to end (issue #18, item 2).

``grade10`` predicts not graduating within four years (``off_track_9`` would already be
known to a 10th grader, so the config refuses it) against the on-track rule, which for a
10th grader is how 9th grade ended. Nothing in the code names grade10: train, score and
report read the declaration.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ontrack.cli import main
from ontrack.config import config_from_dict, load_config
from ontrack.errors import ConfigError
from tests.shared_outputs import TRAIN_CONFIG

GRADE10 = {"grade": 10, "labels": ["not_graduated_4yr"], "baseline": "on_track"}


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory, synthetic_district: Path) -> dict[str, Path]:
    """The session's synthetic district (read only: the commands write to ``out``) and
    a config declaring grade10 (its bootstrap as small as the other tests')."""
    root = tmp_path_factory.mktemp("declared")
    config = root / "district.yaml"
    config.write_text(yaml.safe_dump({"models": {"grade10": GRADE10}, **yaml.safe_load(TRAIN_CONFIG)}),
                      encoding="utf-8")
    return {"data": synthetic_district, "config": config, "out": root / "out"}


def test_models_add_to_the_defaults_and_null_drops_one() -> None:
    added = config_from_dict({"models": {"grade10": GRADE10}})
    assert list(added.models) == ["grade8", "grade9", "grade10"]
    assert added.model_spec("grade10").baseline == "on_track"
    dropped = config_from_dict({"models": {"grade8": None, "grade9": {"labels": ["off_track_9"]}}})
    assert list(dropped.models) == ["grade9"]
    assert dropped.models["grade9"].labels == ("off_track_9",)
    assert dropped.models["grade9"].baseline == "on_track"  # the rest of the default kept


def test_a_label_already_known_to_the_grade_is_refused() -> None:
    with pytest.raises(ConfigError, match="models.grade10: label off_track_9 must predict "
                       "for a grade from 8 to 9.*Got grade 10 instead"):
        config_from_dict({"models": {"grade10": {**GRADE10, "labels": ["off_track_9"]}}})


def test_unknown_model_is_a_usage_error_naming_the_declared_ones(district, capsys) -> None:
    for command in (["train", str(district["data"])], ["score", str(district["data"])],
                    ["features", str(district["data"])], ["evaluate", str(district["data"])]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--model", "grade11", "--out", str(district["out"]),
                  "--config", str(district["config"])])
        assert exit_info.value.code == 2
        assert ("model must be one of grade8, grade9, grade10. Got 'grade11' instead."
                in capsys.readouterr().err)
    with pytest.raises(SystemExit) as exit_info:
        main(["promote", "--model", "grade10", "--version", "1", "--out", str(district["out"])])
    assert exit_info.value.code == 2  # declared only with --config
    assert "Got 'grade10' instead" in capsys.readouterr().err


@pytest.mark.slow
def test_grade10_trains_scores_and_reports_from_the_yaml_alone(district, capsys) -> None:
    data, out, config = str(district["data"]), district["out"], str(district["config"])
    common = ["--out", str(out), "--config", config, "--quiet"]
    assert main(["train", data, "--model", "grade10", *common]) == 0
    evaluation = json.loads((out / "models" / "grade10" / "evaluation.json").read_text())
    assert evaluation["label"] == "not_graduated_4yr"
    assert (evaluation["grade"], evaluation["baseline"]) == (10, "on_track")
    cohort = pd.read_parquet(out / "features" / "grade10" / "cohort.parquet")
    assert set(cohort["grade_level"]) == {10}
    assert not (out / "features" / "grade10" / "labels" / "off_track_9.parquet").exists()
    assert "10th graders" in (out / "models" / "grade10" / "model_card.md").read_text()

    assert main(["score", data, "--model", "grade10", *common]) == 0
    rosters = [p for p in (out / "rosters").glob("*.csv") if p.name != "reasons.csv"]
    frame = pd.concat(pd.read_csv(p, dtype={"student_id": str}) for p in rosters)
    assert len(frame) > 0 and set(frame["model"]) == {"grade10"}
    assert set(frame["grade_level"]) == {10}
    assert "rule_on_track_end_of_9" in frame.columns  # the rule as a 10th grader knows it

    assert main(["report", data, *common]) == 0
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "10th graders" in page and "grade10" in page
    assert load_config(config).models["grade8"].grade == 8  # the defaults still there


JANUARY_ONLY = {"grade": 8, "labels": ["off_track_9"], "baseline": "readiness",
                "checkpoints": ["01-31"]}


@pytest.mark.parametrize(("checkpoints", "message"), [
    (["01-31", "10-31"], "must be in school-year order"),
    (["01-31", "01-31"], "must not repeat"),
    (["1/31"], "a month-day must look like 'MM-DD'"),
    ([], "must list at least one month-day"),
])
def test_a_models_own_checkpoints_are_validated(checkpoints, message) -> None:
    with pytest.raises(ConfigError, match=f"models.jan.checkpoints: .*{message}"):
        config_from_dict({"models": {"jan": {**JANUARY_ONLY, "checkpoints": checkpoints}}})


def test_a_model_with_one_checkpoint_trains_on_that_checkpoint_only(trained_grade8, tmp_path) -> None:
    from ontrack.dataset.build import write_features
    from ontrack.modeling import train_model
    from ontrack.modeling.dataset import load_training_data

    out = tmp_path / "out"
    shutil.copytree(trained_grade8["out"] / "validated", out / "validated")
    config = config_from_dict({"modeling": {"bootstrap_samples": 20},
                               "models": {"jan": JANUARY_ONLY}})
    assert config.models["grade8"].checkpoints is None  # the others keep the district's
    meta = write_features(out, config, model="jan")
    assert meta["as_of_dates"] and {day[5:] for day in meta["as_of_dates"]} == {"01-31"}
    data = load_training_data(out, "jan", config)
    dates = pd.DatetimeIndex(data.X.index.get_level_values("as_of_date"))
    assert set(dates.strftime("%m-%d")) == {"01-31"}
    trained = len(data.X.index[data.part("train")])
    assert trained > 0
    result = train_model(out, config, model="jan")
    assert list(result.evaluation["by_checkpoint"]) == ["01-31"]
    from ontrack.reports.publish import score_and_publish

    scored = score_and_publish(out, config, model="jan")  # its own checkpoint: the default as-of
    assert scored.summary["as_of_date"][5:] == "01-31"
    assert scored.summary["expires"][5:] == "01-31"  # the next of its checkpoints, a year on
