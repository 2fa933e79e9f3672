"""Benchmark the booster fit: single process vs ``lightgbm.dask`` on a local 2-worker cluster.

    python benchmarks/bench_train_dask.py                  # 20,000 students, grade9
    python benchmarks/bench_train_dask.py --out /tmp/d20k  # reuse a prepared district

A synthetic district (6 school years) is generated, validated and its grade-9 feature
matrix built with ``bench_train.prepare`` (not measured). Then every fold of the
temporal split is fitted twice with ``EarlyWarningModel`` (early stopping, refit,
calibration): in-process and with ``dask_address`` set to a local 2-worker cluster
(started once, not measured). Prints the fit time and the pooled out-of-time ROC AUC of
each, and appends both rows to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fit_all_folds(out: Path, model: str, address: str | None) -> tuple[float, float, int]:
    """Fit every fold; return (fit seconds, pooled out-of-time AUC, test rows)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from ontrack.config import Config
    from ontrack.modeling.dataset import load_training_data
    from ontrack.modeling.estimator import EarlyWarningModel
    from ontrack.modeling.train import model_spec

    config = Config()
    data, spec = load_training_data(out, model, config), model_spec(config)
    X, y = data.X, data.y
    years = data.labels["school_year"].to_numpy()
    students = X.index.get_level_values("student_id").to_numpy()
    seconds, risks, truths = 0.0, [], []
    for split in data.splits:
        train, cal, test = (data.part(p, split) for p in ("train", "calibrate", "test"))
        estimator = EarlyWarningModel(
            params={k: v for k, v in spec["classifier"].items() if k != "random_state"},
            early_stopping_rounds=int(spec.get("early_stopping_rounds", 50)),
            random_state=config.modeling.seed, dask_address=address,
        )
        extra = ({"X_calibrate": X[cal], "y_calibrate": y[cal], "students_calibrate": students[cal]}
                 if cal.any() else {})
        started = time.perf_counter()
        estimator.fit(X[train], y[train], years=years[train], students=students[train], **extra)
        seconds += time.perf_counter() - started
        risks.append(estimator.predict_risk(X[test]))
        truths.append(y[test].to_numpy())
    truth = np.concatenate(truths)
    return seconds, float(roc_auc_score(truth, np.concatenate(risks))), len(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20000)
    parser.add_argument("--model", default="grade9")
    parser.add_argument("--out", type=Path, default=None,
                        help="an OUT with features/<model>/ already built (skips preparation)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from distributed import LocalCluster

    from bench_train import prepare

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out
        if out is None:
            out = Path(tmp) / "out"
            prepare(Path(tmp) / "data", out, args.students, args.model)
        with warnings.catch_warnings(), LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster:
            warnings.simplefilter("ignore")
            runs = {"single process": fit_all_folds(out, args.model, None),
                    "lightgbm.dask, local 2-worker cluster": fit_all_folds(out, args.model, cluster.scheduler_address)}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (base_s, base_auc, rows) = runs["single process"]
    for name, (seconds, auc, _) in runs.items():
        line = (f"{args.students:,} students, {args.model}, every fold of the temporal split; "
                f"pooled out-of-time ROC AUC {auc:.4f} (single process {base_auc:.4f}, "
                f"difference {auc - base_auc:+.4f}) on {rows:,} test rows")
        print(f"{name}: fit {seconds:.1f} s; {line}")
        record(f"train fit (early stopping + refit + calibration), {name}", line, seconds, peak)


if __name__ == "__main__":
    main()
