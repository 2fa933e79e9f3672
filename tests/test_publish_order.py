"""A roster file's rows taken from the district's rows sorted once
(reports/publish.py ``_in_order_of``) are the rows and columns that sorting the file's
own rows gives (``_in_order`` after ``_drop_empty``), tiers outside the configuration
included (then each file is sorted on its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ontrack.reports import publish
from ontrack.reports.roster_values import RosterMeta

from ontrack.config import Config


def _combined(rng: np.random.Generator, tiers: list[str], n: int = 300) -> pd.DataFrame:
    """Rows of two models and six schools in a shuffled order, with ties of risk and rank,
    missing risks, and rule columns empty in some schools only."""
    frame = pd.DataFrame({
        "student_id": [f"s{i:03d}" for i in rng.permutation(n)],
        "school_id": rng.choice([f"00{k}" for k in range(6)], n),
        "model": rng.choice(["grade8", "grade9"], n),
        "risk": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 20, n) / 20),
        "risk_tier": rng.choice(tiers, n),
        "rank": rng.integers(1, 40, n),
        "rule_gpa": np.where(rng.random(n) < 0.5, np.nan, rng.random(n) * 4),
        "rule_status": rng.choice(["met", "not_met"], n),
    })
    frame.loc[frame["school_id"] == "000", "rule_gpa"] = np.nan
    frame.index = rng.permutation(np.arange(1000, 1000 + n))  # not a range: rows are found by label
    return frame


@pytest.mark.parametrize("extra", [False, True])
def test_rows_from_the_district_order_equal_each_file_sorted_alone(extra: bool) -> None:
    config = Config()
    tiers = list(config.scoring.tier_names) + (["pending review"] if extra else [])
    combined = _combined(np.random.default_rng(3), tiers)
    in_order = publish._in_order_of(combined, config)
    meta = RosterMeta(title="t", model="m", model_version="1", as_of_date="2025-12-01", expires="",
                      config_hash="h", tier_counts={name: 0 for name in config.scoring.tier_names})
    files = [rows for _school, rows in combined.groupby("school_id", sort=True)]
    files.append(combined[combined["student_id"].isin({f"s{i:03d}" for i in range(0, 300, 7)})])
    for rows in files:
        expected = publish._in_order(publish._drop_empty(rows), meta)
        pd.testing.assert_frame_equal(in_order(rows, meta), expected)
    school_0 = in_order(files[0], meta)
    assert "rule_gpa" not in school_0.columns and "rule_gpa" in in_order(files[1], meta).columns
