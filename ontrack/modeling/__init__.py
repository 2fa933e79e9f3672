"""Training, calibration, evaluation, fairness audit and registry of the models.

The public surface: :func:`train_model` (the whole run), :class:`EarlyWarningModel`
(the calibrated booster, a scikit-learn estimator), :func:`load_training_data`,
:func:`load_bundle` / :class:`LoadedModel` (a verified model without pickle). Only
``ontrack.modeling.tracking`` talks to MLflow.

The names are imported on first use (PEP 562 ``__getattr__``): scoring imports
``ontrack.modeling.baselines`` or ``ontrack.modeling.bundle`` without paying for
training, scikit-learn's estimators, SciPy and matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ontrack.modeling.bundle import LoadedModel, ModelIntegrityError, load_bundle
    from ontrack.modeling.dataset import TrainingData, load_training_data, rule_score
    from ontrack.modeling.estimator import EarlyWarningModel
    from ontrack.modeling.train import TrainResult, train_model

_WHERE = {
    "LoadedModel": "bundle", "ModelIntegrityError": "bundle", "load_bundle": "bundle",
    "TrainingData": "dataset", "load_training_data": "dataset", "rule_score": "dataset",
    "EarlyWarningModel": "estimator", "TrainResult": "train", "train_model": "train",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` the first time it is asked for."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
