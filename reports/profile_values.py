"""How a profile page shows one value: empty for missing, dates without a time of day,
numbers in their table's format."""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache

import pandas as pd


def missing(value: object) -> bool:
    """None, pandas' NA or NaT, or a float NaN: shown as an empty cell."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


@lru_cache(maxsize=4096)
def day_text(value: object) -> str:
    """A date (or timestamp) as YYYY-MM-DD (a batch's pages repeat a few dozen
    checkpoint dates: each is read once; equal values read alike)."""
    return pd.Timestamp(value).date().isoformat()


def cell_text(value: object) -> str:
    """A value as text; dates without a time of day."""
    if type(value) is str:  # most cells: no other test needed
        return value
    if missing(value):
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    return str(value)


def formatted(value: object, fmt: str) -> str:
    """A number in a profile table's format: "pct", "{:d}" or a format string; missing: empty."""
    if missing(value):
        return ""
    if fmt == "pct":
        return f"{float(value):.1%}"
    if fmt == "{:d}":
        return str(int(value))
    return fmt.format(float(value))
