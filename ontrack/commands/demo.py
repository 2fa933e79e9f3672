"""``ontrack demo [--out DIR]``: the whole product on a synthetic district, one command.

Every stage runs for real on freshly generated data: validate, indicators, features,
train + calibrate + evaluate both models, register them in MLflow (the first version
becomes champion), score the current cohort into rosters, and the district report.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ontrack.config import Config, load_config
from ontrack.console import Progress

STAGES = 7


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="generate a synthetic district and run the whole pipeline on it",
        description="Generate a synthetic district, then validate it, compute the "
        "indicators and run every later stage that exists; print where everything is. "
        "Every stage runs for real; the summary says where each output is.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("ontrack-demo"), metavar="DIR",
        help="where the demo writes its data and outputs (default: ./ontrack-demo)",
    )
    parser.add_argument("--students", type=int, default=2000, help="district size (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--years", type=int, default=8,
        help="school years of history (default 8: enough for 3 training cohorts of grade8)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run every stage that exists on a synthetic district and print a summary."""
    from ontrack.dataset.build import write_features
    from ontrack.commands.indicators import summary as indicator_summary
    from ontrack.indicators import run_indicators
    from ontrack.synth import generate_district
    from ontrack.validation import validate_directory

    config = load_config(args.config)
    say = Progress("demo", args.quiet)
    started = time.perf_counter()
    data, out = args.out / "data", args.out / "out"
    say(f"1/7 generating a synthetic district of ~{args.students:,} students in {data}")
    generate_district(data, n_students=args.students, n_years=args.years, seed=args.seed)
    say("2/7 validating every table")
    report = validate_directory(data, out, config, progress=say)
    lines = ["", "ontrack demo", "============", f"data:        {data}"]
    total_in = sum(t.rows_in for t in report.tables.values())
    total_bad = sum(t.rows_quarantined for t in report.tables.values())
    lines.append(
        f"validation:  {total_in:,} rows read, {total_bad:,} quarantined (the "
        f"generator plants a little realistic mess) -> {out / 'validation'}"
    )
    say("3/7 computing the rule-based indicators")
    result = run_indicators(data, out, config, progress=say, reuse_validated=True)
    lines.append(f"indicators:  {out / 'indicators'}")
    lines += [f"  {line}" for line in indicator_summary(result).splitlines()]
    for model in ("grade8", "grade9"):
        say(f"4/7 building the {model} feature matrix and labels")
        meta = write_features(out, config, model=model, progress=say)
        labelled = ", ".join(f"{n} {k:,}" for n, k in meta["labels"].items())
        lines.append(
            f"features:    {model}: {meta['rows']:,} student-checkpoints x "
            f"{len(meta['features'])} features; labelled rows: {labelled} -> {meta['folder']}"
        )
    lines += _train_both(out, config, say)
    lines += _score_both(out, config, say)
    say("7/7 rendering the district report")
    from ontrack.reports.district import render_report

    index = render_report(out, config, progress=say)
    lines.append(f"report:      open {index} in a browser (self-contained, works offline)")
    from ontrack.modeling.tracking import tracking_uri

    lines.append(f"finished in {time.perf_counter() - started:.0f} s")
    lines += [
        "",
        "open the MLflow UI on the runs and the model registry:",
        f"  .venv/bin/mlflow ui --backend-store-uri {tracking_uri(config, out)}",
        "run the same pipeline as Prefect flows, then open the Prefect UI on their runs:",
        f"  .venv/bin/ontrack flow refresh {data} --out {out}",
        "  .venv/bin/prefect server start   # then http://127.0.0.1:4200",
    ]
    print("\n".join(lines))
    return 0


def _score_both(out: Path, config: Config, say: Progress) -> list[str]:
    """Score the current cohort of both models; summary lines."""
    import warnings

    from ontrack.reports.publish import score_and_publish

    lines = []
    for model in ("grade8", "grade9"):
        say(f"6/7 scoring the current {model} cohort with the champion")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = score_and_publish(out, config, model=model, progress=say)
        s = result.summary
        tiers = ", ".join(f"{k} {v:,}" for k, v in s["tiers"].items())
        guard = f" (ranked by the rule: {s['ranked_by_reason']})" if s["ranked_by"] == "rule" else ""
        lines.append(
            f"rosters:     {model} as of {s['as_of_date']}: {s['students']:,} students in "
            f"{s['schools']} schools ({tiers}); {s['alerts']:,} with alerts{guard} -> {result.folder}"
        )
    return lines


def _train_both(out: Path, config: Config, say: Progress) -> list[str]:
    """Train, calibrate, evaluate and register grade8 and grade9; summary lines."""
    import warnings

    from ontrack.modeling import train_model

    lines = []
    for model in ("grade8", "grade9"):
        say(f"5/7 training, calibrating and evaluating {model} against the rule")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = train_model(out, config, model=model, progress=say)
        e, rule = result.evaluation, result.evaluation["baselines"]["rule"]
        verdict = "gate passed" if e["gate"]["passed"] else "GATE FAILED, the rule ranks its rosters"
        lines.append(
            f"model:       {model} ({e['label']}), {verdict}; test cohorts {e['test_cohorts']}: ROC AUC "
            f"{e['roc_auc']:.3f} vs rule {rule['roc_auc']:.3f}; recall at the rule's flag "
            f"rate {e['recall_at_rule_rate']:.1%} vs {rule['recall_at_rule_rate']:.1%}; "
            f"registered {e['registered_model']} v{e['model_version']} "
            f"({', '.join(e['aliases'])}) -> {result.folder}"
        )
    return lines
