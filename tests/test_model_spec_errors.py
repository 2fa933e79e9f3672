"""A bad model spec or config is the user's to fix: exit 1 with the file, the key, the
bad value and the fix — never "a bug in ontrack" and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ontrack.cli import main
from ontrack.config import Config, config_from_dict
from ontrack.errors import ConfigError
from ontrack.modeling.train import REPO_SPEC, model_spec
from ontrack.synth import generate_district

SHIPPED = yaml.safe_load(REPO_SPEC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic district, shared: a spec error must stop `train` before it."""
    data = tmp_path_factory.mktemp("spec_errors") / "data"
    generate_district(data, n_students=60, n_years=3, seed=5, mess=False)
    return data


def train(district: Path, folder: Path, capsys: pytest.CaptureFixture[str], config: str) -> tuple[int, str]:
    """Run ``ontrack train`` with ``config`` as the district config; exit code, stderr."""
    (folder / "config.yaml").write_text(config, encoding="utf-8")
    code = main(["train", str(district), "--model", "grade8", "--out", str(folder / "out"),
                 "--config", str(folder / "config.yaml"), "--quiet"])
    return code, capsys.readouterr().err


def with_classifier(**changes: object) -> dict:
    return {**SHIPPED, "classifier": {**SHIPPED["classifier"], **changes}}


BAD_SPECS = {
    "negative leaves": (with_classifier(num_leaves=-3), "classifier.num_leaves", "Got -3 instead"),
    "rate in words": (with_classifier(learning_rate="fast"), "classifier.learning_rate", "Got 'fast' instead"),
    "typo in a key": (with_classifier(num_leave=7), "classifier.num_leave",
                      "did you mean `num_leaves`"),
    "direction 2": (with_classifier(monotone={"gpa_ytd": 2}), "classifier.monotone.gpa_ytd",
                    "must be -1, 0 or +1 (the direction of risk as gpa_ytd rises). Got 2 instead"),
    "unknown calibration": ({**SHIPPED, "calibration": ["platt"]}, "calibration",
                            "among sigmoid, beta, isotonic"),
    "top-level typo": ({**SHIPPED, "early_stoping_rounds": 10}, "early_stoping_rounds",
                       "did you mean `early_stopping_rounds`"),
    "no classifier": ({"spec_version": 1}, "classifier", "must be a mapping"),
    "zero threads": (with_classifier(n_jobs=0), "classifier.n_jobs", "Got 0 instead"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_a_bad_model_spec_exits_1_naming_file_key_and_fix(
    case: str, district: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, key, detail = BAD_SPECS[case]
    path = tmp_path / "my_spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    code, err = train(district, tmp_path, capsys, f"modeling:\n  model_spec: {path}\n")
    assert code == 1, err
    assert f"{key}:" in err and detail in err and str(path) in err
    assert "Fix these keys in" in err
    assert "bug in ontrack" not in err and "Traceback" not in err
    assert not (tmp_path / "out" / "features").exists()  # refused before any work


def test_a_spec_that_is_not_yaml_exits_1(district: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("classifier: {num_leaves: 7\n", encoding="utf-8")
    code, err = train(district, tmp_path, capsys, f"modeling:\n  model_spec: {path}\n")
    assert code == 1 and f"model spec {path} must be valid YAML" in err
    assert "bug in ontrack" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ("gate:\n  max_ece: 2\n", "gate.max_ece"),
        ("gate:\n  max_eec: 0.05\n", "gate.max_eec"),
        ("split:\n  kind: sideways\n", "split.kind"),
    ],
)
def test_a_bad_config_value_exits_1_naming_the_key(
    config: str, key: str, district: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = train(district, tmp_path, capsys, config)
    assert code == 1 and key in err, err
    assert "bug in ontrack" not in err and "Traceback" not in err


def test_the_shipped_spec_and_a_valid_custom_one_pass(tmp_path: Path) -> None:
    assert model_spec(Config()) == SHIPPED
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(with_classifier(num_leaves=3, max_depth=-1)), encoding="utf-8")
    spec = model_spec(config_from_dict({"modeling": {"model_spec": str(path)}}))
    assert spec["classifier"]["num_leaves"] == 3
    path.write_text(yaml.safe_dump(with_classifier(max_depth=0)), encoding="utf-8")
    with pytest.raises(ConfigError, match="max_depth must be a whole number >= 1, or -1"):
        model_spec(config_from_dict({"modeling": {"model_spec": str(path)}}))
