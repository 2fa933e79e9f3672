"""``ontrack flow refresh|train|score|report|indicators|ingest DATA --out OUT``.

Runs one of the Prefect flows once, now: the same flow ``ontrack serve`` schedules, with
the same content caching, so its runs, steps and artifacts appear in the Prefect UI.
"""

from __future__ import annotations

import argparse
import logging

from ontrack.commands import add_data_and_out
from ontrack.console import finish
from ontrack.config import load_config

FLOWS = ("refresh", "train", "score", "report", "indicators", "ingest")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``flow`` subcommand."""
    parser = subparsers.add_parser(
        "flow",
        help="run one Prefect flow now (refresh, train, score, report, ...)",
        description="Run a Prefect flow once on DATA into OUT: the same flow `ontrack serve` "
        "schedules, cached by content. Prefect runs in its ephemeral local mode unless "
        "PREFECT_API_URL points at a server.",
    )
    parser.add_argument("name", choices=FLOWS, help="which flow")
    add_data_and_out(parser, model=False)
    parser.add_argument("--dask", default=None, metavar="ADDRESS", type=_dask_address,
                        help="send the partitioned stages' tasks (validation per table and "
                        "partition, indicators per school year, features per checkpoint, roster "
                        "files per school) to this Dask scheduler (tcp://host:8786), or "
                        "start a local cluster of N single-threaded workers: local[:N] (default 2)")
    parser.set_defaults(func=run)
    return parser


def _dask_address(text: str) -> str:
    """A usage error (exit 2) for an address that is neither local[:N] nor a scheduler's."""
    from ontrack.resources import dask_local_workers

    try:
        dask_local_workers(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


class _WithoutTraceback(logging.Filter):
    """Prefect logs a failed task with its traceback; the CLI shows the message only."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


def _no_tracebacks() -> None:
    quiet = _WithoutTraceback()
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(quiet)


def run(args: argparse.Namespace) -> int:
    """Run the flow; print which steps recomputed and which came from the cache."""
    load_config(args.config)  # a bad config fails before Prefect starts
    from ontrack.flows import pipeline

    _no_tracebacks()
    chosen = getattr(pipeline, f"{args.name}_flow")
    if args.dask:
        from ontrack.flows.scale import dask_runner

        chosen = chosen.with_options(task_runner=dask_runner(args.dask))
    result = chosen(args.data, args.out, args.config)
    finish()
    for step, how in result["steps"].items():
        print(f"{step:<16} {'recomputed' if how == 'ran' else 'unchanged input: from cache'}")
    return 0
