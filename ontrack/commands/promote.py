"""``ontrack promote --model NAME --version N [--why TEXT] [--out OUT]``.

Moves the registry alias ``champion`` (the model scoring uses) to version N and records
who promoted it and why as tags on that version. A version that failed its gate
(docs/models.md, the gate) is refused, naming the failed checks, unless ``--force --why TEXT``: the
forced promotion is recorded in the registry and printed on every roster it ranks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ontrack.commands import add_model_option
from ontrack.config import load_config


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``promote`` subcommand."""
    parser = subparsers.add_parser(
        "promote",
        help="make a registered model version the champion",
        description="Move the alias champion of a registered model to VERSION, recording "
        "who and why. A version that failed its gate (it did not beat the district's rule "
        "out of time) is refused unless --force --why TEXT is given. The registry is "
        "tracking.uri of the config when set, else $ONTRACK_HOME/mlflow/mlflow.db when "
        "ONTRACK_HOME is set, else OUT/mlflow/mlflow.db (the --out given to `ontrack train`).",
    )
    add_model_option(parser)
    parser.add_argument("--version", required=True, type=int, metavar="N")
    parser.add_argument(
        "--why", default=None, help="reason recorded on the version (required with --force)"
    )
    parser.add_argument(
        "--force", action="store_true",
        help="promote a version that failed its gate; needs --why, which is recorded and "
        "printed at the top of every roster this version ranks",
    )
    parser.add_argument("--who", default=None, help="who promotes (default: your user name)")
    parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="OUT",
        help="the output directory `ontrack train` used (default: the current directory)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Move champion; print the change."""
    from ontrack.modeling import tracking

    if args.force and not (args.why or "").strip():
        print("ontrack promote: error: --force needs --why TEXT (it is recorded and shown on "
              "every roster this version ranks)", file=sys.stderr)
        return 2
    config = load_config(args.config)
    client = tracking.connect(config, args.out, create=False)
    name = tracking.registered_name(config, args.model)
    why = args.why or "promoted by hand"
    previous = tracking.promote(client, name, str(args.version), why=why, who=args.who, force=args.force)
    was = f" (was version {previous})" if previous else ""
    print(f"{name}: champion is now version {args.version}{was}; reason: {why}")
    return 0
