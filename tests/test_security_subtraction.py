"""No withheld group size follows by subtraction from evaluation.json (issue 20, item 1).

evaluation.json (also logged to MLflow, and read by the card and the report) publishes
each student group's size and the cohort's total; reliability bins add up to the rows.
When one group of a kind (or one bin) is too small and withheld, a second one is
withheld too, so the total minus the published ones never pins a small one down.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ontrack.config import FairnessBounds
from ontrack.modeling.evaluation import published_reliability
from ontrack.modeling.fairness import complement_withheld, fairness_audit


def _recoverable(sizes: list[int | None]) -> bool:
    """The total minus the published sizes gives a withheld one away: exactly one unknown."""
    return sum(size is None for size in sizes) == 1


def test_one_withheld_cell_takes_the_smallest_other_with_it() -> None:
    assert complement_withheld([300, 5, 40, 90], [False, True, False, False]) == [False, True, True, False]
    assert complement_withheld([300, 5, 8, 90], [False, True, True, False]) == [False, True, True, False]
    assert complement_withheld([300, 90], [False, False]) == [False, False]


def test_a_small_group_s_size_cannot_be_worked_out_from_the_total() -> None:
    rng = np.random.default_rng(0)
    n = 400
    gender = np.where(np.arange(n) < 7, "X", np.where(np.arange(n) % 2, "F", "M"))  # 7 X
    foster = np.where(np.arange(n) < 12, "yes", "no")  # 12 yes: its complement is "no"
    y = (rng.uniform(size=n) < 0.3).astype(float)
    rows = fairness_audit(y, rng.uniform(size=n), np.arange(n).astype(str),
                          pd.DataFrame({"gender": gender, "foster_youth": foster}), flag_rate=0.3,
                          bounds=FairnessBounds(), min_group_size=20, n_samples=5, seed=0)
    for kind in ("gender", "foster_youth"):
        mine = [r for r in rows if r["group_type"] == kind]
        for key in ("n", "n_students", "n_positives"):
            assert not _recoverable([r[key] for r in mine]), (kind, key, mine)
    by = {(r["group_type"], r["group"]): r for r in rows}
    assert by[("gender", "M")]["n_students"] is None and by[("gender", "M")]["size_withheld"]
    assert by[("gender", "F")]["n_students"] == 197  # the larger one stays published
    assert by[("gender", "M")]["fpr"] is not None  # the metrics of a large group stay


def test_one_small_reliability_bin_takes_another_bin_s_count_with_it() -> None:
    y = np.r_[np.zeros(200), np.ones(5)]
    risk = np.r_[np.full(150, 0.05), np.full(50, 0.35), np.full(5, 0.95)]
    bins = published_reliability(y, risk, min_group_size=20)
    assert not _recoverable([b["n"] for b in bins])
    assert sum(b["n"] is None and b["observed_rate"] is not None for b in bins) == 1


def test_the_trained_evaluation_gives_no_withheld_size_away(trained_grade8: dict) -> None:
    evaluation = json.loads((trained_grade8["out"] / "models" / "grade8" / "evaluation.json").read_text())
    kinds = {r["group_type"] for r in evaluation["subgroups"]}
    for kind in kinds:
        mine = [r for r in evaluation["subgroups"] if r["group_type"] == kind]
        for key in ("n", "n_students", "n_positives"):
            assert not _recoverable([r[key] for r in mine]), (kind, key)
    assert not _recoverable([b["n"] for b in evaluation["reliability"]])
