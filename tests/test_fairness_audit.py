"""The fairness audit judges error rates only with enough students with the outcome."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ontrack.config import FairnessBounds
from ontrack.modeling.fairness import fairness_audit, fairness_summary


def _district(seed: int = 0, c_positives: int = 2) -> tuple[np.ndarray, ...]:
    """Two checkpoints per student; groups a (1500 students, ~31% with the outcome),
    b (1400, ~45%) and c (100, of whom ``c_positives`` have the outcome). The risk is
    the calibrated probability each outcome was drawn from."""
    rng = np.random.default_rng(seed)
    group = np.array(["a"] * 1500 + ["b"] * 1400 + ["c"] * 100, dtype=object)
    prob = np.concatenate([rng.uniform(0.02, 0.6, 1500), rng.uniform(0.1, 0.8, 1400), np.full(100, 0.02)])
    outcome = (rng.uniform(size=3000) < prob).astype(float)
    outcome[group == "c"] = 0.0
    outcome[np.flatnonzero(group == "c")[:c_positives]] = 1.0
    students = np.repeat(np.arange(3000), 2)
    return outcome[students], prob[students], students, pd.DataFrame({"race_ethnicity": group[students]})


def _audit(y, risk, students, attributes, **extra) -> list[dict]:
    # Wide ratio bounds: these groups differ in risk on purpose; only ECE is tight.
    bounds = FairnessBounds(ratio_min=0.01, ratio_max=100.0, max_ece=0.05)
    return fairness_audit(
        y, risk, students, attributes, flag_rate=0.25, bounds=bounds,
        min_group_size=20, n_samples=40, seed=0, **extra,
    )


def test_two_students_with_the_outcome_are_too_few_to_judge() -> None:
    data = _district()
    rows = {r["group"]: r for r in _audit(*data)}
    small = rows["c"]
    assert small["verdict"] == "too few to judge (fewer than 30 students with the outcome)"
    assert small["too_few_positives"] and not small["too_small"]
    assert small["n_positives"] == 2 and small["n_students"] == 100 and small["n"] == 200
    assert small["fnr"] is None and small["fnr_ratio"] is None
    assert "fnr" not in small["intervals"] and "fnr_ratio" not in small["intervals"]
    assert np.isfinite(small["ece"]) and np.isfinite(small["fpr"])  # published as the group is large enough
    judged = rows["b"]
    assert not judged["too_few_positives"] and judged["verdict"].startswith("within bounds")
    y, _, students, attributes = data
    in_b = attributes["race_ethnicity"].to_numpy() == "b"
    assert judged["n_positives"] == len(np.unique(students[in_b & (y == 1)]))  # students, not rows
    assert 0 <= judged["fnr"] <= 1 and judged["intervals"]["fnr"][0] <= judged["fnr"]
    summary = fairness_summary(list(rows.values()))
    assert summary == ("2 of 3 audited groups are within bounds; too few students with the "
                       "outcome to judge: race_ethnicity=c.")


def test_min_positives_is_a_setting() -> None:
    rows = {r["group"]: r for r in _audit(*_district(c_positives=12), min_positives=10)}
    assert rows["c"]["n_positives"] == 12 and not rows["c"]["too_few_positives"]
    assert rows["c"]["fnr"] is not None and not rows["c"]["verdict"].startswith("too few")
    with pytest.raises(ValueError, match="min_positives must be at least 1"):
        _audit(*_district(), min_positives=0)


def test_a_reference_group_with_too_few_positives_leaves_no_group_judged() -> None:
    y, risk, students, attributes = _district()
    rows = _audit(y, risk, students, attributes, min_positives=550)  # a has ~465, b ~630
    by_group = {r["group"]: r for r in rows}
    assert by_group["a"]["reference_group"] == "a" and by_group["a"]["n_positives"] < 550
    assert by_group["b"]["n_positives"] >= 550
    assert by_group["a"]["verdict"].startswith("too few to judge (fewer than 550")
    assert by_group["b"]["verdict"] == ("too few to judge (the reference group has fewer than 550 "
                                        "students with the outcome)")
    assert by_group["b"]["fnr"] is not None and by_group["b"]["fnr_ratio"] is None
    assert fairness_summary(rows).startswith("0 of 3 audited groups are within bounds")


def test_a_group_too_few_to_judge_can_still_be_badly_calibrated() -> None:
    y, risk, students, attributes = _district()
    in_c = attributes["race_ethnicity"].to_numpy() == "c"
    risk = risk.copy()
    risk[in_c] = 0.9  # c almost never has the outcome
    rows = _audit(y, risk, students, attributes)
    c = next(r for r in rows if r["group"] == "c")
    assert c["verdict"].startswith("outside bounds: calibration error")
    assert c["verdict"].endswith("; error rates too few to judge (fewer than 30 students with the outcome)")
    assert fairness_summary(rows) == ("2 of 3 audited groups are within bounds; outside bounds "
                                      "beyond sampling uncertainty: race_ethnicity=c.")
