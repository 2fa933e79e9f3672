"""Applying a fitted calibrator: its JSON numbers to a risk, with numpy alone.

Split from :mod:`ontrack.modeling.calibration` (which fits calibrators with scikit-learn
and re-exports these names) so that scoring, which only applies one, imports neither
scikit-learn nor SciPy. The methods and limits are described there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Simplest first: a tie in Brier score goes to the method listed earlier.
METHODS: tuple[str, ...] = ("sigmoid", "beta", "isotonic")
# No student is ever shown as certain to go off track or certain not to.
RISK_FLOOR, RISK_CEILING = 0.01, 0.99
# Floor, lower knee, upper knee, ceiling: risks between the knees are left as they are.
RISK_LIMITS: tuple[float, float, float, float] = (RISK_FLOOR, 0.015, 0.985, RISK_CEILING)


def _beta_terms(margin: np.ndarray) -> np.ndarray:
    """``[ln s, -ln(1 - s)]`` for ``s = sigmoid(margin)``, computed without overflow."""
    return np.column_stack([-np.logaddexp(0.0, -margin), np.logaddexp(0.0, margin)])


def squash_risk(q: np.ndarray, limits: Sequence[float] = RISK_LIMITS) -> np.ndarray:
    """Map any real ``q`` strictly increasingly into the open interval (floor, ceiling).

    Identity between the knees; below the lower knee ``floor + d**2 / (d + knee - q)``
    with ``d = knee - floor`` (same value and slope at the knee, tending to the floor),
    and the mirror image above the upper knee.
    """
    floor, knee_low, knee_high, ceiling = (float(v) for v in limits)
    if not floor < knee_low <= knee_high < ceiling:
        raise ValueError(
            "calibrator limits must be floor < lower knee <= upper knee < ceiling. "
            f"Got {list(limits)} instead."
        )
    q = np.asarray(q, dtype="float64")
    out = q.copy()
    low, high = q < knee_low, q > knee_high
    d = knee_low - floor
    out[low] = floor + d * d / (d + knee_low - q[low])
    d = ceiling - knee_high
    out[high] = ceiling - d * d / (d + q[high] - knee_high)
    return out


def _isotonic_curve(x: np.ndarray, y: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Straight lines between the knots, the end segments continued beyond them."""
    q = np.interp(margin, x, y)
    if len(x) >= 2:
        low, high = margin < x[0], margin > x[-1]
        q[low] = y[0] + (margin[low] - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
        q[high] = y[-1] + (margin[high] - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
    return q


def apply_calibration(params: dict, margin: np.ndarray) -> np.ndarray:
    """Probability from a calibrator's JSON parameters (``MarginCalibrator.to_dict``).

    With ``limits`` (every calibrator fitted by this version) the result is strictly
    increasing in the margin and inside (1%, 99%); without them (older bundles) it is
    computed exactly as before: clipped to [1%, 99%], isotonic as a step function.
    """
    margin = np.asarray(margin, dtype="float64")
    method = params.get("method")
    current = "limits" in params
    if method == "sigmoid":
        q = 1.0 / (1.0 + np.exp(-(params["a"] * margin + params["b"])))
    elif method == "beta" and current:
        z = _beta_terms(margin) @ np.array([params["a"], params["b"]]) + params["c"]
        q = 1.0 / (1.0 + np.exp(-z))
    elif method == "isotonic":
        x = np.asarray(params["x"], dtype="float64")
        y = np.asarray(params["y"], dtype="float64")
        q = _isotonic_curve(x, y, margin) if current else np.interp(margin, x, y)
    else:
        raise ValueError(
            f"calibrator method must be one of {', '.join(METHODS)}. Got {method!r} instead."
        )
    if current:
        return squash_risk(q, params["limits"])
    return np.clip(q, RISK_FLOOR, RISK_CEILING)
