"""EarlyWarningModel: cross-fitted calibration, bit-identical refits, monotone constraints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
        ({"monotone": {"gpa_ytd": 2}}, "monotone directions must be -1, 0 or \\+1"),
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
