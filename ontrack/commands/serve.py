"""``ontrack serve DATA --out OUT [--config FILE] [--dry-run]``: run the flows on schedules.

Serves the ``refresh`` flow (ingest, indicators, features, score, report) and the
``train`` flow on the crons of the config's ``schedule:`` section, with Prefect's own
serve mechanism, until stopped. ``--dry-run`` prints the schedules and exits.
"""

from __future__ import annotations

import argparse

from ontrack.commands import add_data_and_out
from ontrack.config import load_config


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the refresh and train flows on the config's schedules",
        description="Serve the refresh flow (weekly by default) and the train flow (yearly "
        "by default) with Prefect until stopped. Prefect runs in its ephemeral local mode "
        "unless PREFECT_API_URL points at a server.",
    )
    add_data_and_out(parser, model=False)
    parser.add_argument("--dry-run", action="store_true", help="print the schedules and exit")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the schedules; serve them unless --dry-run."""
    from ontrack.storage import shown

    config = load_config(args.config)
    schedule = config.schedule
    print(f"refresh: cron '{schedule.refresh_cron}' ({schedule.timezone}) on {shown(str(args.data))} -> {args.out}")
    print(f"train:   cron '{schedule.train_cron}' ({schedule.timezone})")
    from ontrack.flows.serve import deployments, serve_forever
    from ontrack.errors import ConfigError

    try:
        planned = deployments(args.data, args.out, args.config, config)
    except ValueError as err:
        raise ConfigError(f"schedule crons must be valid cron expressions. Got this error instead: {err}") from None
    print("deployments: " + ", ".join(d.name for d in planned))
    if args.dry_run:
        return 0
    serve_forever(args.data, args.out, args.config, config)
    return 0
