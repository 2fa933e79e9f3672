"""The MLflow pyfunc's stored code file is pinned by the bundle's SHA-256 manifest
(issue 20, item 7): a changed copy in the model store is refused by ontrack's loader
(score, evaluate, promote), with a message naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from ontrack.modeling import tracking
from ontrack.modeling.bundle import MANIFEST, ModelIntegrityError, save_bundle, verify_code
from tests.shared_outputs import clone_output


def _stored_code(out: Path) -> Path:
    """The pyfunc code file MLflow stored with the (only) registered model."""
    (code,) = (out / "mlflow" / "artifacts" / "models").glob("*/artifacts/" + tracking.PYFUNC_CODE.name)
    return code


def test_the_stored_code_file_is_in_the_manifest(trained_grade8: dict) -> None:
    bundle = trained_grade8["out"] / "models" / "grade8" / "bundle"
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    stored = _stored_code(trained_grade8["out"])
    assert stored.read_bytes() == tracking.PYFUNC_CODE.read_bytes()
    assert set(manifest["code"]) == {tracking.PYFUNC_CODE.name}


def test_a_changed_code_file_is_refused_at_load(trained_grade8: dict, tmp_path: Path) -> None:
    out = clone_output(trained_grade8["out"], tmp_path / "out")
    client = tracking.connect(trained_grade8["config"], out, create=False)
    tracking.load_registered(client, "ontrack-grade8", "champion")  # untouched: loads
    code = _stored_code(out)
    code.write_text(code.read_text(encoding="utf-8") + "\nimport os  # changed after training\n",
                    encoding="utf-8")
    expected = "code file pyfunc_model.py must have SHA-256 .* as recorded in the bundle's manifest"
    with pytest.raises(ModelIntegrityError, match=expected):
        tracking.load_registered(client, "ontrack-grade8", "champion")
    version = trained_grade8["result"].registered.version
    with pytest.raises(ModelIntegrityError, match="refusing to load it"):
        tracking.promote(client, "ontrack-grade8", version, why="test", who="tests", force=True)
    code.unlink()
    with pytest.raises(ModelIntegrityError, match="Got no file instead"):
        tracking.load_registered(client, "ontrack-grade8", "champion")


def test_a_bundle_without_a_code_digest_is_refused(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(60, 2))
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, (X[:, 0] > 0).astype(int)),
                        num_boost_round=2)
    code = tmp_path / "model" / "pyfunc_model.py"
    code.parent.mkdir()
    code.write_text("print('model code')\n", encoding="utf-8")
    save_bundle(tmp_path / "old", booster, {"method": "none"}, {"features": ["a", "b"]})
    with pytest.raises(ModelIntegrityError, match="must record the SHA-256 of pyfunc_model.py"):
        verify_code(code.parent, tmp_path / "old", required=("pyfunc_model.py",))
    save_bundle(tmp_path / "new", booster, {"method": "none"}, {"features": ["a", "b"]},
                code_files={"pyfunc_model.py": code})
    verify_code(code.parent, tmp_path / "new", required=("pyfunc_model.py",))
