"""Probability calibrators whose fitted state is a few numbers in JSON, never a pickle.

Each maps the booster's raw margin (log-odds) to a calibrated probability, is fitted on a
cohort the booster never saw, and is *strictly increasing* in the margin: two students
with different margins never get the same risk, so a counselor can rank by risk.

- ``sigmoid`` (Platt): ``p = 1 / (1 + exp(-(a * margin + b)))``, two numbers;
- ``beta`` (Kull et al. 2017): with ``s = sigmoid(margin)``,
  ``p = 1 / (1 + exp(-(a * ln s - b * ln(1 - s) + c)))``, three numbers, ``a, b >= 0``.
  It contains Platt (``a == b``) and can also bend one tail more than the other;
- ``isotonic``: the isotonic (pool-adjacent-violators) fit, made strictly increasing by
  joining the centres of its blocks (each block's mean margin, at the block's observed
  rate) with straight lines and continuing the end segments beyond them. The plain
  isotonic step function gave whole blocks of students one shared risk.

Risks stay within 1%-99% (no student is shown as certain either way) through a squash,
not a clip: identity between 1.5% and 98.5%, then bending smoothly towards 1% and 99%
without reaching them, so the floor cannot tie the lowest-risk students together.
The four limits are stored with the calibrator (``limits``). Calibrators saved before
the squash (no ``limits``) are applied exactly as they were: clipped to 1%-99%.

``fit_best_calibrator`` scores each method out of fold on the calibration cohort and
keeps the lowest Brier score (a tie goes to the simpler method), recording every score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import GroupKFold

from ontrack.modeling.calibration_math import (  # noqa: F401 (re-exported: applying needs numpy only)
    METHODS,
    RISK_CEILING,
    RISK_FLOOR,
    RISK_LIMITS,
    _beta_terms,
    _isotonic_curve,
    apply_calibration,
    squash_risk,
)


class MarginCalibrator(BaseEstimator):
    """Calibrate raw margins with ``method`` (one of ``METHODS``).

    Fitted attributes: ``params_`` (JSON-ready dict), ``method_``.
    """

    def __init__(self, method: str = "sigmoid") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> MarginCalibrator:
        """Fit on margins and 0/1 outcomes; returns self.

        Raises ValueError when the outcome does not rise with the margin at all (no
        increasing calibrator exists: the booster is no better than chance here).
        """
        if self.method not in METHODS:
            raise ValueError(
                f"method must be one of {', '.join(METHODS)}. Got {self.method!r} instead."
            )
        margin = np.asarray(margin, dtype="float64")
        y = np.asarray(y, dtype="float64")
        fitters = {"sigmoid": _fit_sigmoid, "beta": _fit_beta, "isotonic": _fit_isotonic}
        self.params_ = {**fitters[self.method](margin, y), "limits": list(RISK_LIMITS)}
        self.method_ = self.method
        return self

    def predict_proba(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability of the bad outcome for each margin."""
        return apply_calibration(self.to_dict(), margin)

    def to_dict(self) -> dict:
        """The fitted calibrator as plain JSON data."""
        return {"method": self.method_, **self.params_}


def _not_rising(method: str, slope: float) -> ValueError:
    return ValueError(
        f"{method} calibration must find the outcome rising with the booster's margin on "
        f"the calibration cohort. Got slope {slope:.3g} instead: the booster does not rank "
        "these students better than chance."
    )


# Nearly unpenalised: the calibration cohort has hundreds of students per parameter.
# The weights' penalty is 1 / (2 C) of their squared sum, scikit-learn's C = 1e6.
_PENALTY = 1e-6


def _objective(design_1: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    z = design_1 @ beta
    return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * _PENALTY * beta[1:] @ beta[1:])


