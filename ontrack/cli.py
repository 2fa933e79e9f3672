"""The ``ontrack`` command line (README.md, "Commands"; each command's documentation
is named at the end of its ``--help``).

Exit codes: 0 success, 1 invalid data / config / model (a clear message, never a
traceback), 2 usage error (argparse's own convention).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from ontrack import __version__
from ontrack.commands import COMMAND_MODULES, check_model, docs_epilog, path_or_url
from ontrack.console import finish
from ontrack.errors import OnTrackError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
OUT_OF_MEMORY = (
    "error: ran out of memory. Lower `engine.memory_limit` in the config (DuckDB then "
    "spills to disk) or run on a larger machine."
)


def _quiet_third_parties() -> None:
    """Privacy defaults: no usage data leaves the machine, whatever the user has set."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every command takes: the district config and verbosity."""
    parser.add_argument(
        "--config",
        type=path_or_url,  # a local file or a URL (s3://, gs://, ...)
        default=None,
        metavar="FILE",
        help="district YAML (thresholds, mark scales, checkpoints, ...); "
        "documented defaults apply without it (docs/config.md)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only errors and the final summary"
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with one subcommand per module in ontrack.commands.

    With ``only`` (a command name) just that command is registered: importing every
    command module pulls in the modelling stack, which a run of one command need not pay.
    """
    parser = argparse.ArgumentParser(
        prog="ontrack",
        description="Which 8th and 9th graders are falling off track, early enough "
        "to act, and why. See README.md for the data contract and outputs.",
    )
    parser.add_argument("--version", action="version", version=f"ontrack {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES if only is None else (only,):
        if importlib.util.find_spec(f"ontrack.commands.{name}") is None:
            continue  # a command still being built; listed so the order is fixed
        module = importlib.import_module(f"ontrack.commands.{name}")
        sub = module.add_parser(subparsers)
        sub.epilog = docs_epilog(name)
        add_common_options(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (also used by the console script)."""
    _quiet_third_parties()
    argv = list(sys.argv[1:] if argv is None else argv)
    # The first word that is not an option names the command (top-level options are
    # only --help and --version); anything else gets the full parser and its help.
    named = next((a for a in argv if not a.startswith("-")), "").replace("-", "_")
    parser = build_parser(named if named in COMMAND_MODULES else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    check_model(args)  # --model against the config's declared models (exit 2 if not)
    try:
        try:
            return int(args.func(args) or EXIT_OK)
        finally:
            finish()  # no progress display outlives its command, nor hides its error
    except OnTrackError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(OUT_OF_MEMORY, file=sys.stderr)
        return EXIT_INVALID
    except Exception as err:  # noqa: BLE001 - the last line of defence: no tracebacks
        if os.environ.get("ONTRACK_DEBUG"):
            raise
        if type(err).__name__ == "OutOfMemoryException":  # DuckDB's, not a MemoryError
            print(OUT_OF_MEMORY, file=sys.stderr)
            return EXIT_INVALID
        print(
            f"error: unexpected {type(err).__name__} (details withheld: they may "
            "contain student data).\nThis is a bug in ontrack, not in your data. Set ONTRACK_DEBUG=1 to see "
            "the traceback and please report it.",
            file=sys.stderr,
        )
        return EXIT_INVALID


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
