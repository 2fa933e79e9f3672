"""Served vs comparable not-served students: inverse-probability weighting (ATT).

Why weighting, not nearest-neighbour matching: every not-served student of the cell
contributes (a small district has few), a missing criterion is handled by an indicator
instead of a distance rule, and the bootstrap over students is a valid interval for a
weighting estimator, while it is not for matching with replacement (Abadie & Imbens,
2008). The comparison is still *within* a grade-year cell and rule status: both enter
the propensity model as indicators, and a cell without served students is never used.

The estimate is the effect on the served (ATT): the served students' observed on-track
rate minus the rate of not-served students reweighted by ``p / (1 - p)`` to look like
the served on the pre-start values (``p``: the fitted chance of being served). It is an
association, not proof: anything the district saw but the data does not hold (a
teacher's judgement, a family's request) can explain a difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ontrack.impact.data import VALUE_COLUMNS

OUTCOME = "on_track_9"
# Keep weights away from 0 and 1 so a few students cannot carry the comparison.
_CLIP = (0.01, 0.99)


@dataclass(frozen=True)
class Comparison:
    """One matched comparison: rates, effect (served - not served), interval, sizes."""

    n_served: int
    n_comparison: int
    served_rate: float
    comparison_rate: float
    effect: float
    ci: tuple[float, float]
    effective_n_comparison: float
    max_abs_std_diff: float


def design(rows: pd.DataFrame, use_risk: bool) -> np.ndarray:
    """The propensity model's inputs: cell and rule-status indicators, standardized
    criterion values with missing-value indicators (and risk when known)."""
    cell = rows["grade_level"].astype(str) + ":" + rows["school_year"].astype(str)
    parts = [pd.get_dummies(cell, prefix="cell", dtype=float),
             pd.get_dummies(cell + ":" + rows["rule_status"].astype(str), prefix="rs",
                            dtype=float)]
    columns = list(VALUE_COLUMNS.values()) + (["risk"] if use_risk else [])
    for col in columns:
        value = pd.to_numeric(rows[col], errors="coerce").astype("float64")
        if value.notna().sum() < 2 or value.std() == 0 or np.isnan(value.std()):
            continue
        z = (value - value.mean()) / value.std()
        parts.append(pd.DataFrame({col: z.fillna(0.0), f"{col}_missing":
                                   value.isna().astype(float)}, index=rows.index))
    return pd.concat(parts, axis=1).to_numpy(dtype="float64")


def _newton(design_1: np.ndarray, y: np.ndarray, counts: np.ndarray, start: np.ndarray,
            l2: float, steps: int) -> np.ndarray:
    """Coefficients of the ridge logistic regression, by Newton's method from ``start``;
    row ``i`` counts ``counts[i]`` times (a bootstrap sample drawn with replacement)."""
    penalty = np.full(design_1.shape[1], l2)
    penalty[0] = 0.0
    ridge = np.diag(penalty) + 1e-9 * np.eye(len(penalty))
    beta = start.copy()
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design_1 @ beta, -30, 30)))
        gradient = design_1.T @ (counts * (y - p)) - penalty * beta
        scaled = design_1 * np.sqrt(counts * p * (1 - p))[:, None]
        hessian = scaled.T @ scaled  # X'WX as one symmetric product (half the work)
        step = np.linalg.solve(hessian + ridge, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def propensity(x: np.ndarray, served: np.ndarray, *, l2: float = 1.0, steps: int = 25,
               counts: np.ndarray | None = None, start: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Fitted chance of being served, and the coefficients (intercept first).

    Ridge logistic regression by Newton's method: the same model as scikit-learn's
    ``LogisticRegression(C=1/l2)`` (intercept not penalized), fitted directly because
    the bootstrap refits it hundreds of times. ``counts``: how often each row counts
    (1 each by default), so a bootstrap sample is fitted on its distinct rows, not on
    a copy holding the repeats; ``start``: the coefficients to start from (zero by
    default; the full sample's fit is within a few steps of every bootstrap fit's).
    The problem is strictly convex, so the start changes the steps taken, not the fit.
    """
    design_1 = np.column_stack([np.ones(len(x)), x])
    counts = np.ones(len(x)) if counts is None else counts.astype("float64")
    start = np.zeros(design_1.shape[1]) if start is None else start
    beta = _newton(design_1, served.astype("float64"), counts, start, l2, steps)
    return 1.0 / (1.0 + np.exp(-np.clip(design_1 @ beta, -30, 30))), beta


def att_weights(x: np.ndarray, served: np.ndarray, counts: np.ndarray | None = None,
                start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weight 1 for each served student, p/(1-p) for each not served (clipped p); and
    the propensity model's coefficients (see :func:`propensity`)."""
    p, beta = propensity(x, served, counts=counts, start=start)
    p = np.clip(p, *_CLIP)
    return np.where(served, 1.0, p / (1.0 - p)), beta


def _rates(y: np.ndarray, served: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Served rate and weighted not-served rate; ``w`` already holds any row counts."""
    treated = float(np.average(y[served], weights=w[served]))
    control = float(np.average(y[~served], weights=w[~served]))
    return treated, control


def _balance(rows: pd.DataFrame, served: np.ndarray, w: np.ndarray) -> float:
    """Largest weighted standardized difference of a criterion between the two sides."""
    worst = 0.0
    for col in [*VALUE_COLUMNS.values(), "risk"]:
        value = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype="float64")
        known = ~np.isnan(value)
        a, b = served & known, ~served & known
        if a.sum() < 2 or b.sum() < 2 or w[b].sum() == 0:
            continue
        sd = np.sqrt((value[a].var() + value[b].var()) / 2)
        if sd > 0:
            diff = value[a].mean() - np.average(value[b], weights=w[b])
            worst = max(worst, abs(diff) / sd)
    return round(float(worst), 3)


def compare(rows: pd.DataFrame, *, confidence: float = 0.95, n_boot: int = 400,
            seed: int = 0) -> Comparison:
    """Weighted comparison of one intervention type's rows (outcome known on all).

    The interval is a percentile bootstrap over students, resampled within each side
    (served, not served), with the propensity model refitted each time.
    """
    served = rows["served"].to_numpy(dtype=bool)
    y = rows[OUTCOME].to_numpy(dtype="float64")
    use_risk = bool(rows["risk"].notna().mean() >= 0.5)
    x = design(rows, use_risk)
    w, beta = att_weights(x, served)
    treated, control = _rates(y, served, w)
    rng = np.random.default_rng(seed)
    idx_t, idx_c = np.flatnonzero(served), np.flatnonzero(~served)
    effects = []
    # Small matrices: one BLAS thread is several times faster than many on a busy machine.
    with threadpool_limits(1):
        for _ in range(n_boot):
            pick = np.concatenate([rng.choice(idx_t, idx_t.size), rng.choice(idx_c, idx_c.size)])
            counts = np.bincount(pick, minlength=len(y))
            drawn = np.flatnonzero(counts)  # each drawn student once, with how often drawn
            wb, _ = att_weights(x[drawn], served[drawn], counts[drawn], start=beta)
            t, c = _rates(y[drawn], served[drawn], wb * counts[drawn])
            effects.append(t - c)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(effects, [tail, 100 - tail])
    wc = w[~served]
    return Comparison(
        n_served=int(served.sum()), n_comparison=int((~served).sum()),
        served_rate=treated, comparison_rate=control, effect=treated - control,
        ci=(float(low), float(high)),
        effective_n_comparison=float(wc.sum() ** 2 / (wc ** 2).sum()),
        max_abs_std_diff=_balance(rows, served, w),
    )
