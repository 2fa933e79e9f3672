"""Pandas helpers more than one stage needs."""

from __future__ import annotations

import numpy as np
import pandas as pd


def distinct_rows(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's number among ``frame``'s distinct rows (numbered in order of first
    appearance; missing values of any kind equal each other), and each distinct row's
    first position: ``frame.iloc[first]`` holds every distinct row once, and
    ``per_distinct[numbers]`` spreads one value per distinct row back over the rows."""
    numbers = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    return numbers, np.unique(numbers, return_index=True)[1]
