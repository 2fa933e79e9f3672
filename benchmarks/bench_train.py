"""Benchmark training: train + calibrate + evaluate + register one model.

    python benchmarks/bench_train.py                     # 20,000 students, grade9
    python benchmarks/bench_train.py --students 200000   # the issue's target size

A synthetic district (6 school years) is generated, validated and its feature matrix
built first (not measured: see bench_validate.py and bench_features.py). To keep that
preparation short the daily attendance file is dropped and the annual
``attendance_summary`` is used: training time depends on the matrix (rows x features),
not on where attendance came from. Then, in a child process, ``train_model`` runs:
LightGBM with early stopping, calibration, both baselines, evaluation with bootstrap
intervals, the fairness audit and MLflow registration. Prints the figures and appends
them to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def train(out: Path, model: str) -> None:
    """The measured work (run in a child process)."""
    sys.path.insert(0, str(ROOT))
    import warnings

    from ontrack.config import Config
    from ontrack.modeling import train_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_model(out, Config(), model=model, progress=lambda m: print(m, file=sys.stderr, flush=True))
    import numpy as np
    import pandas as pd

    e = result.evaluation
    gate = "passed" if e["gate"]["passed"] else "FAILED"
    X = pd.read_parquet(out / "features" / model / "matrix.parquet")
    first = pd.Timestamp(e["split"]["folds"][-1]["first_test_as_of"])
    newest = np.asarray(X.index.get_level_values("as_of_date") == first)
    risk = result.estimator.predict_risk(X[newest]) if newest.any() else np.array([])
    largest_tie = pd.Series(risk).value_counts().max() / max(len(risk), 1) if len(risk) else float("nan")
    line = (
        f"{model}: gate {gate}; {e['split']['kind']} split, {len(e['split']['folds'])} test cohorts "
        f"{e['test_cohorts']}, {e['n']:,} test rows; ROC AUC {e['roc_auc']:.3f} vs rule "
        f"{e['baselines']['rule']['roc_auc']:.3f}; recall at rule rate "
        f"{e['recall_at_rule_rate']:.3f} vs {e['baselines']['rule']['recall_at_rule_rate']:.3f} "
        f"(precision {e['precision_at_rule_rate']:.3f} vs "
        f"{e['baselines']['rule']['precision_at_rule_rate']:.3f}); ECE {e['ece']:.4f}; "
        f"largest group sharing one risk on the first newest-cohort checkpoint {largest_tie:.2%} of {len(risk):,}"
    )
    (out / "bench_train_summary.txt").write_text(line + "\n", encoding="utf-8")


def prepare(data: Path, out: Path, students: int, model: str) -> None:
    """Generate, validate and build features (not measured)."""
    sys.path.insert(0, str(ROOT))
    from ontrack.dataset.build import write_features
    from ontrack.config import Config
    from ontrack.synth import generate_district
    from ontrack.validation import validate_directory

    started = time.perf_counter()
    generate_district(data, n_students=students, n_years=6, seed=7)
    for path in data.glob("attendance.*"):
        path.unlink()
    validate_directory(data, out, Config())
    write_features(out, Config(), model=model)
    print(f"prepared in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--model", default="grade9", choices=("grade8", "grade9"))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--train", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train is not None:
        train(args.train, args.model)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-train-"))
    data, out = workdir / f"d{args.students}", workdir / f"o{args.students}"
    if not (out / "features" / args.model / "matrix.parquet").exists():
        prepare(data, out, args.students, args.model)
    shutil.rmtree(out / "mlflow", ignore_errors=True)
    seconds, peak = measure([sys.executable, __file__, "--train", str(out), "--model", args.model])
    rows = subprocess.run(
        [sys.executable, "-c", f"import pandas as pd; print(len(pd.read_parquet('{out}/features/{args.model}/matrix.parquet')))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    print((out / "bench_train_summary.txt").read_text(encoding="utf-8").strip())
    print(f"train {args.model}, {args.students:,} students ({int(rows):,} matrix rows): {seconds:.1f} s, peak {peak:.0f} MB")
    record(f"train {args.model} (fit + calibrate + evaluate + register)", f"{args.students:,} students, {int(rows):,} rows", seconds, peak)


if __name__ == "__main__":
    main()
