"""Train, calibrate, evaluate, audit and register one model (``ontrack train``).

Reads ``OUT/features/<model>/``, fits the booster and both baselines on the temporal
split's training cohorts, calibrates on the calibration cohort, evaluates everything
on the test cohort, logs and registers the run in MLflow and then publishes
``OUT/models/<model>/`` (evaluation.json, model card, datasheet, plots, the bundle):
they are written to a staging folder first (:mod:`ontrack.modeling.staging`), so a
killed run never leaves the evaluation of a model that was not registered.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ontrack import __version__
from ontrack.config import Config, parse_yaml
from ontrack.errors import ConfigError, SchemaError
from ontrack.dataset.featurize import FeatureSet, load_feature_set
from ontrack.modeling import staging, tracking
from ontrack.modeling.bundle import save_bundle
from ontrack.modeling.card import datasheet_markdown, model_card_markdown
from ontrack.modeling.baselines import baseline
from ontrack.modeling.dataset import TrainingData, load_training_data
from ontrack.modeling.calibration import METHODS
from ontrack.modeling.estimator import EarlyWarningModel
from ontrack.modeling.spec import check_spec
from ontrack.modeling.evaluation import evaluate_part
from ontrack.modeling.gate import failed_checks, verdict_line
from ontrack.modeling.plots import training_plots
from ontrack.dataset.splits import TemporalSplit

# models/ in the repository, installed as the package data of ontrack.models.
REPO_SPEC = Path(str(resources.files("ontrack.models").joinpath("lightgbm.yaml")))


@dataclass(frozen=True)
class TrainResult:
    """Where a training run's outputs are and what it measured."""

    folder: Path
    evaluation: dict
    registered: tracking.Registered
    estimator: EarlyWarningModel


def model_spec(config: Config) -> dict:
    """The LightGBM spec YAML (``modeling.model_spec`` or ``models/lightgbm.yaml``),
    checked: a typo or a bad value is a ConfigError naming the file, key and fix."""
    path = Path(config.modeling.model_spec) if config.modeling.model_spec else REPO_SPEC
    if not path.is_file():
        raise ConfigError(
            f"modeling.model_spec must name an existing YAML file. Got {path} instead."
        )
    try:
        spec = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"model spec {path} must be valid YAML. Got {err} instead.") from None
    return check_spec(spec, path)


