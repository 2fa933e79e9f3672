"""The early-warning model: a LightGBM booster plus a calibrator, as one estimator.

A scikit-learn estimator (``clone``, ``Pipeline`` and ``check_estimator`` work):
``fit(X, y)`` alone treats every row as one cohort year; the temporal split
(``ontrack.dataset.splits``) passes its structure as optional fit metadata
(``years``, ``students``, a calibration cohort ``X_calibrate`` / ``y_calibrate``).
``fit`` then goes:

1. the number of boosting rounds is chosen by early stopping on an *inner temporal
   fold*: the newest training cohort year is held out while the older ones fit. With a
   single training year, the calibration cohort is used instead; without one either, a
   student-grouped 20% of the training rows (``early_stopping_on_`` says which);
2. the booster is refitted on every training year with that many rounds;
3. the calibrator (sigmoid or isotonic, chosen by Brier score,
   ``ontrack.modeling.calibration``) is fitted on margins the scoring booster never
   saw: the calibration cohort's when there is one, else *cross-fitted* margins: the
   training rows are split into 5 folds of whole students, a booster with the same
   rounds is fitted on four folds and scores the fifth (``calibration_on_``).

Training is reproducible: the same rows, spec and seed give the same booster text, the
same calibrator and the same risks (``deterministic``, row-wise histograms, a fixed
thread count, every LightGBM seed set from ``random_state``, and features rounded to
``FIT_DECIMALS`` so last-digit noise from the feature build cannot move a bin edge).

Features whose effect on risk has a known direction (more absences, more risk) may be
constrained to it: the spec's ``monotone`` mapping, feature name -> +1 / -1, becomes
LightGBM's ``monotone_constraints`` in the matrix's column order.

The test cohort is never touched here. Everything fitted is plain data: the booster in
LightGBM's own text format and the calibrator's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold, GroupShuffleSplit
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ontrack.modeling.calibration import METHODS, apply_calibration, fit_best_calibrator
from ontrack.modeling.spec import DEFAULT_PARAMS, native_params

__all__ = ["EarlyWarningModel", "native_params", "DEFAULT_PARAMS"]

CROSS_FIT_FOLDS = 5
HOLDOUT_SHARE = 0.2
# Features are rounded to this many decimals before fitting: a database summing in a
# different order changes a GPA in its 15th digit, enough to move a LightGBM bin edge
# and change the booster. Bin edges fall midway between distinct rounded values, so
# scoring unrounded values gives the same trees' answers.
FIT_DECIMALS = 9


class EarlyWarningModel(ClassifierMixin, BaseEstimator):
    """Calibrated LightGBM risk of the bad outcome (the second of ``classes_``).

    A scikit-learn estimator: every setting is a constructor argument, stored as given
    and checked in ``fit``; ``clone``, ``Pipeline`` and grid search work. ``fit(X, y)``
    alone treats the rows as one cohort year; the temporal split's structure (cohort
    years, students, a calibration cohort) is optional fit metadata.

    Parameters
    ----------
    params : scikit-learn style LightGBM settings (``models/lightgbm.yaml``), plus an
        optional ``monotone`` mapping feature -> +1 / -1.
    early_stopping_rounds : rounds without improvement before stopping.
    calibration_methods : candidates for the calibrator.
    random_state : seed of every LightGBM random stream and of the folds (results are
        reproducible bit for bit).
    dask_address : refit the final booster with ``lightgbm.dask`` on this Dask
        scheduler (``"local"``: a local 2-worker cluster); None fits in-process.

    Fitted attributes: ``booster_``, ``feature_names_`` (the matrix's columns, or
    ``x0..xn`` for an array), ``n_features_in_``, ``feature_names_in_`` (DataFrames
    only), ``classes_``, ``best_iteration_``, ``early_stopping_on_``, ``calibration_``
    (the calibrator's JSON parameters), ``calibration_brier_`` (each method's Brier
    score on the calibration margins), ``calibration_on_`` (which margins).
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

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # LightGBM routes missing values itself
        tags.classifier_tags.multi_class = False  # one outcome: off track or not
        return tags

    def fit(
        self,
        X: pd.DataFrame | np.ndarray,
        y: pd.Series | np.ndarray,
        *,
        years: np.ndarray | None = None,
        students: np.ndarray | None = None,
        X_calibrate: pd.DataFrame | np.ndarray | None = None,
        y_calibrate: pd.Series | np.ndarray | None = None,
        students_calibrate: np.ndarray | None = None,
    ) -> EarlyWarningModel:
        """Fit the booster on the training rows ``X``/``y`` and the calibrator on
        margins the booster never saw; returns self.

        Optional metadata: ``years`` (cohort year of each row; default one year),
        ``students`` (student of each row; default the ``student_id`` index level,
        else one student per row), and a calibration cohort ``X_calibrate`` /
        ``y_calibrate`` (``students_calibrate``). Without a calibration cohort the
        calibrator is fitted on cross-fitted margins of the training rows.
        """
        if (X_calibrate is None) != (y_calibrate is None):
            raise ValueError(
                "X_calibrate and y_calibrate must be given together. Got only "
                f"{'X_calibrate' if y_calibrate is None else 'y_calibrate'} instead."
            )
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        X = self._frame(X, reset=True).round(FIT_DECIMALS)
        y_fit = self._encode(y, len(X), reset=True)
        if X_calibrate is not None:
            X_calibrate = self._frame(X_calibrate, reset=False).round(FIT_DECIMALS)
            y_calibrate = self._encode(y_calibrate, len(X_calibrate), reset=False)
        native = native_params(params, self.random_state, self.feature_names_)
        years = np.zeros(len(X)) if years is None else _per_row(years, len(X), "years")
        groups = _students(X, students)
        self.best_iteration_ = self._choose_rounds(
            native, int(params["n_estimators"]), X, y_fit, years, groups,
            X_calibrate, y_calibrate,
        )
        if self.dask_address:
            from ontrack.modeling.distributed import fit_booster_on_dask

            self.booster_ = fit_booster_on_dask(
                native, X, y_fit, self.best_iteration_, self.dask_address
            )
        else:
            self.booster_ = _train(native, X, y_fit, self.best_iteration_)
        if X_calibrate is not None:
            margin = self.booster_.predict(X_calibrate, raw_score=True)
            self._calibrate(margin, y_calibrate, students_calibrate, "calibration cohort")
        else:
            margin, folds = self._cross_fitted_margins(native, X, y_fit, groups)
            cohorts = len(np.unique(years))
            self._calibrate(margin, y_fit, groups, (
                f"cross-fitted ({folds} folds by student, "
                + ("one training cohort)" if cohorts == 1 else f"{cohorts} training cohorts)")
            ))
        return self

    def _calibrate(
        self, margin: np.ndarray, y: np.ndarray, groups: np.ndarray | None, on: str
    ) -> None:
        """Fit the best calibrator of the booster's ``margin`` against ``y`` (folds by
        ``groups``, the students); ``on`` says which rows the margins are of."""
        calibrator, scores = fit_best_calibrator(
            margin, y, groups, methods=self.calibration_methods
        )
        self.calibration_on_ = on
        self.calibration_ = calibrator.to_dict()
        self.calibration_brier_ = scores

    def _frame(self, X: pd.DataFrame | np.ndarray, *, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame in the fitted column order, checked the scikit-learn
        way (feature count and names). A DataFrame keeps its index and dtypes."""
        if isinstance(X, pd.DataFrame) and not reset and list(X.columns) == self.feature_names_:
            return X
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] < 1 or X.shape[1] < 1:
                raise ValueError(
                    f"X must have at least one row and one column. Got shape {X.shape} instead."
                )
            if reset:
                self.feature_names_ = (
                    [str(c) for c in X.columns] if hasattr(self, "feature_names_in_")
                    else [f"x{i}" for i in range(X.shape[1])]
                )
            return X.set_axis(self.feature_names_, axis=1)
        values = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan")
        if reset:
            self.feature_names_ = [f"x{i}" for i in range(values.shape[1])]
        return pd.DataFrame(values, columns=self.feature_names_)

    def _encode(self, y: object, rows: int, *, reset: bool) -> np.ndarray:
        """1.0 where ``y`` is the bad outcome (the second class), else 0.0."""
        y = column_or_1d(y, warn=True)
        if len(y) != rows:
            raise ValueError(f"y must have one value per row of X ({rows}). Got {len(y)} instead.")
        if reset:
            check_classification_targets(y)
            classes = np.unique(y)
            kind = type_of_target(y)
            if kind != "binary" or len(classes) != 2:
                raise ValueError(
                    "Only binary classification is supported. y must hold exactly two "
                    "classes (the outcome and its absence). Got "
                    f"{len(classes)} class{'es' if len(classes) != 1 else ''} ({kind}) instead."
                )
            self.classes_ = classes
        return np.asarray(y == self.classes_[1], dtype="float64")

    def _choose_rounds(
        self,
        native: dict,
        rounds: int,
        X: pd.DataFrame,
        y: np.ndarray,
        years: np.ndarray,
        groups: np.ndarray,
        X_calibrate: pd.DataFrame | None,
        y_calibrate: np.ndarray | None,
    ) -> int:
        """Boosting rounds by early stopping on rows the probe booster does not fit."""
        newest = years.max()
        if len(np.unique(years)) >= 2:
            inner = years < newest
            fit_X, fit_y, stop_X, stop_y = X[inner], y[inner], X[~inner], y[~inner]
            self.early_stopping_on_ = f"inner fold: training cohort {int(newest)}"
        elif X_calibrate is not None:
            fit_X, fit_y = X, y
            stop_X, stop_y = X_calibrate, y_calibrate
            self.early_stopping_on_ = "calibration cohort (only one training year)"
        else:
            split = GroupShuffleSplit(
                n_splits=1, test_size=HOLDOUT_SHARE, random_state=self.random_state
            )
            keep, held = next(split.split(X, y, groups))
            fit_X, fit_y = X.iloc[keep], y[keep]
            stop_X, stop_y = X.iloc[held], y[held]
            self.early_stopping_on_ = (
                f"{HOLDOUT_SHARE:.0%} of training students held out "
                "(one training year, no calibration cohort)"
            )
        probe = lgb.train(
            native,
            lgb.Dataset(fit_X, fit_y, free_raw_data=False),
            num_boost_round=rounds,
            valid_sets=[lgb.Dataset(stop_X, stop_y)],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        return int(probe.best_iteration or rounds)

    def _cross_fitted_margins(
        self, native: dict, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Out-of-fold margins of the training rows: each fold of whole students is
        scored by a booster fitted on the other folds with the chosen rounds."""
        folds = min(CROSS_FIT_FOLDS, len(np.unique(groups)))
        if folds < 2:
            raise ValueError(
                "cross-fitted calibration needs training rows of at least 2 students. "
                f"Got {folds} instead."
            )
        margin = np.empty(len(y))
        for fit_rows, score_rows in GroupKFold(n_splits=folds).split(X, y, groups):
            booster = _train(native, X.iloc[fit_rows], y[fit_rows], self.best_iteration_)
            margin[score_rows] = booster.predict(X.iloc[score_rows], raw_score=True)
        return margin, folds

    def decision_function(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw margin (log-odds) of the booster, before calibration."""
        check_is_fitted(self, "booster_")
        return self.booster_.predict(self._frame(X, reset=False), raw_score=True)

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one column per class of ``classes_`` (the second:
        the bad outcome), within 1%-99%."""
        check_is_fitted(self, "booster_")
        risk = apply_calibration(self.calibration_, self.decision_function(X))
        return np.column_stack([1.0 - risk, risk])

    def predict_risk(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated risk of the bad outcome (what users see)."""
        return self.predict_proba(X)[:, 1]

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The bad outcome where its calibrated risk is at least one half (ranking is
        what matters), else the other class."""
        bad = self.predict_risk(X) >= 0.5
        return self.classes_[bad.astype(int)]

    def contributions(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Exact TreeSHAP contributions to the margin, one column per feature plus
        ``base_value``; each row sums to :meth:`decision_function`."""
        check_is_fitted(self, "booster_")
        frame = self._frame(X, reset=False)
        values = self.booster_.predict(frame, pred_contrib=True)
        return pd.DataFrame(values, index=frame.index, columns=[*self.feature_names_, "base_value"])


def _train(native: dict, X: pd.DataFrame, y: np.ndarray, rounds: int) -> lgb.Booster:
    """A booster of ``rounds`` rounds on all of ``X``/``y``."""
    return lgb.train(native, lgb.Dataset(X, y), num_boost_round=rounds)


def _per_row(values: object, rows: int, name: str) -> np.ndarray:
    """``values`` as an array of one value per row, or a ValueError saying so."""
    values = np.asarray(values)
    if values.ndim != 1 or len(values) != rows:
        raise ValueError(
            f"{name} must have one value per row of X ({rows} rows). "
            f"Got {values.size} values instead."
        )
    return values


def _students(X: pd.DataFrame, students: np.ndarray | None) -> np.ndarray:
    """Student of each row: given, else the ``student_id`` index level, else the row."""
    if students is not None:
        return _per_row(students, len(X), "students")
    if "student_id" in (X.index.names or []):
        return X.index.get_level_values("student_id").to_numpy()
    return np.arange(len(X))
