"""The MLflow pyfunc of an ontrack model, logged as code ("models from code").

MLflow stores this file with the model and runs it on load instead of unpickling an
object. ``load_context`` verifies and reads the bundle (``ontrack.modeling.bundle``);
``predict`` returns the calibrated risk for a frame holding the model's features.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from ontrack.modeling.bundle import load_bundle


class OnTrackRiskModel(PythonModel):
    """Calibrated risk of the bad outcome from a verified ontrack bundle."""

    def load_context(self, context) -> None:  # noqa: ANN001 - MLflow's context object
        """Verify every artifact digest, then read the booster and calibrator."""
        expected = (context.model_config or {}).get("manifest_sha256")
        self.model = load_bundle(Path(context.artifacts["bundle"]), expected)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # noqa: ANN001
        """One row per input row: ``risk`` (calibrated, 0-1) and ``margin``."""
        return pd.DataFrame(
            {
                "risk": self.model.predict_risk(model_input),
                "margin": self.model.decision_function(model_input),
            },
            index=model_input.index,
        )


mlflow.models.set_model(OnTrackRiskModel())
