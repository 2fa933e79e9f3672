"""Regression discontinuity at a district's assignment cutoff (``impact.cutoffs``).

When support goes to every student on one side of a threshold, students just either
side of it differ mainly in whether they were served, so the jump in the outcome at
the threshold estimates the effect there. The estimate is local linear with the
MSE-optimal bandwidth and the robust bias-corrected interval of ``rdrobust``
(Calonico, Cattaneo & Titiunik); ``rddensity`` tests whether students bunch on one
side of the cutoff (a manipulated value would break the comparison).

Sharp or fuzzy: when every student on the served side was served and nobody on the
other, the jump in the outcome is the effect (sign turned so it reads served - not
served). Otherwise the jump in the outcome is divided by the jump in the share served
(fuzzy design, ``rdrobust(fuzzy=...)``): the effect on those the cutoff moved.
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Discontinuity:
    """One cutoff's estimate, with everything needed to judge it."""

    design: str  # sharp / fuzzy
    bandwidth: float
    n_served_side: int  # students within the bandwidth on the served side
    n_other_side: int
    effect: float  # served - not served, conventional local-linear point estimate
    ci: tuple[float, float]  # robust bias-corrected
    p_value: float  # robust
    density_p_value: float | None  # manipulation test at the cutoff


def preload() -> threading.Thread:
    """Import ``rdrobust`` and ``rddensity`` in the background (about 2 s) while the
    caller builds the study; the imports in :func:`estimate` then find them loaded."""

    def load() -> None:
        with contextlib.suppress(ImportError):  # estimate() raises it where it matters
            import rddensity  # noqa: F401
            import rdrobust  # noqa: F401

    thread = threading.Thread(target=load, name="rd-import", daemon=True)
    thread.start()
    return thread


def _quiet(call: Callable[[], T]) -> T:
    """Run ``call`` with both packages' printing and warnings silenced."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return call()


def density_p_value(x: np.ndarray) -> float | None:
    """p-value of the jackknife density test at 0 (None when it cannot be computed)."""
    from rddensity import rddensity

    try:
        found = _quiet(lambda: rddensity(X=x, c=0.0))
    except Exception:  # noqa: BLE001 - too few distinct values near the cutoff
        return None
    value = float(found.test["p_jk"])
    return None if np.isnan(value) else value


def estimate(y: np.ndarray, x: np.ndarray, served: np.ndarray, *, treated: str,
             confidence: float = 0.95) -> Discontinuity:
    """The effect at the cutoff; ``x`` is centred (value - threshold).

    ``treated`` is ``below`` or ``above``: the side the district serves. Raises
    ``ValueError`` when ``rdrobust`` cannot fit (too few students near the cutoff).
    """
    from rdrobust import rdrobust

    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    served = np.asarray(served, dtype=bool)
    on_side = x < 0 if treated == "below" else x >= 0
    sharp = bool(np.array_equal(on_side, served))
    level = round(confidence * 100, 6)
    fuzzy = None if sharp else served.astype(float)
    fit = _quiet(lambda: rdrobust(y, x, c=0.0, fuzzy=fuzzy, level=level))
    coef = float(fit.coef.iloc[0, 0])
    low, high = (float(v) for v in fit.ci.iloc[2])
    if sharp and treated == "below":  # rdrobust reports right - left = not served - served
        coef, low, high = -coef, -high, -low
    n_left, n_right = (int(n) for n in fit.N_h)
    return Discontinuity(
        design="sharp" if sharp else "fuzzy",
        bandwidth=float(fit.bws.iloc[0, 0]),
        n_served_side=n_left if treated == "below" else n_right,
        n_other_side=n_right if treated == "below" else n_left,
        effect=coef, ci=(low, high), p_value=float(fit.pv.iloc[2, 0]),
        density_p_value=density_p_value(x),
    )
