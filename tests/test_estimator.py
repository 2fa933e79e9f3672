"""EarlyWarningModel: cross-fitted calibration, bit-identical refits, monotone constraints,
and scikit-learn's conventions (clone, Pipeline, the estimator checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from ontrack.modeling.estimator import EarlyWarningModel, native_params

SMALL = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20}


def cohort(n_students: int, year: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Three checkpoints per student; risk rises with absences, falls with GPA."""
    rng = np.random.default_rng(seed)
    ids = [f"s{year}-{i}" for i in range(n_students)]
    base_absent = rng.gamma(2.0, 4.0, n_students)
    gpa = np.clip(rng.normal(2.9, 0.7, n_students), 0, 4)
    noise = rng.normal(0, 1, n_students)
    rows, labels = [], []
    logit = -3.0 + 0.12 * base_absent - 1.1 * (gpa - 2.9) + 0.3 * noise
    outcome = rng.random(n_students) < 1 / (1 + np.exp(-logit))
    for k, as_of in enumerate(pd.to_datetime([f"{year}-10-31", f"{year + 1}-01-31", f"{year + 1}-06-30"])):
        share = (k + 1) / 3
        for i, sid in enumerate(ids):
            rows.append({
                "student_id": sid, "as_of_date": as_of,
                "days_absent_ytd": base_absent[i] * share + rng.poisson(1),
                "gpa_ytd": gpa[i] + rng.normal(0, 0.15),
                "shoe_size": rng.normal(0, 1),
            })
            labels.append(int(outcome[i]))
    X = pd.DataFrame(rows).set_index(["student_id", "as_of_date"])
    return X, pd.Series(labels, index=X.index, name="y")


def test_one_cohort_without_calibration_rows_is_cross_fitted_and_calibrated() -> None:
    X, y = cohort(900, 2020, seed=1)
    model = EarlyWarningModel(params=SMALL).fit(X, y, years=np.full(len(X), 2020))
    assert model.calibration_on_ == "cross-fitted (5 folds by student, one training cohort)"
    assert "held out" in model.early_stopping_on_
    # A later cohort from the same world: the mean calibrated risk is its base rate.
    X_new, y_new = cohort(1500, 2021, seed=2)
    risk = model.predict_risk(X_new)
    assert abs(risk.mean() - y_new.mean()) < 0.025
    assert abs(model.predict_risk(X).mean() - y.mean()) < 0.02


def test_cross_fitting_keeps_students_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import ontrack.modeling.estimator as module

    seen: list[tuple[set, set]] = []
    real = module.GroupKFold.split

    def spy(self, X, y=None, groups=None):  # noqa: ANN001, ANN202
        for fit_rows, score_rows in real(self, X, y, groups):
            seen.append((set(groups[fit_rows]), set(groups[score_rows])))
            yield fit_rows, score_rows

    monkeypatch.setattr(module.GroupKFold, "split", spy)
    X, y = cohort(200, 2020, seed=3)
    EarlyWarningModel(params=SMALL).fit(X, y, years=np.full(len(X), 2020))
    # The first five splits are the cross-fitting's (the calibrator's own follow).
    assert len(seen) >= 5
    assert all(not (fit & scored) for fit, scored in seen[:5])
    assert set().union(*(scored for _, scored in seen[:5])) == set(X.index.get_level_values(0))


def test_calibration_cohort_is_used_when_given() -> None:
    X, y = cohort(400, 2020, seed=4)
    Xc, yc = cohort(300, 2021, seed=5)
    model = EarlyWarningModel(params=SMALL).fit(
        X, y, years=np.full(len(X), 2020), X_calibrate=Xc, y_calibrate=yc,
        students_calibrate=Xc.index.get_level_values("student_id").to_numpy(),
    )
    assert model.calibration_on_ == "calibration cohort"
    assert model.early_stopping_on_ == "calibration cohort (only one training year)"
    with pytest.raises(ValueError, match="must be given together"):
        EarlyWarningModel(params=SMALL).fit(X, y, years=np.full(len(X), 2020), X_calibrate=Xc)


