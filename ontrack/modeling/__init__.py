"""Training, calibration, evaluation, fairness audit and registry of the models.

The public surface: :func:`train_model` (the whole run), :class:`EarlyWarningModel`
(the calibrated booster, a scikit-learn estimator), :func:`load_training_data`,
:func:`load_bundle` / :class:`LoadedModel` (a verified model without pickle). Only
``ontrack.modeling.tracking`` talks to MLflow.
"""

from __future__ import annotations

from ontrack.modeling.bundle import LoadedModel, ModelIntegrityError, load_bundle
from ontrack.modeling.dataset import TrainingData, load_training_data, rule_score
from ontrack.modeling.estimator import EarlyWarningModel
from ontrack.modeling.train import TrainResult, train_model

__all__ = [
    "EarlyWarningModel",
    "LoadedModel",
    "ModelIntegrityError",
    "TrainResult",
    "TrainingData",
    "load_bundle",
    "load_training_data",
    "rule_score",
    "train_model",
]
