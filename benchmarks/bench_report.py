"""Benchmark ``render_report`` for a district of 200 schools (target: under 30 s).

    python benchmarks/bench_report.py                 # 200 schools, 4 years
    python benchmarks/bench_report.py --schools 400

A synthetic district of that many schools would take many minutes to generate and
validate, so the published inputs are synthesised directly: student-level statuses and
criterion flags drawn at random per school, then turned into ``rates.csv`` by ontrack's
own ``indicator_rates`` (the real suppression), plus ``students.csv``, school names, a
roster per school and an evaluation and model card for both models. Only the rendering
is measured, in a child process (wall time and peak memory). Appends to
benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from measure import measure, record

RACES = np.array(
    [
        "hispanic",
        "white",
        "asian",
        "black",
        "two_or_more",
        "not_reported",
        "filipino",
        "pacific_islander",
        "american_indian",
    ]
)
RACE_P = np.array([0.49, 0.12, 0.12, 0.10, 0.065, 0.05, 0.04, 0.01, 0.005])
FLAGS = ("gpa_ok", "attendance_ok", "df_ok", "suspension_ok", "credits_ok", "fs_ok")


def _school_rows(
    rng: np.random.Generator, school: int, middle: bool, years: list[int]
) -> pd.DataFrame:
    """Student-years of one school: grades, groups and a latent engagement."""
    size = int(rng.integers(60, 260)) if middle else int(rng.integers(120, 420))
    grades = [6, 7, 8] if middle else [9, 10, 11, 12]
    sed_share = rng.uniform(0.2, 0.95)
    effect = rng.normal(0, 0.6)
    frames = []
    for year in years:
        for grade in grades:
            n = max(8, int(size * rng.uniform(0.9, 1.1)))
            frames.append(
                pd.DataFrame(
                    {
                        "student_id": [
                            f"{school:03d}{year}{grade:02d}{i:04d}" for i in range(n)
                        ],
                        "school_id": f"{school:04d}",
                        "school_year": year,
                        "grade_level": grade,
                        "race_ethnicity": rng.choice(RACES, n, p=RACE_P),
                        "gender": rng.choice(
                            np.array(["F", "M", "X"]), n, p=[0.487, 0.503, 0.01]
                        ),
                        "english_learner": rng.random(n) < 0.18,
                        "students_with_disabilities": rng.random(n) < 0.12,
                        "socioeconomically_disadvantaged": rng.random(n) < sed_share,
                        "foster_youth": rng.random(n) < 0.007,
                        "homeless": rng.random(n) < 0.035,
                        "z": effect + rng.normal(0, 1, n),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def synthesise(out: Path, n_schools: int, n_years: int, seed: int) -> None:
    """Write OUT/indicators/{rates,students}.csv, names, rosters and model evaluations."""
    from ontrack.config import load_config
    from ontrack.indicators import indicator_rates
    from ontrack.modeling.dataset import EQUITY_GROUPS

    rng = np.random.default_rng(seed)
    years = list(range(2026 - n_years, 2026))
    people = pd.concat(
        [_school_rows(rng, s, s % 2 == 0, years) for s in range(1, n_schools + 1)],
        ignore_index=True,
    )
    people["district_id"] = "0600001"
    z = people["z"].to_numpy()
    sed = people["socioeconomically_disadvantaged"].to_numpy()
    base = z - 0.3 * sed
    rows = []

    def flag(p_ok: np.ndarray) -> np.ndarray:
        return rng.random(len(p_ok)) < p_ok

    def logistic(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    keys = people[
        ["student_id", "district_id", "school_id", "school_year", "grade_level"]
    ]
    chronic = rng.random(len(people)) < logistic(-1.8 - base)
    rows.append(
        keys.assign(
            indicator="chronic_absence", status=np.where(chronic, "met", "not_met")
        )
    )
    suspended = rng.random(len(people)) < logistic(-2.6 - 0.7 * base)
    rows.append(
        keys.assign(
            indicator="suspension", status=np.where(suspended, "met", "not_met")
        )
    )
    g8 = (people["grade_level"] == 8).to_numpy()
    ready = keys[g8].assign(indicator="hs_readiness_8")
    b8 = base[g8]
    for name, shift in (("gpa_ok", 1.0), ("attendance_ok", 0.9), ("df_ok", 1.2)):
        ready[name] = pd.array(flag(logistic(shift + b8)), dtype="boolean")
    ready["suspension_ok"] = pd.array(~suspended[g8], dtype="boolean")
    ready.loc[rng.random(len(ready)) < 0.01, "gpa_ok"] = pd.NA
    ok = ready[["gpa_ok", "attendance_ok", "df_ok", "suspension_ok"]]
    ready["status"] = np.where(
        (ok == False).any(axis=1),
        "not_met",
        np.where(ok.isna().any(axis=1), "unknown", "met"),
    )
    g9 = (people["grade_level"] == 9).to_numpy()
    track = keys[g9].assign(indicator="on_track_9")
    track["credits_ok"] = flag(logistic(2.2 + base[g9]))
    track["fs_ok"] = flag(logistic(2.0 + base[g9]))
    track["status"] = np.where(track["credits_ok"] & track["fs_ok"], "met", "not_met")
    students = pd.concat([*rows, ready, track], ignore_index=True)
    for col in FLAGS:
        if col not in students.columns:
            students[col] = None
    groups = people[["student_id", "school_year", *EQUITY_GROUPS]]
    config = load_config()
    rates, _log = indicator_rates(students, groups, config)
    folder = out / "indicators"
    folder.mkdir(parents=True, exist_ok=True)
    rates.assign(
        as_of_date=None,
        config_hash=config.config_hash,
        config_version=config.config_version,
    ).to_csv(folder / "rates.csv", index=False)
    students.to_csv(folder / "students.csv", index=False)
    schools = pd.DataFrame({"school_id": [f"{s:04d}" for s in range(1, n_schools + 1)]})
    schools["school_name"] = [
        f"{'Middle' if s % 2 == 0 else 'High'} School {s}"
        for s in range(1, n_schools + 1)
    ]
    schools["district_id"] = "0600001"
    schools["school_level"] = [
        "middle" if s % 2 == 0 else "high" for s in range(1, n_schools + 1)
    ]
    (out / "validated").mkdir(exist_ok=True)
    schools.to_parquet(out / "validated" / "schools.parquet", index=False)
    (out / "rosters").mkdir(exist_ok=True)
    latest = people[people["school_year"] == years[-1]]
    for school_id, part in latest[latest["grade_level"].isin([8, 9])].groupby(
        "school_id"
    ):
        tier = rng.choice(
            np.array(["high", "medium", "low"]), len(part), p=[0.15, 0.25, 0.6]
        )
        pd.DataFrame(
            {
                "student_id": part["student_id"],
                "model": "grade8",
                "risk_tier": tier,
                "as_of_date": f"{years[-1] - 1}-10-31",
            }
        ).to_csv(out / "rosters" / f"{school_id}.csv", index=False)
    for model in ("grade8", "grade9"):
        folder = out / "models" / model
        folder.mkdir(parents=True, exist_ok=True)
        evaluation = {
            "model": model,
            "label": "off_track_9",
            "registered_model": f"ontrack-{model}",
            "model_version": "1",
            "created_at": "2026-01-01T00:00:00",
            "test_cohorts": [years[-1]],
            "n": 9000,
            "base_rate": 0.3,
            "roc_auc": 0.8,
            "ece": 0.02,
            "rule_flag_rate": 0.4,
            "precision_at_rule_rate": 0.55,
            "recall_at_rule_rate": 0.7,
            "baselines": {
                "rule": {
                    "roc_auc": 0.7,
                    "precision_at_rule_rate": 0.45,
                    "recall_at_rule_rate": 0.6,
                }
            },
            "reliability": [
                {
                    "bin_low": i / 10,
                    "bin_high": (i + 1) / 10,
                    "n": 900,
                    "mean_predicted": i / 10 + 0.05,
                    "observed_rate": i / 10 + 0.04,
                }
                for i in range(10)
            ],
            "fairness": {"verdict": "within bounds"},
        }
        (folder / "evaluation.json").write_text(
            json.dumps(evaluation), encoding="utf-8"
        )
        (folder / "model_card.md").write_text(
            f"# {model}\n\nSynthetic.\n", encoding="utf-8"
        )


def render_child(out: Path) -> None:
    """The measured child: render the report under ``out``."""
    from ontrack.config import load_config
    from ontrack.reports.district import render_report

    render_report(out, load_config())


def main(argv: list[str] | None = None) -> int:
    """Synthesise, measure, record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/ontrack-bench-report")
    )
    args = parser.parse_args(argv)
    out = args.workdir / f"out-{args.schools}-{args.years}-{args.seed}"
    if not (out / "indicators" / "rates.csv").exists():
        shutil.rmtree(out, ignore_errors=True)
        print(f"synthesising {args.schools} schools in {out} ...", flush=True)
        synthesise(out, args.schools, args.years, args.seed)
    with (out / "indicators" / "rates.csv").open(encoding="utf-8") as rates:
        n_rates = sum(1 for _ in rates) - 1
    load = os.getloadavg()[0]  # other work on the machine slows the 2 render processes
    secs, peak = measure(
        [sys.executable, str(Path(__file__).resolve()), "--_render", str(out)]
    )
    pages = len(list((out / "report").glob("school_*.html")))
    size = sum(p.stat().st_size for p in (out / "report").glob("*.html")) / 1e6
    print(
        f"report: {pages} school pages + index, {size:.0f} MB, from {n_rates:,} rate rows: "
        f"{secs:.1f} s, peak {peak:.0f} MB (target < 30 s)"
    )
    record(
        "report",
        f"{args.schools} schools x {args.years} years, {n_rates} rate rows, "
        f"{pages} pages, {size:.0f} MB, 2 render processes, load {load:.1f} before / {os.getloadavg()[0]:.1f} after",
        secs,
        peak,
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--_render":
        render_child(Path(sys.argv[2]))
    else:
        sys.exit(main())
