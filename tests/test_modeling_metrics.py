"""The evaluation machinery on known inputs: metrics, calibration, bootstrap, fairness."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from ontrack.config import FairnessBounds
from ontrack.modeling.calibration import METHODS, MarginCalibrator, apply_calibration, fit_best_calibrator
from ontrack.modeling.fairness import fairness_audit
from ontrack.modeling.metrics import (
    average_precision,
    bootstrap_intervals,
    evaluate_score,
    expected_calibration_error,
    expected_flags,
    list_flags,
    precision_recall_at,
    reliability_table,
    roc_auc,
    score_metrics,
)


def _known(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0.01, 0.99, n)
    y = (rng.uniform(size=n) < prob).astype(float)
    return y, prob


def test_metrics_match_scikit_learn_on_known_inputs() -> None:
    y, prob = _known()
    got = score_metrics(y, prob, rule_rate=0.3)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, prob))
    assert got["pr_auc"] == pytest.approx(average_precision_score(y, prob))
    assert got["brier"] == pytest.approx(brier_score_loss(y, prob))


def test_precision_recall_at_rate_by_hand() -> None:
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0], dtype=float)
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    precision, recall = precision_recall_at(y, score, 0.3)  # flags the top 3
    assert precision == pytest.approx(2 / 3) and recall == pytest.approx(2 / 3)
    # A binary rule at its own flag rate flags exactly the rows it flags.
    rule = np.array([1, 0, 0, 0, 0, 1, 0, 0, 1, 0], dtype=float)
    precision, recall = precision_recall_at(y, rule, 0.3)
    assert precision == pytest.approx(2 / 3) and recall == pytest.approx(2 / 3)


def test_ece_and_reliability_by_hand() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    prob = np.array([0.05, 0.05, 0.95, 0.55])
    table = reliability_table(y, prob)
    assert list(table["n"]) == [2, 1, 1]
    # gaps: bin 0: |0.05-0| x2, bin 5: |0.55-1|, bin 9: |0.95-1| -> (0.1+0.45+0.05)/4
    assert expected_calibration_error(y, prob) == pytest.approx(0.15)
    assert expected_calibration_error(np.array([1.0]), np.array([1.0])) == 0.0


def test_bootstrap_intervals_contain_the_point_estimate_and_are_reproducible() -> None:
    y, prob = _known(600)
    students = np.repeat(np.arange(200), 3)
    first = evaluate_score(y, prob, students, rule_rate=0.2, top_shares=(0.1,), probabilistic=True, n_samples=100, seed=4)
    again = evaluate_score(y, prob, students, rule_rate=0.2, top_shares=(0.1,), probabilistic=True, n_samples=100, seed=4)
    assert first["intervals"] == again["intervals"]
    for key in ("roc_auc", "pr_auc", "brier", "ece", "recall_at_rule_rate"):
        low, high = first["intervals"][key]
        assert low <= first[key] <= high, key
        assert high > low


def test_bootstrap_resamples_whole_students() -> None:
    students = np.array([7, 7, 7, 8, 9, 9])
    seen = []

    def record(rows: np.ndarray) -> dict[str, float]:
        picked = students[rows]
        seen.append(all((picked == s).sum() % {7: 3, 8: 1, 9: 2}[s] == 0 for s in set(picked)))
        return {"n": float(len(rows))}

    bootstrap_intervals(record, students, n_samples=50, seed=0)
    assert all(seen)


def test_bootstrap_draws_the_same_rows_as_one_draw_per_resample() -> None:
    """All resamples drawn at once give each resample the rows a draw per resample gave
    (whole students, in the order picked), so published intervals did not move."""
    students = np.array(["b", "a", "b", "c", "a", "a", "d"])
    seen: list[list[int]] = []

    def record(rows: np.ndarray) -> dict[str, float]:
        seen.append(rows.tolist())
        return {"n": float(len(rows))}

    bootstrap_intervals(record, students, n_samples=30, seed=11)
    codes, uniques = pd.factorize(students)
    members = [np.flatnonzero(codes == g).tolist() for g in range(len(uniques))]
    rng = np.random.default_rng(11)
    expected = [[row for g in rng.integers(0, len(uniques), size=len(uniques)) for row in members[g]]
                for _ in range(30)]
    assert seen == expected


def test_list_labels_as_text_or_codes_give_identical_metrics() -> None:
    y, prob = _known(300, seed=3)
    students = np.repeat(np.arange(100), 3)
    labels = np.array(["2024-01-31", "2023-10-31", "2024-04-30"])[np.arange(300) % 3]
    rule = (prob > 0.7).astype(float)
    common = {"rule_rate": float(rule.mean()), "top_shares": (0.1,), "probabilistic": True,
              "n_samples": 40, "seed": 2, "rule_flagged": rule}
    as_text = evaluate_score(y, prob, students, lists=labels, **common)
    as_codes = evaluate_score(y, prob, students, lists=pd.factorize(labels)[0] + 5, **common)
    assert json.dumps(as_text) == json.dumps(as_codes)


def test_one_sort_and_all_lists_at_once_give_the_per_metric_numbers_exactly() -> None:
    """score_metrics sorts once and flags every list in one pass: the numbers equal, to
    the last bit, the metrics computed one by one and the lists flagged one by one."""
    rng = np.random.default_rng(8)
    for n, ties in ((300, 2), (57, 1), (400, 3)):
        y = (rng.uniform(size=n) < 0.3).astype(float)
        score = np.round(rng.uniform(size=n), ties)
        labels = rng.integers(0, 6, n).astype(str)
        rule = (rng.uniform(size=n) < 0.2).astype(float)
        got = score_metrics(y, score, rule_rate=0.2, lists=labels, rule_flagged=rule)
        assert got["roc_auc"] == roc_auc(y, score) and got["pr_auc"] == average_precision(y, score)
        assert got["precision_at_top_10"] == precision_recall_at(y, score, 0.1)[0]
        one_by_one = np.zeros(n)
        for label in set(labels):
            rows = np.flatnonzero(labels == label)
            one_by_one[rows] = expected_flags(score[rows], float(rule[rows].sum()))
        assert list_flags(score, rule, labels).tolist() == one_by_one.tolist()


def test_calibration_repairs_a_deliberately_mis_scaled_model() -> None:
    rng = np.random.default_rng(0)
    true_logit = rng.normal(-1.0, 1.5, 4000)
    y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    margin = 3.0 * true_logit + 1.0  # far too confident, and shifted
    raw = 1 / (1 + np.exp(-margin))
    for method in METHODS:
        calibrated = MarginCalibrator(method).fit(margin, y).predict_proba(margin)
        assert brier_score_loss(y, calibrated) < brier_score_loss(y, raw) - 0.01, method
        assert expected_calibration_error(y, calibrated) < expected_calibration_error(y, raw) / 2
    best, scores = fit_best_calibrator(margin, y, np.arange(len(y)))
    assert set(scores) == set(METHODS)
    assert best.method_ == min(scores, key=scores.get)
    # Sigmoid recovers the scale it was given: a ~ 1/3, b ~ -1/3.
    assert best.to_dict()["method"] in METHODS
    sigmoid = MarginCalibrator("sigmoid").fit(margin, y).to_dict()
    assert sigmoid["a"] == pytest.approx(1 / 3, abs=0.05)


def test_calibrator_json_round_trip_is_exact() -> None:
    y, prob = _known(500)
    margin = np.log(prob / (1 - prob))
    for method in METHODS:
        fitted = MarginCalibrator(method).fit(margin, y)
        params = json.loads(json.dumps(fitted.to_dict()))
        assert np.array_equal(apply_calibration(params, margin), fitted.predict_proba(margin))
    with pytest.raises(ValueError, match="method must be one of"):
        MarginCalibrator("spline").fit(margin, y)


def test_fairness_audit_flags_a_biased_score_and_withholds_small_groups() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    group = np.where(rng.uniform(size=n) < 0.5, "a", "b").astype(object)
    group[:15] = "tiny"
    y = (rng.uniform(size=n) < 0.3).astype(float)
    risk = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.1, n), 0, 1)
    risk[group == "b"] += 0.1  # group b is flagged far more often at equal outcomes
    students = np.arange(n)
    rows = fairness_audit(
        y, risk, students, pd.DataFrame({"race_ethnicity": group}), flag_rate=0.3,
        bounds=FairnessBounds(), min_group_size=20, n_samples=50, seed=0,
    )
    by_group = {r["group"]: r for r in rows}
    assert by_group["tiny"]["too_small"] and by_group["tiny"]["n_students"] is None
    assert by_group["tiny"]["n"] is None and by_group["tiny"]["n_positives"] is None
    assert "fnr" not in by_group["tiny"] and "ece" not in by_group["tiny"]
    reference = by_group["a"]["reference_group"]
    other = by_group["b" if reference == "a" else "a"]
    assert other["verdict"].startswith("outside bounds")
    assert "noise" not in other["verdict"]
    assert by_group[reference]["fpr_ratio"] == pytest.approx(1.0)
    low, high = other["intervals"]["fpr_ratio"]
    assert low <= other["fpr_ratio"] <= high


def test_reliability_bins_below_the_minimum_size_are_withheld() -> None:
    from ontrack.modeling.evaluation import published_reliability

    y = np.array([0.0] * 30 + [1.0] * 3)
    risk = np.array([0.05] * 30 + [0.95] * 3)
    rows = published_reliability(y, risk, min_group_size=20)
    assert rows[-1]["n"] is None and rows[-1]["observed_rate"] is None and rows[-1]["withheld"]
    # The large bin's rate stays; its count goes too: 33 rows - 30 would give the 3 away.
    assert rows[0]["n"] is None and rows[0]["observed_rate"] == 0.0


def test_fast_auc_and_average_precision_equal_scikit_learns_with_ties() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from ontrack.modeling.metrics import average_precision, roc_auc

    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(5, 400))
        y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(float)
        if not 0 < y.sum() < n:
            continue
        score = np.round(rng.random(n) + y * rng.uniform(0, 1), int(rng.integers(0, 3)))  # heavy ties
        assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
        assert average_precision(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-12)
    assert np.isnan(roc_auc(np.ones(4), np.arange(4.0)))
