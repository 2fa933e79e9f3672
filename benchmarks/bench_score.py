"""Benchmark `ontrack score` end to end against a hand-written LightGBM predict.

    python benchmarks/bench_score.py                      # ~7,000 scored students
    python benchmarks/bench_score.py --students 100000 --workdir /big/disk/bench

A grade-8 model is trained once on a small synthetic district (2,000 students, 8 years)
into a shared registry (``ONTRACK_HOME``, not measured). A district sized to give about
``--students`` 8th graders (2 school years) is generated (not measured). Then, each in a
fresh process, measured as wall time from process start to exit (imports, validation or
its reuse, the champion, the cohort's features, risk, TreeSHAP, reasons, every roster
file, follow-up lists and profiles):

- ``ontrack score`` cold: OUT empty, DATA validated;
- ``ontrack score`` warm: the same again, validation reused (the nightly case);
- the baseline: ``booster.predict(X, pred_contrib=True)`` on the same feature matrix
  (the cohort's, built by ontrack beforehand and not timed), in a process that loads
  only LightGBM, pandas and the booster file.

The config sets ``scoring.psi_threshold`` high: the champion was trained on another
district, and the drift guard would otherwise rank by the rule (no TreeSHAP to time).
Prints the split and appends rows to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "modeling:\n  bootstrap_samples: 20\nscoring:\n  psi_threshold: 100\n"
GRADE8_SHARE = 7.1  # synth enrolls grades 6-12: about one student in 7.1 is in grade 8
ONTRACK = [sys.executable, "-m", "ontrack"]


def _run(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def prepare(work: Path, students: int, env: dict) -> Path:
    """The trained champion (shared) and the district to score; returns DATA."""
    (work / "config.yaml").write_text(CONFIG, encoding="utf-8")
    if not (work / "home" / "mlflow" / "mlflow.db").is_file():
        _run([*ONTRACK, "synth", str(work / "train-data"), "--students", "2000", "--years", "8", "--quiet"], env)
        _run([*ONTRACK, "train", str(work / "train-data"), "--model", "grade8", "--out", str(work / "train-out"),
              "--config", str(work / "config.yaml"), "--quiet"], env)
    data = work / f"data-{students}"
    if not data.is_dir():
        _run([*ONTRACK, "synth", str(data), "--students", str(round(students * GRADE8_SHARE)), "--years", "2",
              "--quiet"], env)
    return data


def baseline(work: Path, students: int) -> None:
    """The hand-written twin, in its own process: load the booster, predict with TreeSHAP."""
    import time

    started = time.perf_counter()
    import lightgbm as lgb
    import pandas as pd

    X = pd.read_parquet(work / f"matrix-{students}.parquet")
    booster = lgb.Booster(model_file=str(next((work / "home" / "mlflow" / "artifacts").rglob("bundle/booster.txt"))))
    loaded = time.perf_counter()
    booster.predict(X, pred_contrib=True)
    done = time.perf_counter()
    print(json.dumps({"rows": len(X), "predict_s": done - loaded, "process_s": done - started}))


def save_matrix(work: Path, out: Path, students: int) -> None:
    """The cohort's model inputs, as ``ontrack score`` built them (not timed)."""
    os.environ["ONTRACK_HOME"] = str(work / "home")
    sys.path.insert(0, str(ROOT))
    from ontrack.config import load_config
    from ontrack.scoring.champion import read_champion
    from ontrack.scoring.cohort import build_scoring_cohort, model_inputs
    from ontrack.validation.store import open_validated, provided

    config = load_config(work / "config.yaml")
    loaded, _tags = read_champion(config, out, "ontrack-grade8")
    con = open_validated(out, config)
    try:
        cohort = build_scoring_cohort(con, config, model="grade8", as_of=None, provided=provided(out))
    finally:
        con.close()
    model_inputs(cohort.matrix, loaded.contract).reset_index(drop=True).to_parquet(work / f"matrix-{students}.parquet")


def _with_cpu(run):
    """``run()``'s result and the CPU seconds (user + system) of the processes it waited for:
    on a shared machine wall time says as much about the neighbours as about ontrack."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=7000, help="about this many 8th graders scored")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--baseline", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline is not None:
        baseline(args.baseline, args.students)
        return
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-score-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ONTRACK_HOME": str(work / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    data = prepare(work, args.students, env)
    out = work / f"out-{args.students}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    score = [*ONTRACK, "score", str(data), "--model", "grade8", "--out", str(out),
             "--config", str(work / "config.yaml"), "--quiet"]
    os.environ["ONTRACK_HOME"] = env["ONTRACK_HOME"]
    load = os.getloadavg()[0]
    (cold, cold_peak), cold_cpu = _with_cpu(lambda: measure(score))
    (warm, warm_peak), warm_cpu = _with_cpu(lambda: measure(score))
    load = max(load, os.getloadavg()[0])
    print(f"ontrack score: cold {cold:.1f} s (cpu {cold_cpu:.1f} s), warm {warm:.1f} s (cpu {warm_cpu:.1f} s), "
          f"load average up to {load:.1f} on {os.cpu_count()} cores", flush=True)
    summary = json.loads((out / "rosters" / "summary_grade8.json").read_text(encoding="utf-8"))
    save_matrix(work, out, args.students)
    done = subprocess.run([sys.executable, __file__, "--baseline", str(work), "--students", str(args.students)],
                          check=True, capture_output=True, text=True)
    twin = json.loads(done.stdout.strip().splitlines()[-1])
    n, t = summary["students"], summary["timings_s"]
    print(f"{n:,} students in {summary['schools']} schools ({summary['ranked_by']} ranks): "
          f"ontrack score cold {cold:.1f} s ({n / cold:,.0f}/s), warm {warm:.1f} s ({n / warm:,.0f}/s, "
          f"reported end to end {summary['end_to_end']['students_per_second']:,.0f}/s); inside: "
          f"predict {t['predict_s']:.2f} s, contributions {t['contributions_s']:.2f} s, reasons "
          f"{t['reasons_s']:.2f} s, files {t.get('render_s', 0):.1f} s; baseline predict(pred_contrib) "
          f"{twin['predict_s']:.2f} s ({n / twin['predict_s']:,.0f}/s), its process {twin['process_s']:.1f} s; "
          f"warm score / baseline process {warm / twin['process_s']:.1f}x")
    shared = (f"{n:,} students, {summary['schools']} schools, ranked by the {summary['ranked_by']}; "
              f"load average up to {load:.1f} on {os.cpu_count()} cores; commit {_commit()}")
    record("ontrack score end to end, cold (validates)",
           f"{shared}; {n / cold:,.0f} students/s; cpu {cold_cpu:.1f} s", cold, cold_peak)
    record("ontrack score end to end, warm (validation reused)",
           f"{shared}; {n / warm:,.0f} students/s; cpu {warm_cpu:.1f} s; files {t.get('render_s', 0):.1f} s; "
           f"baseline booster.predict(pred_contrib=True) {twin['predict_s']:.2f} s "
           f"({n / twin['predict_s']:,.0f}/s), its whole process {twin['process_s']:.1f} s", warm, warm_peak)


if __name__ == "__main__":
    main()