def logistic_baseline(seed: int):  # noqa: ANN201 - a scikit-learn Pipeline
    """Regularised logistic regression on the same features (median-imputed with
    missing-value indicators, standardised, L2 with C=1)."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000, random_state=seed),
    )


def train_model(
    out_dir: Path,
    config: Config,
    *,
    model: str,
    target: str | None = None,
    split_kind: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """The whole training run for ``model``; see the module docstring.

    Every fold of the rolling origin (``data.splits``) fits its own booster, calibrator
    and logistic baseline and scores its own test cohort; the pooled test rows are
    evaluated and gated. The newest fold's model is the one registered.
    """
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    data = load_training_data(out_dir, model, config, target=target, split_kind=split_kind)
    folds = data.splits
    say(f"{model}: label {data.label}; {len(folds)} out-of-time test cohort(s), {data.split_kind} split")
    if data.split_reason:
        say(f"warning: the split is retrospective, weaker evidence than a deployment split: {data.split_reason}")
    if data.split_note:
        say(f"note: {data.split_note}")
    spec = model_spec(config)
    test = data.test_rows()
    scores = {name: np.full(len(data.X), np.nan) for name in ("model", "rule", "logistic")}
    scores["rule"] = data.rule_score.to_numpy()
    fitted = []
    for number, split in enumerate(folds, start=1):
        say(f"fold {number}/{len(folds)}: {split.describe()}")
        estimator, logistic, rows = _fit_fold(data, split, spec, config, say)
        scores["model"][rows] = estimator.predict_risk(data.X[rows])
        scores["logistic"][rows] = logistic.predict_proba(data.X[rows])[:, 1]
        fitted.append((split, estimator, rows))
    split, estimator, newest_rows = fitted[-1]
    say(f"evaluating on {int(test.sum()):,} out-of-time rows ({config.modeling.bootstrap_samples} bootstrap resamples)")
    evaluation = evaluate_part(data, test, {k: v[test] for k, v in scores.items()}, config)
    say(verdict_line(evaluation["gate"]))
    folder = out_dir / "models" / model
    stage = staging.fresh_stage(folder)  # published only once the version is registered
    X_new = data.X[newest_rows]
    contributions = estimator.contributions(X_new).drop(columns="base_value")
    importance = contributions.abs().mean().sort_values(ascending=False)
    plots = training_plots(stage / "plots", data, test, {k: v[test] for k, v in scores.items()}, evaluation,
                           contributions, X_new, config, out_dir / "features" / model / "dictionary.csv")
    header = _header(data, config, estimator, spec, [(f[0], f[1]) for f in fitted])
    evaluation = {**header, **evaluation, "shap_importance": {k: float(v) for k, v in importance.head(20).items()},
                  "plots": sorted(plots)}
    datasheet = _datasheet(data, config.reporting.min_group_size)
    say("registering in MLflow")
    checkpoints = np.array([d.strftime("%m-%d") for d in data.X.index.get_level_values("as_of_date")])
    reference = score_reference(scores["model"][newest_rows], checkpoints[newest_rows])
    registered = _register(out_dir, config, data, estimator, evaluation, datasheet, plots, stage, reference)
    evaluation.update(mlflow_run_id=registered.run_id, model_version=registered.version,
                      registered_model=registered.name, aliases=list(registered.aliases))
    write_json(stage / "evaluation.json", evaluation)
    (stage / "model_card.md").write_text(model_card_markdown(evaluation, datasheet), encoding="utf-8")
    staging.publish(stage, folder)
    return TrainResult(folder, evaluation, registered, estimator)


def _fit_fold(data: TrainingData, split: TemporalSplit, spec: dict, config: Config,
              say: Callable[[str], None]) -> tuple[EarlyWarningModel, object, np.ndarray]:
    """Fit one fold's booster + calibrator and logistic baseline; return them and the
    fold's test rows. Without a calibration cohort the calibration is cross-fitted."""
    train, cal, test = (data.part(p, split) for p in ("train", "calibrate", "test"))
    parts = [("train", train), ("test", test)] + ([("calibrate", cal)] if cal.any() else [])
    for name, rows in parts:
        labelled = data.y[rows]
        if labelled.nunique() < 2:
            raise SchemaError(
                f"the {name} cohort of {data.model} ({split.describe()}) must have both "
                f"outcomes of {data.label}. Got {int(rows.sum())} labelled rows with "
                f"{labelled.nunique()} outcome(s) instead."
            )
    X, y = data.X, data.y
    years = data.labels["school_year"].to_numpy()
    students = X.index.get_level_values("student_id").to_numpy()
    how = f"calibrating on {int(cal.sum()):,}" if cal.any() else "calibration cross-fitted within training"
    say(f"fitting LightGBM on {int(train.sum()):,} rows; {how}")
    seed = config.modeling.seed
    estimator = EarlyWarningModel(
        params={k: v for k, v in spec["classifier"].items() if k != "random_state"},
        early_stopping_rounds=int(spec.get("early_stopping_rounds", 50)),
        calibration_methods=tuple(spec.get("calibration", METHODS)),
        random_state=seed,
        dask_address=config.modeling.dask_address,
    )
    if cal.any():
        estimator.fit(X[train], y[train], years=years[train], X_calibrate=X[cal], y_calibrate=y[cal],
                      students_calibrate=students[cal], students=students[train])
    else:
        estimator.fit(X[train], y[train], years=years[train], students=students[train])
    logistic = logistic_baseline(seed).fit(X[train], y[train].astype(int))
    return estimator, logistic, test


