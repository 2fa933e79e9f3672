"""Calibrators keep the booster's order: distinct margins get distinct risks."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from ontrack.modeling import calibration
from ontrack.modeling.bundle import load_bundle, save_bundle
from ontrack.modeling.calibration import (
    METHODS,
    RISK_LIMITS,
    MarginCalibrator,
    apply_calibration,
    fit_best_calibrator,
    squash_risk,
)
from ontrack.modeling.metrics import expected_calibration_error


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Booster-like margins: overconfident, a third of students below 1% raw risk, and
    twelve groups of 0.6% of the cohort sharing a margin (students in the same leaves)."""
    rng = np.random.default_rng(seed)
    margin = np.concatenate([rng.normal(-2.0, 1.5, n - n // 3), rng.normal(-6.5, 1.0, n // 3)])
    for rows in rng.permutation(n)[: 12 * int(0.006 * n)].reshape(12, -1):
        margin[rows] = margin[rows[0]]
    y = (rng.uniform(size=n) < _sigmoid(0.7 * margin - 0.4)).astype(float)
    return margin, y


def _largest_tie(values: np.ndarray) -> int:
    return int(np.unique(values, return_counts=True)[1].max())


@pytest.fixture(scope="module")
def cohorts() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"calibrate": _cohort(1500, 1), "test": _cohort(2000, 2)}


@pytest.mark.parametrize("method", METHODS)
def test_no_risk_is_shared_by_more_than_one_percent_of_a_cohort(cohorts, method: str) -> None:
    margin, y = cohorts["calibrate"]
    test_margin, test_y = cohorts["test"]
    risk = MarginCalibrator(method).fit(margin, y).predict_proba(test_margin)
    # The calibrator adds no ties of its own: only students with equal margins share a risk.
    assert len(np.unique(risk)) == len(np.unique(test_margin))
    assert _largest_tie(risk) == _largest_tie(test_margin) <= 0.01 * len(test_margin)
    assert expected_calibration_error(test_y, risk) < 0.03


def test_the_old_step_function_and_hard_clip_would_fail_the_tie_target(cohorts) -> None:
    margin, y = cohorts["calibrate"]
    test_margin = cohorts["test"][0]
    steps = IsotonicRegression(out_of_bounds="clip").fit(margin, y)
    legacy = {"method": "isotonic", "x": steps.X_thresholds_.tolist(), "y": steps.y_thresholds_.tolist()}
    assert _largest_tie(apply_calibration(legacy, test_margin)) > 0.10 * len(test_margin)
    platt = MarginCalibrator("sigmoid").fit(margin, y).to_dict()
    clipped = {k: v for k, v in platt.items() if k != "limits"}
    assert np.mean(apply_calibration(clipped, test_margin) == RISK_LIMITS[0]) > 0.01


@pytest.mark.parametrize("method", METHODS)
def test_risk_is_strictly_increasing_in_the_margin_and_never_certain(cohorts, method: str) -> None:
    params = json.loads(json.dumps(MarginCalibrator(method).fit(*cohorts["calibrate"]).to_dict()))
    grid = np.linspace(-15.0, 15.0, 30001)
    risk = apply_calibration(params, grid)
    assert np.all(np.diff(risk) > 0)
    assert risk.min() > 0.01 and risk.max() < 0.99


def test_squash_is_the_identity_between_the_knees_and_smooth_at_them() -> None:
    floor, knee_low, knee_high, ceiling = RISK_LIMITS
    middle = np.linspace(knee_low, knee_high, 101)
    assert np.array_equal(squash_risk(middle), middle)
    q = np.linspace(-3.0, 4.0, 70001)
    out = squash_risk(q)
    assert np.all(np.diff(out) > 0) and out.min() > floor and out.max() < ceiling
    eps = 1e-7  # same value and slope either side of each knee
    for knee in (knee_low, knee_high):
        below, above = squash_risk(np.array([knee - eps, knee + eps]))
        assert (above - below) / (2 * eps) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="floor < lower knee"):
        squash_risk(np.array([0.5]), (0.2, 0.1, 0.9, 0.99))


def test_beta_fits_an_asymmetric_miscalibration_platt_cannot() -> None:
    rng = np.random.default_rng(5)
    margin = rng.normal(-1.0, 2.0, 6000)
    s = _sigmoid(margin)
    truth = _sigmoid(2.0 * np.log(s) - 0.5 * np.log1p(-s) + 0.5)  # a = 2, b = 0.5
    y = (rng.uniform(size=6000) < truth).astype(float)
    beta = MarginCalibrator("beta").fit(margin, y)
    assert beta.params_["a"] == pytest.approx(2.0, abs=0.35)
    assert beta.params_["b"] == pytest.approx(0.5, abs=0.2)
    platt = MarginCalibrator("sigmoid").fit(margin, y)
    assert brier_score_loss(y, beta.predict_proba(margin)) < brier_score_loss(y, platt.predict_proba(margin))
    best, scores = fit_best_calibrator(margin, y, np.arange(len(y)) // 2)
    assert scores["beta"] < scores["sigmoid"] and best.method_ in ("beta", "isotonic")


def test_beta_drops_a_term_that_would_bend_the_curve_downwards() -> None:
    rng = np.random.default_rng(6)
    margin = rng.normal(0.0, 2.0, 6000)
    s = _sigmoid(margin)
    truth = _sigmoid(1.5 * np.log(s) + 0.6 * np.log1p(-s))  # b = -0.6: falls at the top
    y = (rng.uniform(size=6000) < truth).astype(float)
    params = MarginCalibrator("beta").fit(margin, y).to_dict()
    assert params["b"] == 0.0 and params["a"] > 0
    assert np.all(np.diff(apply_calibration(params, np.linspace(-10, 10, 2001))) > 0)


def test_a_tie_in_brier_score_goes_to_the_simpler_method(monkeypatch, cohorts) -> None:
    monkeypatch.setattr(calibration, "brier_score_loss", lambda y, p: 0.1)
    margin, y = cohorts["calibrate"]
    assert fit_best_calibrator(margin, y)[0].method_ == "sigmoid"
    assert fit_best_calibrator(margin, y, methods=("isotonic", "beta"))[0].method_ == "beta"
    with pytest.raises(ValueError, match="calibration methods must be"):
        fit_best_calibrator(margin, y, methods=("sigmoid", "spline"))


@pytest.mark.parametrize("method", METHODS)
def test_a_margin_unrelated_to_the_outcome_is_refused(method: str) -> None:
    margin = np.linspace(-3, 3, 400)
    y = (margin < 0).astype(float)  # the outcome falls as the margin rises
    with pytest.raises(ValueError, match="rising with the booster's margin"):
        MarginCalibrator(method).fit(margin, y)


def test_an_older_bundle_scores_exactly_as_before(tmp_path) -> None:
    rng = np.random.default_rng(7)
    X = pd.DataFrame({"f1": rng.normal(size=300), "f2": rng.normal(size=300)})
    y = (X["f1"] + rng.normal(size=300) > 0.5).astype(float)
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=5)
    margin = booster.predict(X, raw_score=True)
    old_steps = {"method": "isotonic", "x": [-1.0, -0.2, -0.1, 0.8], "y": [0.0, 0.0, 0.4, 1.0]}
    old_platt = {"method": "sigmoid", "a": 4.0, "b": -1.0}
    for number, old in enumerate((old_steps, old_platt)):
        save_bundle(tmp_path / str(number), booster, old, {"features": ["f1", "f2"]})
        risk = load_bundle(tmp_path / str(number)).predict_risk(X)
        if old["method"] == "isotonic":
            expected = np.clip(np.interp(margin, old["x"], old["y"]), 0.01, 0.99)
        else:
            expected = np.clip(_sigmoid(4.0 * margin - 1.0), 0.01, 0.99)
        assert np.array_equal(risk, expected)
    new = MarginCalibrator("beta").fit(margin, y.to_numpy()).to_dict()
    save_bundle(tmp_path / "new", booster, new, {"features": ["f1", "f2"]})
    assert np.array_equal(load_bundle(tmp_path / "new").predict_risk(X), apply_calibration(new, margin))


def test_a_booster_that_does_not_rank_gets_a_flat_calibrator_not_an_inverted_one() -> None:
    from ontrack.modeling.calibration import fit_best_calibrator

    rng = np.random.default_rng(4)
    margin = rng.normal(size=600)
    y = (rng.random(600) < 1 / (1 + np.exp(2.5 * margin))).astype(float)  # falls with the margin
    calibrator, scores = fit_best_calibrator(margin, y)
    risk = calibrator.predict_proba(margin)
    assert np.allclose(risk, y.mean(), atol=1e-9)
    assert calibrator.to_dict()["flat"] is True
    assert all(not np.isfinite(v) for v in scores.values())


@pytest.mark.parametrize("seed", range(6))
def test_platt_and_beta_fits_are_scikit_learns_logistic_regression(seed: int) -> None:
    """The calibrators' own Newton solver reaches the optimum of the model scikit-learn's
    ``LogisticRegression(C=1e6)`` fits (solved tightly), for Platt's one term and beta's two."""
    from sklearn.linear_model import LogisticRegression

    from ontrack.modeling.calibration import _beta_terms, _logistic

    rng = np.random.default_rng(seed)
    n = int(rng.integers(80, 2000))
    margin = rng.normal(size=n) * rng.uniform(0.5, 3.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-(rng.uniform(0.3, 2.5) * margin - 0.7)))).astype(float)
    for features in (margin.reshape(-1, 1), _beta_terms(margin)):
        reference = LogisticRegression(C=1e6, max_iter=5000, tol=1e-12).fit(features, y)
        weights, intercept = _logistic(features, y)
        assert np.allclose(weights, reference.coef_[0], atol=1e-5)
        assert abs(intercept - reference.intercept_[0]) < 1e-5