@pytest.mark.parametrize("calibrate", [False, True])
def test_refit_is_bit_identical(calibrate: bool) -> None:
    X1, y1 = cohort(300, 2019, seed=6)
    X2, y2 = cohort(300, 2020, seed=7)
    X, y = pd.concat([X1, X2]), pd.concat([y1, y2])
    years = np.repeat([2019, 2020], len(X1))
    extra = {}
    if calibrate:
        Xc, yc = cohort(200, 2021, seed=8)
        extra = {"X_calibrate": Xc, "y_calibrate": yc}
    params = {**SMALL, "subsample": 0.7, "colsample_bytree": 0.7}
    fits = [EarlyWarningModel(params=params, random_state=11).fit(X, y, years=years, **extra) for _ in range(2)]
    assert fits[0].booster_.model_to_string() == fits[1].booster_.model_to_string()
    assert fits[0].calibration_ == fits[1].calibration_
    assert np.array_equal(fits[0].predict_risk(X), fits[1].predict_risk(X))
    other = EarlyWarningModel(params=params, random_state=12).fit(X, y, years=years, **extra)
    assert other.booster_.model_to_string() != fits[0].booster_.model_to_string()


def test_last_digit_noise_in_features_gives_the_same_booster() -> None:
    X, y = cohort(400, 2020, seed=10)
    years = np.full(len(X), 2020)
    # What summing the same marks in another order does to a GPA: one unit in the last place.
    noisy = X.assign(gpa_ytd=np.nextafter(X["gpa_ytd"].to_numpy(), np.inf))
    fits = [EarlyWarningModel(params=SMALL).fit(m, y, years=years) for m in (X, noisy)]
    assert fits[0].booster_.model_to_string() == fits[1].booster_.model_to_string()
    assert np.array_equal(fits[0].predict_risk(X), fits[1].predict_risk(noisy))


def test_monotone_mapping_becomes_constraints_in_feature_order() -> None:
    params = {**SMALL, "monotone": {"gpa_ytd": -1, "days_absent_ytd": 1, "not_in_matrix": 1}}
    native = native_params(params, 0, ["days_absent_ytd", "shoe_size", "gpa_ytd"])
    assert native["monotone_constraints"] == [1, 0, -1]
    assert native["num_threads"] == 1 and native["bagging_seed"] == 0
    assert "monotone_constraints" not in native_params(SMALL, 0, ["shoe_size"])
    X, y = cohort(500, 2020, seed=9)
    model = EarlyWarningModel(params=params).fit(X, y, years=np.full(len(X), 2020))
    grid = pd.DataFrame({
        "days_absent_ytd": np.linspace(0, 40, 60), "gpa_ytd": 2.5, "shoe_size": 0.3,
    })
    assert np.all(np.diff(model.decision_function(grid)) >= 0)
    grid = grid.assign(days_absent_ytd=5.0, gpa_ytd=np.linspace(0, 4, 60))
    assert np.all(np.diff(model.decision_function(grid)) <= 0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"monotone": {"gpa_ytd": 2}}, "monotone.gpa_ytd must be -1, 0 or \\+1"),
        ({"monotone": ["gpa_ytd"]}, "monotone must map feature names"),
        ({"n_jobs": 0}, "n_jobs must be a whole number"),
        ({"max_bin": 63}, "classifier parameters must be among"),
    ],
)
def test_bad_spec_is_refused(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        native_params({"n_jobs": 1, **params}, 0, ["gpa_ytd"])


def test_shipped_monotone_directions_agree_with_the_feature_declarations() -> None:
    """models/lightgbm.yaml names real features, each the way its ``risk_when`` says."""
    from pathlib import Path

    import yaml

    from ontrack.features import FEATURES

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "models" / "lightgbm.yaml").read_text())
    directions = spec["classifier"]["monotone"]
    specs = {f.name: f for f in FEATURES}
    assert set(directions) <= set(specs), sorted(set(directions) - set(specs))
    for name, direction in directions.items():
        declared = specs[name].risk_when
        if declared is not None:
            assert direction == (1 if declared == "high" else -1), name


# --- scikit-learn conventions -------------------------------------------------------

# Small enough for scikit-learn's toy data sets (tens of rows): shallow trees, few
# rounds, leaves of two rows, and one calibration method (three would triple the time).
TINY = {"n_estimators": 10, "learning_rate": 0.3, "num_leaves": 4, "min_child_samples": 2,
        "subsample": 1.0, "colsample_bytree": 1.0}