def _logistic(features: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and intercept of the (nearly unpenalised) logistic regression of ``y`` on
    ``features``: the model of scikit-learn's ``LogisticRegression(C=1e6)``, solved by
    Newton's method with step halving to the optimum rather than to L-BFGS's tolerance.
    Why by hand: a calibrator is fitted ~15 times per training fold (three methods, five
    folds), and scikit-learn's input checks cost more than the two-to-three-parameter
    fit itself (~10 ms against ~0.2 ms)."""
    design_1 = np.column_stack([np.ones(len(y)), features])
    penalty = np.full(design_1.shape[1], _PENALTY)
    penalty[0] = 0.0
    beta = np.zeros(design_1.shape[1])
    value = _objective(design_1, y, beta)
    for _ in range(100):
        p = 0.5 * (1.0 + np.tanh(0.5 * (design_1 @ beta)))  # the logistic, without overflow
        gradient = design_1.T @ (p - y) + penalty * beta
        scaled = design_1 * np.sqrt(p * (1.0 - p))[:, None]
        hessian = scaled.T @ scaled + np.diag(penalty) + 1e-12 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-10:  # halve until the objective falls (separable data needs it)
            trial = beta - size * step
            trial_value = _objective(design_1, y, trial)
            if trial_value <= value:
                break
            size /= 2
        else:
            break
        beta, improvement, value = trial, value - trial_value, trial_value
        if np.max(np.abs(size * step)) < 1e-10 or improvement < 1e-14 * max(1.0, abs(value)):
            break
    return beta[1:], float(beta[0])


def _fit_sigmoid(margin: np.ndarray, y: np.ndarray) -> dict[str, float]:
    weights, intercept = _logistic(margin.reshape(-1, 1), y)
    a = float(weights[0])
    if a <= 0:
        raise _not_rising("sigmoid", a)
    return {"a": a, "b": intercept}


def _fit_beta(margin: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Logistic regression on the two beta terms; a term whose weight comes out
    negative is dropped and the other refitted alone, which keeps the map increasing."""
    terms = _beta_terms(margin)
    weights, c = _logistic(terms, y)
    a, b = (float(v) for v in weights)
    if a < 0 or b < 0:
        keep = 1 if a < b else 0
        weights, c = _logistic(terms[:, [keep]], y)
        weight = float(weights[0])
        if weight <= 0:
            raise _not_rising("beta", weight)
        a, b = (0.0, weight) if keep else (weight, 0.0)
    return {"a": a, "b": b, "c": c}


def _fit_isotonic(margin: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """Knots at the centre of each isotonic block: strictly increasing in x and y."""
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0).fit(margin, y).predict(margin)
    levels, block = np.unique(fitted, return_inverse=True)
    if len(levels) < 2:
        raise _not_rising("isotonic", 0.0)
    # Equal margins always share a block, and blocks are ordered in the margin, so
    # the mean margins of successive blocks strictly increase.
    centres = np.bincount(block, weights=margin) / np.bincount(block)
    return {"x": [float(v) for v in centres], "y": [float(v) for v in levels]}


def fit_best_calibrator(
    margin: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    methods: Sequence[str] = METHODS,
    n_folds: int = 5,
) -> tuple[MarginCalibrator, dict[str, float]]:
    """Pick the method with the lowest Brier score on the calibration cohort; refit it.

    Each method is scored out of fold (``n_folds`` folds of whole students, ``groups``)
    so a more flexible fit cannot win by memorising the cohort; an exact tie goes to the
    simpler method (earlier in ``METHODS``). The winner is then refitted on the whole
    cohort. Returns it and each method's Brier score.

    A method that cannot fit (the outcome does not rise with the margin in some fold)
    scores infinity. When none can, the booster does not rank this cohort at all: the
    calibrator is *flat* — every student gets the cohort's base rate, which no list can
    rank by — rather than an error or a decreasing curve that would invert the order.
    An early rolling-origin fold trained on little data can end so; the evaluation then
    counts that fold's useless risks against the model, and the gate decides.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(
            f"calibration methods must be a non-empty selection of {', '.join(METHODS)}. "
            f"Got {list(methods)} instead."
        )
    margin = np.asarray(margin, dtype="float64")
    y = np.asarray(y, dtype="float64")
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    folds = min(n_folds, len(np.unique(groups)))
    scores = {}
    for method in methods:
        held_out = np.empty(len(y))
        try:
            for fit_rows, score_rows in GroupKFold(n_splits=folds).split(margin, y, groups):
                calibrator = MarginCalibrator(method).fit(margin[fit_rows], y[fit_rows])
                held_out[score_rows] = calibrator.predict_proba(margin[score_rows])
        except ValueError:
            scores[method] = float("inf")
            continue
        scores[method] = float(brier_score_loss(y, held_out))
    for best in sorted(scores, key=lambda m: (scores[m], METHODS.index(m))):
        if np.isfinite(scores[best]):
            try:
                return MarginCalibrator(best).fit(margin, y), scores
            except ValueError:
                continue
    return flat_calibrator(y), scores


def flat_calibrator(y: np.ndarray) -> MarginCalibrator:
    """Every margin to the base rate of ``y`` (a sigmoid of slope 0): the calibrator of
    a booster that does not rank its calibration cohort."""
    rate = float(np.clip(np.mean(np.asarray(y, dtype="float64")), RISK_LIMITS[0], RISK_LIMITS[-1]))
    calibrator = MarginCalibrator("sigmoid")
    calibrator.params_ = {"a": 0.0, "b": float(np.log(rate / (1.0 - rate))), "limits": list(RISK_LIMITS),
                          "flat": True}
    calibrator.method_ = "sigmoid"
    return calibrator
