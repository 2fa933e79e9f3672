"""``ontrack train DATA --model NAME [--target on_track_9|graduation] --out OUT``.

Validates DATA into OUT, builds the model's point-in-time features and labels, then
trains, calibrates, evaluates against the rule and logistic baselines, audits fairness
and registers the model in MLflow (alias ``challenger``; also ``champion`` for a
model's first version). Prints the comparison table and the run id.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from ontrack.commands import add_data_and_out
from ontrack.config import Config, load_config
from ontrack.console import Progress, table, finish
from ontrack.pipeline import run_stages, upto

TARGETS = ("on_track_9", "graduation")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train, calibrate, evaluate and register a model against the rule",
        description="Validate DATA into OUT, build the model's features and labels, train "
        "LightGBM on past cohorts, calibrate it on the next, evaluate it on the newest "
        "labelled cohort against the rule and a logistic regression, audit fairness, and "
        "register it in MLflow (alias challenger). Writes OUT/models/<model>/.",
    )
    add_data_and_out(parser, model=True)
    parser.add_argument(
        "--target", choices=TARGETS, default=None,
        help="what to predict (default: the model's declared labels in order, the first "
        "the data allows an honest split for: grade9 predicts graduation, else on-track; "
        "grade8 predicts on-track)",
    )
    parser.add_argument(
        "--split", choices=("auto", "deployment", "retrospective"), default=None,
        help="deployment: test as if deployed (train only on cohorts whose outcomes were "
        "known by the test's first checkpoint) and refuse when the data cannot; "
        "retrospective: train on older cohorts, test on the newest labelled one; auto "
        "(default, or split.kind in the config): deployment when possible, else "
        "retrospective with a warning",
    )
    parser.add_argument(
        "--reuse-features", action="store_true",
        help="use OUT/features/<model>/ as it is (built with the same config) instead of "
        "validating and building features again",
    )
    parser.set_defaults(func=run)
    return parser


def reused_features(out: Path, config: Config, model: str, reuse: bool) -> list[str]:
    """The stages whose outputs ``--reuse-features`` reuses (none without the flag),
    once the model's features are found built with this config."""
    from ontrack.errors import ConfigError
    from ontrack.paths import OutputIncomplete, check_marker

    if not reuse:
        return []
    meta_path = out / "features" / model / "meta.json"
    if not meta_path.is_file():
        raise ConfigError(f"--reuse-features needs {meta_path}. Got no such file instead.")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("config_hash") != config.config_hash:
        raise ConfigError(
            f"--reuse-features needs features built with config {config.config_hash}. "
            f"Got features built with {meta.get('config_hash')} instead; drop the flag."
        )
    try:  # written last by the features stage: a killed or edited set is not reused
        check_marker(meta_path.parent, "features", config.config_hash)
    except OutputIncomplete as err:
        raise ConfigError(
            f"--reuse-features needs the complete features of {model} built with config "
            f"{config.config_hash}. Got {err.problem} instead: build them again "
            "(`ontrack features`) or drop the flag."
        ) from None
    return upto("features")


def prepare_features(data: Path, out: Path, config: Config, model: str, say: Callable[[str], None],
                     reuse: bool) -> None:
    """Validate and build features unless reusing ones built with this config."""
    given = reused_features(out, config, model, reuse)
    run_stages(upto("features", given=given), data, out, config, [model], say)


def summary(evaluation: dict) -> str:
    """The gate verdict first, then the comparison table (model vs rule vs logistic),
    per test cohort, and where everything is."""
    from ontrack.modeling.evaluation import comparison_rows
    from ontrack.modeling.gate import verdict_line

    header = ["", "ROC AUC", "precision @ rule rate", "recall @ rule rate", "ECE"]
    split = evaluation["split"]
    lines = [
        verdict_line(evaluation["gate"]),
        f"{evaluation['model']} ({evaluation['label']}): {split['kind']} split, "
        f"test cohort(s) {', '.join(str(y) for y in evaluation['test_cohorts'])}; "
        f"registered model: {split['description']}",
    ]
    if split.get("reason"):
        lines.append(f"warning: retrospective split (weaker evidence than deployment): {split['reason']}")
    lines += [
        f"out-of-time rows: {evaluation['n']:,} student-checkpoints of {evaluation['n_students']:,} "
        f"students, base rate {evaluation['base_rate']:.1%}; the rule flags {evaluation['rule_flag_rate']:.1%}",
        table(comparison_rows(evaluation), header),
    ]
    for year, part in evaluation.get("by_cohort", {}).items():
        model, rule = part["model"], part["rule"]
        lines.append(
            f"  cohort {year}: ROC AUC {model['roc_auc']:.3f} vs rule {rule['roc_auc']:.3f}; "
            f"recall at the rule's rate {model['recall_at_rule_rate']:.1%} vs {rule['recall_at_rule_rate']:.1%} "
            f"({part['n_students']:,} students)"
        )
    lines += [
        f"calibration: {evaluation['calibration']['method']} ({evaluation['calibration'].get('on', 'calibration cohort')}); "
        f"fairness: {evaluation['fairness']['verdict']}",
        f"mlflow run {evaluation['mlflow_run_id']}; registered {evaluation['registered_model']} "
        f"version {evaluation['model_version']} ({', '.join(evaluation['aliases'])})",
    ]
    if not evaluation["gate"]["passed"]:
        lines.append("this version is not champion: `ontrack promote` refuses it unless --force --why TEXT")
    if split.get("note"):
        lines.append(f"note: {split['note']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Build features, train and register; print the comparison."""
    from ontrack.modeling.train import model_spec

    config = load_config(args.config)
    model_spec(config)  # a bad model spec fails now, not after the features are built
    given = reused_features(args.out, config, args.model, args.reuse_features)
    done = run_stages(upto("train", given=given), args.data, args.out, config, [args.model],
                      Progress("train", args.quiet),
                      params={"train": {"target": args.target, "split_kind": args.split}})
    result = done["train"][args.model]
    finish()
    print(summary(result.evaluation))
    print(f"written to {result.folder}")
    return 0