# Every check applies and passes with TINY: missing values are allowed (a tag), the
# binary-only tag makes the multiclass checks expect our "Only binary classification"
# error, and the 1%-99% squash keeps predict_proba's columns summing to one and in the
# margin's order. So no check is marked as an expected failure.
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks(
    [EarlyWarningModel(params=TINY, early_stopping_rounds=3, calibration_methods=("sigmoid",))],
    expected_failed_checks=lambda _estimator: EXPECTED_FAILED,
)
def test_scikit_learn_estimator_checks(estimator, check) -> None:  # noqa: ANN001
    check(estimator)


def test_clone_gives_an_unfitted_copy_with_equal_params() -> None:
    X, y = cohort(200, 2020, seed=12)
    model = EarlyWarningModel(params=SMALL, early_stopping_rounds=7, random_state=3).fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.params is not model.params  # a deep copy: refitting it cannot touch ours
    assert not hasattr(copy, "booster_") and not hasattr(copy, "classes_")
    assert copy.fit(X, y).booster_.model_to_string() == model.booster_.model_to_string()


def test_plain_fit_is_one_cohort_with_students_from_the_index() -> None:
    """fit(X, y) without metadata is the one-year fit, students from ``student_id``."""
    X, y = cohort(300, 2020, seed=13)
    plain = EarlyWarningModel(params=SMALL).fit(X, y)
    explicit = EarlyWarningModel(params=SMALL).fit(
        X, y, years=np.full(len(X), 2020), students=X.index.get_level_values("student_id"))
    assert plain.booster_.model_to_string() == explicit.booster_.model_to_string()
    assert plain.calibration_ == explicit.calibration_
    assert plain.calibration_on_ == "cross-fitted (5 folds by student, one training cohort)"
    assert list(plain.feature_names_in_) == list(X.columns) and plain.n_features_in_ == 3
    assert list(plain.classes_) == [0, 1]


def test_numpy_arrays_and_string_labels_work() -> None:
    X, y = cohort(300, 2020, seed=14)
    labels = np.where(y == 1, "off track", "on track")  # sorted: "off track" is classes_[0]
    model = EarlyWarningModel(params=SMALL).fit(X.to_numpy(), labels)
    assert model.feature_names_ == ["x0", "x1", "x2"] and not hasattr(model, "feature_names_in_")
    assert list(model.classes_) == ["off track", "on track"]
    proba = model.predict_proba(X.to_numpy())
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1.0)
    # The second class is the "bad outcome" here ("on track"), so its risk falls with absences.
    assert np.corrcoef(proba[:, 1], X["days_absent_ytd"])[0, 1] < 0
    assert set(model.predict(X.to_numpy())) <= set(model.classes_)
    with pytest.raises(ValueError, match="Only binary classification"):
        EarlyWarningModel(params=SMALL).fit(X, np.arange(len(X)) % 3)


def test_pipeline_with_an_imputer_fits_and_routes_cohort_years() -> None:
    X1, y1 = cohort(300, 2019, seed=15)
    X2, y2 = cohort(300, 2020, seed=16)
    X, y = pd.concat([X1, X2]), pd.concat([y1, y2])
    X = X.mask(np.random.default_rng(0).random(X.shape) < 0.1)  # 10% missing
    pipe = Pipeline([("impute", SimpleImputer()), ("model", EarlyWarningModel(params=SMALL))])
    pipe.fit(X, y, model__years=np.repeat([2019, 2020], len(X1)))
    assert pipe.named_steps["model"].early_stopping_on_ == "inner fold: training cohort 2020"
    X_new, y_new = cohort(400, 2021, seed=17)
    direct = EarlyWarningModel(params=SMALL).fit(
        SimpleImputer().fit_transform(X), y, years=np.repeat([2019, 2020], len(X1)))
    assert direct.booster_.model_to_string() == pipe.named_steps["model"].booster_.model_to_string()
    assert roc_auc_score(y_new, pipe.predict_proba(X_new)[:, 1]) > 0.65  # ~0.72 without gaps
    assert clone(pipe).fit(X, y).predict(X_new).shape == (len(X_new),)
