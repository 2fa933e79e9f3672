"""``ontrack evaluate DATA --model NAME --out OUT [--version champion|N]``.

Re-checks a registered model (default: the champion) on the newest labelled cohort of
the current data, against the rule, and writes ``OUT/models/<model>/check_<v>.json``.
Run it when a new cohort's outcomes arrive: it says whether the champion still beats
the rule it replaced.
"""

from __future__ import annotations

import argparse
import warnings

from ontrack.commands import add_data_and_out
from ontrack.config import load_config
from ontrack.console import Progress, table, finish


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="check a registered model against the rule on the newest labelled cohort",
        description="Validate DATA into OUT, rebuild the model's features, and evaluate a "
        "registered version (default: champion) on the newest cohort whose labels are "
        "complete, beside the rule. Writes OUT/models/<model>/check_<version>.json.",
    )
    add_data_and_out(parser, model=True)
    parser.add_argument("--version", default="champion", metavar="ALIAS|N",
                        help="registered alias or version number (default: champion)")
    parser.add_argument("--reuse-features", action="store_true",
                        help="use OUT/features/<model>/ as it is")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate the registered version; print model vs rule."""
    from ontrack.commands.train import prepare_features
    from ontrack.modeling.champion_check import check_registered
    from ontrack.modeling.evaluation import comparison_rows

    config = load_config(args.config)
    say = Progress("evaluate", args.quiet)
    prepare_features(args.data, args.out, config, args.model, say, args.reuse_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = check_registered(args.out, config, model=args.model, alias_or_version=args.version)
    from ontrack.modeling.gate import verdict_line

    finish()
    print(
        f"{result['registered_model']} version {result['model_version']} ({args.version}) on "
        f"cohort {result['test_cohorts']}: {verdict_line(result['gate'])}"
    )
    print(table(comparison_rows(result), ["", "ROC AUC", "precision @ rule rate", "recall @ rule rate", "ECE"]))
    return 0