def _header(data: TrainingData, config: Config, est: EarlyWarningModel, spec: dict,
            fitted: list[tuple[TemporalSplit, EarlyWarningModel]]) -> dict:
    split = data.split
    return {
        "model": data.model,
        "label": data.label,
        "grade": config.model_spec(data.model).grade,
        "baseline": data.baseline,
        "rule": baseline(data.baseline).words,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ontrack_version": __version__,
        "config_hash": config.config_hash,
        "feature_hash": data.feature_hash,
        "features": list(data.X.columns),
        "data_end": str(data.data_end),
        "split": {
            "kind": data.split_kind,
            "reason": data.split_reason,
            "train_years": list(split.train_years),
            "calibrate_years": list(split.calibrate_years),
            "test_years": list(split.test_years),
            "labels_close": str(split.labels_close),
            "description": split.describe(),
            "note": data.split_note,
            "folds": [
                {
                    "train_years": list(fold.train_years),
                    "calibrate_years": list(fold.calibrate_years),
                    "test_years": list(fold.test_years),
                    "first_test_as_of": str(min(fold.test)),
                    "labels_close": str(fold.labels_close),
                    "kind": fold.kind,
                    "calibration": getattr(model, "calibration_on_", "calibration cohort"),
                    "best_iteration": model.best_iteration_,
                }
                for fold, model in fitted
            ],
        },
        "test_cohorts": sorted({y for fold, _ in fitted for y in fold.test_years}),
        "registered_test_cohort": list(split.test_years),
        "test_as_of_dates": sorted({str(d) for fold, _ in fitted for d in fold.test}),
        "booster": {
            "best_iteration": est.best_iteration_,
            "early_stopping_on": est.early_stopping_on_,
            "params": spec["classifier"],
        },
        "calibration": {"method": est.calibration_["method"], "brier_by_method": est.calibration_brier_,
                        "on": getattr(est, "calibration_on_", "calibration cohort")},
    }


def _datasheet(data: TrainingData, min_group_size: int) -> dict:
    """Aggregates of the training data: counts, date ranges, base rates, missingness.

    Outcome counts below the minimum group size are withheld (None)."""
    parts = {}
    for part in ("train", "calibrate", "test"):
        rows = data.part(part)
        dates = data.X.index.get_level_values("as_of_date")[rows]
        parts[part] = {
            "rows": int(rows.sum()),
            "students": int(data.X.index.get_level_values("student_id")[rows].nunique()),
            "school_years": sorted({int(v) for v in data.labels["school_year"][rows]}),
            "first_as_of": str(dates.min().date()) if len(dates) else None,
            "last_as_of": str(dates.max().date()) if len(dates) else None,
            "base_rate": float(data.y[rows].mean()) if rows.any() else None,
        }
    outcomes = data.labels["outcome"].value_counts().to_dict()
    return {
        "model": data.model,
        "label": data.label,
        "data_end": str(data.data_end),
        "parts": parts,
        "label_outcomes": {
            str(k): int(v) if v >= min_group_size else None for k, v in outcomes.items()
        },
        "min_group_size": min_group_size,
        "feature_missing_rate": {c: float(v) for c, v in data.X.isna().mean().items()},
    }


