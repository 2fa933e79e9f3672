"""Exact sums and rounding, so every output is the same whatever the thread count.

DuckDB adds up doubles in parallel, in an order that depends on thread scheduling, so a
float sum can differ in its last bit from one run to the next; a value on a rounding
boundary (a GPA of exactly 1.675) then prints one way or the other. Here quantities are
summed as integers in millionths (``micro``: exact for inputs with at most six decimals,
and integer sums do not depend on their order), divided in integers, and rounded once,
**half away from zero** (1.675 → 1.68, like DuckDB's ``round`` on a DECIMAL and a
spreadsheet's ROUND), to a stated number of decimals. Documented in docs/indicators.md
("Reproducible outputs").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MICRO = 1_000_000


def micro(expr: str) -> str:
    """SQL: ``expr`` (a number with at most six decimals) as an integer of millionths."""
    return f"CAST(round(({expr}) * {MICRO}) AS BIGINT)"


def micro_sum(expr: str) -> str:
    """SQL: the exact sum of ``expr`` in millionths (a HUGEINT, NULL over no values)."""
    return f"sum({micro(expr)})"


def rounded_ratio(num: str, den: str, decimals: int) -> str:
    """SQL: ``num / den`` of two integer expressions, rounded half away from zero to
    ``decimals`` places in integer arithmetic, as a DOUBLE; NULL when ``den`` is 0/NULL.

    The integer quotient is exact; dividing it by a power of ten gives the double
    nearest that decimal, which prints as the decimal itself.
    """
    if not 0 <= decimals <= 12:
        raise ValueError(f"decimals must be between 0 and 12. Got {decimals} instead.")
    scale = 10**decimals
    n, d = f"(CAST({num} AS HUGEINT) * {scale})", f"CAST(NULLIF({den}, 0) AS HUGEINT)"
    # For d > 0: round(n / d) = floor((2n + d) / 2d) when n >= 0, mirrored below 0.
    quotient = (
        f"CASE WHEN ({n} >= 0) = ({d} > 0) "
        f"THEN (2 * abs({n}) + abs({d})) // (2 * abs({d})) "
        f"ELSE -((2 * abs({n}) + abs({d})) // (2 * abs({d}))) END"
    )
    return f"(CAST({quotient} AS DOUBLE) / {scale})"


def round_ratio_array(num: pd.Series, den: pd.Series, decimals: int) -> pd.Series:
    """``num / den`` of integer counts (``den`` > 0), rounded half away from zero to
    ``decimals`` places in integer arithmetic (the pandas twin of ``rounded_ratio``)."""
    scale = 10**decimals
    n = num.to_numpy(dtype=np.int64) * scale
    d = den.to_numpy(dtype=np.int64)
    q = (2 * np.abs(n) + d) // (2 * d)
    return pd.Series(np.sign(n) * q / scale, index=num.index)
