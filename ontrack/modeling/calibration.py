"""Probability calibrators whose fitted state is a few numbers in JSON, never a pickle.

Both map the booster's raw margin (log-odds) to a calibrated probability and are fitted
on a cohort the booster never saw:

- ``sigmoid`` (Platt): ``p = 1 / (1 + exp(-(a * margin + b)))``, two numbers;
- ``isotonic``: a non-decreasing step function of the margin, stored as its knots and
  applied by linear interpolation (what scikit-learn's IsotonicRegression predicts).

Calibrated risks are kept within 1%-99%: no student is shown as certain either way.

``fit_best_calibrator`` scores both on the calibration cohort (out of fold, by student)
and keeps the one with the lower Brier score, recording both scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import GroupKFold

METHODS: tuple[str, ...] = ("sigmoid", "isotonic")
# No student is ever shown as certain to go off track or certain not to.
RISK_FLOOR, RISK_CEILING = 0.01, 0.99


class MarginCalibrator(BaseEstimator):
    """Calibrate raw margins with ``method`` (``sigmoid`` or ``isotonic``).

    Fitted attributes: ``params_`` (JSON-ready dict), ``method_``.
    """

    def __init__(self, method: str = "sigmoid") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> MarginCalibrator:
        """Fit on margins and 0/1 outcomes; returns self."""
        if self.method not in METHODS:
            raise ValueError(
                f"method must be one of {', '.join(METHODS)}. Got {self.method!r} instead."
            )
        margin = np.asarray(margin, dtype="float64")
        y = np.asarray(y, dtype="float64")
        if self.method == "sigmoid":
            # Nearly unpenalised Platt scaling on the single margin feature.
            fit = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.params_ = {"a": float(fit.coef_[0, 0]), "b": float(fit.intercept_[0])}
        else:
            fit = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            fit.fit(margin, y)
            self.params_ = {
                "x": [float(v) for v in fit.X_thresholds_],
                "y": [float(v) for v in fit.y_thresholds_],
            }
        self.method_ = self.method
        return self

    def predict_proba(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability of the bad outcome for each margin."""
        return apply_calibration(self.to_dict(), margin)

    def to_dict(self) -> dict:
        """The fitted calibrator as plain JSON data."""
        return {"method": self.method_, **self.params_}


def apply_calibration(params: dict, margin: np.ndarray) -> np.ndarray:
    """Probability from a calibrator's JSON parameters (``MarginCalibrator.to_dict``)."""
    margin = np.asarray(margin, dtype="float64")
    method = params.get("method")
    if method == "sigmoid":
        risk = 1.0 / (1.0 + np.exp(-(params["a"] * margin + params["b"])))
    elif method == "isotonic":
        risk = np.interp(margin, np.asarray(params["x"]), np.asarray(params["y"]))
    else:
        raise ValueError(f"calibrator method must be one of {', '.join(METHODS)}. Got {method!r} instead.")
    return np.clip(risk, RISK_FLOOR, RISK_CEILING)


def fit_best_calibrator(
    margin: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    methods: Sequence[str] = METHODS,
    n_folds: int = 5,
) -> tuple[MarginCalibrator, dict[str, float]]:
    """Pick the method with the lowest Brier score on the calibration cohort; refit it.

    Each method is scored out of fold (``n_folds`` folds of whole students, ``groups``)
    so the more flexible isotonic fit cannot win by memorising the cohort; the winner is
    then refitted on the whole cohort. Returns it and each method's Brier score.
    """
    margin = np.asarray(margin, dtype="float64")
    y = np.asarray(y, dtype="float64")
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    folds = min(n_folds, len(np.unique(groups)))
    scores = {}
    for method in methods:
        held_out = np.empty(len(y))
        for fit_rows, score_rows in GroupKFold(n_splits=folds).split(margin, y, groups):
            calibrator = MarginCalibrator(method).fit(margin[fit_rows], y[fit_rows])
            held_out[score_rows] = calibrator.predict_proba(margin[score_rows])
        scores[method] = float(brier_score_loss(y, held_out))
    best = min(scores, key=lambda m: (scores[m], METHODS.index(m)))
    return MarginCalibrator(best).fit(margin, y), scores
