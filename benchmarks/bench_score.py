"""Benchmark scoring: risk + contributions + reasons + rosters for a large cohort.

    python benchmarks/bench_score.py                   # 100,000 students (the issue's size)
    python benchmarks/bench_score.py --students 20000

A grade-8 model is trained on a small synthetic district (not measured). A cohort of
``--students`` rows is then drawn from that district's own feature matrix (rows
resampled, continuous features jittered) and spread over schools of 500 students, and
the scoring core that ``ontrack score`` runs is timed on it in a child process:
calibrated risk, exact TreeSHAP contributions, reasons, tiers, and the per-school CSV /
XLSX / HTML rosters. Building the cohort's features is the features benchmark's job
(bench_features.py). Prints the split and appends to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHOOL_SIZE = 500


def prepare(work: Path) -> None:
    """Train and register a grade-8 model on a small synthetic district."""
    sys.path.insert(0, str(ROOT))
    import warnings

    from ontrack.dataset.build import write_features
    from ontrack.config import config_from_dict
    from ontrack.modeling import train_model
    from ontrack.synth import generate_district
    from ontrack.validation import validate_directory

    config = config_from_dict({"modeling": {"bootstrap_samples": 20}})
    generate_district(work / "data", n_students=2000, n_years=8, seed=3)
    validate_directory(work / "data", work / "out", config)
    write_features(work / "out", config, model="grade8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_model(work / "out", config, model="grade8")


def score(work: Path, students: int) -> None:
    """The measured work: the scoring core on a resampled cohort."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pandas as pd

    from ontrack.config import Config
    from ontrack.modeling import tracking
    from ontrack.scoring import assign_tiers, top_reasons
    from ontrack.reports.publish import publish_rosters

    config = Config()
    out = work / "out"
    started = time.perf_counter()
    loaded, info = tracking.load_registered(tracking.connect(config, out), "ontrack-grade8", "champion")
    base = pd.read_parquet(out / "features" / "grade8" / "matrix.parquet")[loaded.feature_names]
    rng = np.random.default_rng(0)
    X = base.iloc[rng.integers(0, len(base), students)].reset_index(drop=True)
    continuous = [c for c in X.columns if X[c].nunique() > 10]
    X[continuous] = X[continuous] * rng.normal(1.0, 0.02, size=(students, len(continuous)))
    timings = {"load_s": time.perf_counter() - started}
    started = time.perf_counter()
    risk = pd.Series(loaded.predict_risk(X))
    timings["predict_s"] = time.perf_counter() - started
    started = time.perf_counter()
    contributions = loaded.contributions(X)
    timings["contributions_s"] = time.perf_counter() - started
    started = time.perf_counter()
    rules = pd.Series([config.rules] * students)
    reasons = top_reasons(contributions, X, loaded.contract, rules, "readiness")
    timings["reasons_s"] = time.perf_counter() - started
    started = time.perf_counter()
    n_schools = max(1, students // SCHOOL_SIZE)
    school = pd.Series([f"{i % n_schools:04d}" for i in range(students)])
    roster = pd.DataFrame({
        "student_id": [f"{i:08d}" for i in range(students)], "school_id": school,
        "grade_level": 8, "district_id": "d", "school_year": 2025, "model": "grade8",
        "risk": risk, "risk_tier": assign_tiers(risk, school, config.scoring),
        "rank": risk.groupby(school).rank(ascending=False, method="first").astype(int),
        "change": "first run", "alerts": "", "rule_status": "unknown", "rule_score": 0.5,
        **{c: reasons[c] for c in reasons.columns},
        "model_version": str(info["version"]), "as_of_date": "2025-01-31",
        "expires": "2025-06-30", "config_hash": config.config_hash,
    })
    bench_out = work / f"bench-{students}"
    (bench_out / "validated").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"school_id": sorted(set(school)), "school_name": [f"School {s}" for s in sorted(set(school))],
                  "district_id": "d"}).to_parquet(bench_out / "validated" / "schools.parquet")
    run = {"model": "grade8", "version": "1", "as_of": "2025-01-31", "expires": "2025-06-30", "banner": None}
    publish_rosters(roster, run, bench_out / "rosters", bench_out, config)
    timings["render_s"] = time.perf_counter() - started
    (work / "bench_score.json").write_text(json.dumps({"students": students, "schools": n_schools, **timings}), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--score", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score is not None:
        score(args.score, args.students)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-score-"))
    if not (work / "out" / "mlflow" / "mlflow.db").exists():
        prepare(work)
    seconds, peak = measure([sys.executable, __file__, "--score", str(work), "--students", str(args.students)])
    t = json.loads((work / "bench_score.json").read_text(encoding="utf-8"))
    core = t["predict_s"] + t["contributions_s"] + t["reasons_s"]
    print(
        f"{t['students']:,} students in {t['schools']} schools: predict {t['predict_s']:.2f} s, "
        f"contributions {t['contributions_s']:.2f} s, reasons {t['reasons_s']:.2f} s "
        f"({t['students'] / core:,.0f} students/s), rosters csv+xlsx+html {t['render_s']:.1f} s "
        f"({t['students'] / (core + t['render_s']):,.0f} students/s end to end); "
        f"process {seconds:.1f} s, peak {peak:.0f} MB"
    )
    record("score grade8 (risk + contributions + reasons + rosters)",
           f"{t['students']:,} students, {t['schools']} schools; core {t['students'] / core:,.0f}/s, "
           f"with rosters {t['students'] / (core + t['render_s']):,.0f}/s", seconds, peak)


if __name__ == "__main__":
    main()
