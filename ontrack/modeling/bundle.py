"""A trained model on disk without pickle: booster text, calibrator JSON, manifest.

A bundle is a folder:

- ``booster.txt``: the LightGBM booster in LightGBM's own text format;
- ``calibrator.json``: the calibrator's method and numbers;
- ``model.json``: the input contract (feature names in order, their groups, reasons
  and malleability), the model's name, label, rule and training window;
- ``manifest.json``: the SHA-256 of each of those three files, and under ``code`` the
  SHA-256 of each code file stored beside the bundle (the MLflow pyfunc's
  ``pyfunc_model.py``, which ``mlflow.pyfunc.load_model`` runs).

:func:`load_bundle` recomputes every digest and refuses a bundle whose files changed,
and, when given the digest of the manifest recorded in the model registry, a bundle
whose manifest changed too; :func:`verify_code` refuses a stored code file that differs
from its digest in the manifest. Nothing in the bundle is executable: loading reads text
and numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ontrack.errors import OnTrackError
from ontrack.modeling.calibration_math import apply_calibration
from ontrack.modeling.native_booster import NativeBooster, open_booster
from ontrack.paths import sha256_of

if TYPE_CHECKING:
    import lightgbm as lgb

BOOSTER, CALIBRATOR, CONTRACT, MANIFEST = (
    "booster.txt", "calibrator.json", "model.json", "manifest.json"
)
FILES: tuple[str, ...] = (BOOSTER, CALIBRATOR, CONTRACT)


class ModelIntegrityError(OnTrackError):
    """A model artifact is missing or differs from what was registered."""


def save_bundle(folder: Path, booster: lgb.Booster, calibration: dict, contract: dict,
                code_files: Mapping[str, Path] | None = None) -> str:
    """Write the bundle into ``folder``; return the manifest's SHA-256.

    ``code_files`` maps the name a code file will have beside the bundle in the model
    store to the file logged there: its digest goes into the manifest (``code``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / BOOSTER))
    (folder / CALIBRATOR).write_text(json.dumps(calibration, indent=1), encoding="utf-8")
    (folder / CONTRACT).write_text(json.dumps(contract, indent=1), encoding="utf-8")
    manifest: dict[str, object] = {name: sha256_of(folder / name) for name in FILES}
    manifest["code"] = {name: sha256_of(Path(path)) for name, path in (code_files or {}).items()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return sha256_of(folder / MANIFEST)


@dataclass(frozen=True)
class LoadedModel:
    """A verified bundle, ready to score: margins, calibrated risk, contributions."""

    booster: lgb.Booster | NativeBooster  # NativeBooster: load_bundle(..., native=True)
    calibration: dict
    contract: dict

    @property
    def feature_names(self) -> list[str]:
        """The input contract: feature columns, in order."""
        return list(self.contract["features"])

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw margin (log-odds) of the booster."""
        return self.booster.predict(X[self.feature_names], raw_score=True)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated risk of the bad outcome."""
        return apply_calibration(self.calibration, self.decision_function(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact TreeSHAP contributions to the margin, plus ``base_value``."""
        values = self.booster.predict(X[self.feature_names], pred_contrib=True)
        return pd.DataFrame(values, index=X.index, columns=[*self.feature_names, "base_value"])


def load_bundle(folder: Path, expected_manifest_sha256: str | None = None, *, native: bool = False) -> LoadedModel:
    """Verify every digest, then read the booster, calibrator and contract.

    ``native``: the booster is a :class:`~ontrack.modeling.native_booster.NativeBooster`
    (LightGBM's C library, same predictions) where it can be, so that scoring never
    imports the ``lightgbm`` package, which imports scikit-learn and SciPy (~0.7 s);
    else, and by default, the package's ``Booster``, imported here, not with this module."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ModelIntegrityError(f"model bundle {folder} must have {MANIFEST}. Got none instead.")
    if expected_manifest_sha256 is not None:
        actual = sha256_of(manifest_path)
        if actual != expected_manifest_sha256:
            raise ModelIntegrityError(
                f"model bundle {folder}: {MANIFEST} must have SHA-256 "
                f"{expected_manifest_sha256} as registered. Got {actual} instead: the "
                "artifact was modified after training; refusing to load it."
            )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise ModelIntegrityError(f"model bundle {folder} must have {name}. Got none instead.")
        actual = sha256_of(path)
        if actual != manifest.get(name):
            raise ModelIntegrityError(
                f"model bundle {folder}: {name} must have SHA-256 {manifest.get(name)}. "
                f"Got {actual} instead: the artifact was modified after training; "
                "refusing to load it."
            )
    if native:
        booster = open_booster(folder / BOOSTER)
    else:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(folder / BOOSTER))
    calibration = json.loads((folder / CALIBRATOR).read_text(encoding="utf-8"))
    contract = json.loads((folder / CONTRACT).read_text(encoding="utf-8"))
    return LoadedModel(booster, calibration, contract)


def verify_code(model_dir: Path, bundle: Path, required: tuple[str, ...] = ()) -> None:
    """Refuse code files in ``model_dir`` that differ from the bundle's manifest.

    Each name in ``required`` must have a digest in the manifest (a bundle saved before
    code was recorded is refused: its code cannot be checked). Call it after
    :func:`load_bundle` verified the manifest against the registry's digest."""
    manifest = json.loads((Path(bundle) / MANIFEST).read_text(encoding="utf-8"))
    recorded = manifest.get("code") or {}
    for name in required:
        if name not in recorded:
            raise ModelIntegrityError(
                f"model bundle {bundle}: {MANIFEST} must record the SHA-256 of {name}. Got "
                "no digest for it instead (saved by an older ontrack): retrain the model; "
                "refusing to load it."
            )
    for name, expected in recorded.items():
        path = Path(model_dir) / name
        actual = sha256_of(path) if path.is_file() else "no file"
        if actual != expected:
            raise ModelIntegrityError(
                f"model {model_dir}: code file {name} must have SHA-256 {expected} as "
                f"recorded in the bundle's manifest. Got {actual} instead: the code stored "
                "with the model was changed after training; refusing to load it."
            )
