"""The early-warning model: a LightGBM booster plus a calibrator, as one estimator.

``EarlyWarningModel.fit`` follows the temporal split (``ontrack.splits``):

1. the number of boosting rounds is chosen by early stopping on an *inner temporal
   fold*: the newest training cohort year is held out while the older ones fit (with a
   single training year, the calibration cohort is used instead, and that is recorded);
2. the booster is refitted on every training year with that many rounds;
3. the calibrator is fitted on the calibration cohort, which the final booster never
   saw, choosing sigmoid or isotonic by Brier score (``ontrack.modeling.calibration``).

The test cohort is never touched here. Everything fitted is plain data: the booster in
LightGBM's own text format and the calibrator's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from ontrack.modeling.calibration import METHODS, apply_calibration, fit_best_calibrator

DEFAULT_PARAMS: dict = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 6,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 1,
}
# scikit-learn style names -> LightGBM's own parameter names.
_NATIVE = {
    "learning_rate": "learning_rate",
    "num_leaves": "num_leaves",
    "max_depth": "max_depth",
    "min_child_samples": "min_data_in_leaf",
    "subsample": "bagging_fraction",
    "subsample_freq": "bagging_freq",
    "colsample_bytree": "feature_fraction",
    "reg_lambda": "lambda_l2",
    "reg_alpha": "lambda_l1",
    "n_jobs": "num_threads",
}


def native_params(params: dict, seed: int) -> dict:
    """LightGBM ``train`` parameters from the spec's scikit-learn style names."""
    unknown = sorted(set(params) - set(_NATIVE) - {"n_estimators", "random_state"})
    if unknown:
        raise ValueError(
            f"classifier parameters must be among {', '.join(sorted(_NATIVE))}, "
            f"n_estimators. Got {', '.join(unknown)} instead."
        )
    native = {_NATIVE[k]: v for k, v in params.items() if k in _NATIVE}
    return {
        "objective": "binary",
        "verbosity": -1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        **native,
    }


class EarlyWarningModel(ClassifierMixin, BaseEstimator):
    """Calibrated LightGBM risk of the bad outcome (1 = off track / not graduated).

    Parameters
    ----------
    params : scikit-learn style LightGBM settings (``models/lightgbm.yaml``).
    early_stopping_rounds : rounds without improvement before stopping.
    calibration_methods : candidates for the calibrator.
    random_state : seed of the booster (results are reproducible).
    dask_address : refit the final booster with ``lightgbm.dask`` on this Dask
        scheduler (``"local"``: a local 2-worker cluster); None fits in-process.

    Fitted attributes: ``booster_``, ``feature_names_``, ``best_iteration_``,
    ``early_stopping_on_``, ``calibration_`` (the calibrator's JSON parameters),
    ``calibration_brier_`` (each method's Brier score on the calibration cohort),
    ``classes_``.
    """

    def __init__(
        self,
        params: dict | None = None,
        early_stopping_rounds: int = 50,
        calibration_methods: Sequence[str] = METHODS,
        random_state: int = 0,
        dask_address: str | None = None,
    ) -> None:
        self.params = params
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration_methods = calibration_methods
        self.random_state = random_state
        self.dask_address = dask_address

    def fit(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        *,
        years: np.ndarray,
        X_calibrate: pd.DataFrame,
        y_calibrate: pd.Series,
        students_calibrate: np.ndarray | None = None,
    ) -> EarlyWarningModel:
        """Fit the booster on training cohorts ``X``/``y`` (``years`` per row) and the
        calibrator on the calibration cohort; returns self."""
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        native = native_params(params, self.random_state)
        rounds = int(params["n_estimators"])
        years = np.asarray(years)
        y_fit = np.asarray(y, dtype="float64")
        newest = years.max()
        if len(np.unique(years)) >= 2:
            inner = years < newest
            fit_X, fit_y = X[inner], y_fit[inner]
            stop_X, stop_y = X[~inner], y_fit[~inner]
            self.early_stopping_on_ = f"inner fold: training cohort {int(newest)}"
        else:
            fit_X, fit_y = X, y_fit
            stop_X, stop_y = X_calibrate, np.asarray(y_calibrate, dtype="float64")
            self.early_stopping_on_ = "calibration cohort (only one training year)"
        probe = lgb.train(
            native,
            lgb.Dataset(fit_X, fit_y, free_raw_data=False),
            num_boost_round=rounds,
            valid_sets=[lgb.Dataset(stop_X, stop_y)],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(probe.best_iteration or rounds)
        if self.dask_address:
            from ontrack.modeling.distributed import fit_booster_on_dask

            self.booster_ = fit_booster_on_dask(native, X, y_fit, self.best_iteration_, self.dask_address)
        else:
            self.booster_ = lgb.train(
                native, lgb.Dataset(X, y_fit), num_boost_round=self.best_iteration_
            )
        self.feature_names_ = list(X.columns)
        margin = self.decision_function(X_calibrate)
        calibrator, scores = fit_best_calibrator(
            margin, np.asarray(y_calibrate, dtype="float64"), students_calibrate,
            methods=self.calibration_methods,
        )
        self.calibration_ = calibrator.to_dict()
        self.calibration_brier_ = scores
        self.classes_ = np.array([0, 1])
        return self

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[self.feature_names_]

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw margin (log-odds) of the booster, before calibration."""
        return self.booster_.predict(self._matrix(X), raw_score=True)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, columns (0: good outcome, 1: bad outcome)."""
        risk = apply_calibration(self.calibration_, self.decision_function(X))
        return np.column_stack([1.0 - risk, risk])

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated risk of the bad outcome (what users see)."""
        return self.predict_proba(X)[:, 1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated risk is at least one half (ranking is what matters)."""
        return (self.predict_risk(X) >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact TreeSHAP contributions to the margin, one column per feature plus
        ``base_value``; each row sums to :meth:`decision_function`."""
        values = self.booster_.predict(self._matrix(X), pred_contrib=True)
        return pd.DataFrame(values, index=X.index, columns=[*self.feature_names_, "base_value"])