def _register(out_dir: Path, config: Config, data: TrainingData, est: EarlyWarningModel,
              evaluation: dict, datasheet: dict, plots: dict[str, Path], folder: Path,
              reference: dict) -> tracking.Registered:
    features = _feature_specs(data, config.model_spec(data.model).feature_set)
    contract = {
        "model": data.model,
        "label": data.label,
        "features": list(data.X.columns),
        "feature_hash": data.feature_hash,
        "groups": {f.name: f.group for f in features} if features else {},
        "malleable": {f.name: f.malleable for f in features} if features else {},
        "reasons": {f.name: f.reason for f in features} if features else {},
        "risk_when": {f.name: f.risk_when for f in features} if features else {},
        "healthy": {f.name: f.healthy for f in features} if features else {},
        "rule": baseline(data.baseline).words,
        "config_hash": config.config_hash,
        "split": evaluation["split"],
        "trained_at": evaluation["created_at"],
        "score_reference": reference,
        "test_metrics": {
            "roc_auc": evaluation["roc_auc"],
            "recall_at_rule_rate": evaluation["recall_at_rule_rate"],
            "rule_roc_auc": evaluation["baselines"]["rule"]["roc_auc"],
            "rule_recall_at_rule_rate": evaluation["baselines"]["rule"]["recall_at_rule_rate"],
        },
    }
    bundle = folder / "bundle"
    code = {tracking.PYFUNC_CODE.name: tracking.PYFUNC_CODE}  # MLflow stores it beside the bundle
    digest = save_bundle(bundle, est.booster_, est.calibration_, contract, code_files=code)
    (folder / "datasheet.md").write_text(datasheet_markdown(datasheet), encoding="utf-8")
    write_json(folder / "evaluation.json", evaluation)
    (folder / "model_card.md").write_text(model_card_markdown(evaluation, datasheet), encoding="utf-8")
    client = tracking.connect(config, out_dir)
    metrics = {k: evaluation[k] for k in ("roc_auc", "pr_auc", "brier", "ece", "precision_at_rule_rate", "recall_at_rule_rate", "base_rate", "n")}
    metrics |= {f"{name}_{key}": evaluation["baselines"][name][key] for name in ("rule", "logistic")
                for key in ("roc_auc", "pr_auc", "precision_at_rule_rate", "recall_at_rule_rate")}
    params = {
        "model": data.model, "label": data.label, "config_hash": config.config_hash,
        "feature_hash": data.feature_hash, "n_features": len(data.X.columns),
        "data_end": data.data_end, "train_years": data.split.train_years,
        "calibrate_years": data.split.calibrate_years, "test_years": data.split.test_years,
        "calibration": est.calibration_["method"], "best_iteration": est.best_iteration_,
        "early_stopping_on": est.early_stopping_on_, "ontrack_version": __version__,
        "code_version": _code_version(),
        **{f"lgbm_{k}": v for k, v in evaluation["booster"]["params"].items()},
    }
    gate = evaluation["gate"]
    tags = {"label": data.label, "config_hash": config.config_hash, "feature_hash": data.feature_hash,
            "split_kind": data.split_kind, "gate_passed": "true" if gate["passed"] else "false",
            "gate_failed": "; ".join(failed_checks(gate))[:4000],
            "data_end": str(data.data_end)}
    return tracking.log_and_register(
        client, config, out_dir, model=data.model, params=params,
        metrics={k: v for k, v in metrics.items() if v is not None and math.isfinite(v)},
        artifact_files=[
            ("evaluation", folder / "evaluation.json"), ("card", folder / "model_card.md"),
            ("card", folder / "datasheet.md"), *[("plots", p) for p in plots.values()],
        ],
        bundle_dir=bundle, manifest_sha256=digest, features=list(data.X.columns), tags=tags,
    )


def score_reference(risk: np.ndarray, checkpoints: np.ndarray | None = None, n_bins: int = 10) -> dict:
    """Decile edges of the test cohort's calibrated risk, each bin's share and the row
    count, pooled and per checkpoint (month-day): the reference of the population
    stability index at scoring time, which compares like with like (aggregates only)."""
    def bins(values: np.ndarray) -> dict:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return {"edges": [float(e) for e in edges], "shares": [float(c) / len(values) for c in counts],
                "n": int(len(values))}

    reference = bins(np.asarray(risk, dtype="float64"))
    if checkpoints is not None:
        reference["by_checkpoint"] = {
            str(point): bins(np.asarray(risk)[checkpoints == point]) for point in sorted(set(checkpoints))
        }
    return reference


def _feature_specs(data: TrainingData, feature_set: str) -> FeatureSet | None:
    """The declared feature set's definitions of the matrix's features (groups,
    reasons), or None when they do not cover the matrix: no groups and no reasons."""
    try:
        features = load_feature_set(feature_set)
    except Exception:  # noqa: BLE001 - a custom feature set: contract without groups
        return None
    return features.select(names=data.X.columns) if set(data.X.columns) <= set(features.names) else None


def _code_version() -> str:
    """The git commit of the checkout, when there is one."""
    head = Path(__file__).resolve().parents[2] / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        return "unknown"


def write_json(path: Path, payload: dict) -> None:
    """Write JSON with NaN as null and numpy numbers as plain numbers."""
    path.write_text(json.dumps(_plain(payload), indent=2, allow_nan=False), encoding="utf-8")


def _plain(value: object) -> object:
    """JSON-safe copy: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value
