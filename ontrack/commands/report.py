"""``ontrack report DATA --out OUT``: the district report, a self-contained static site.

Computes the indicators first (validation included, like ``ontrack indicators``) unless
``--reuse-indicators`` finds ``OUT/indicators`` from an earlier run, then renders
``OUT/report/`` from the published files (see ``reports.district``). A reused folder must
carry the completion marker ``ontrack indicators`` writes last, made with the current
config and matching every file's SHA-256; a partial (killed), edited or stale set is
refused, never rendered. Without the flag the indicators are computed again, so an older
config's files are simply replaced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ontrack.commands import add_data_and_out
from ontrack.config import Config, load_config
from ontrack.console import Progress, finish
from ontrack.errors import OnTrackError
from ontrack.paths import MARKER, OutputIncomplete, check_marker
from ontrack.pipeline import run_stages, upto
from ontrack.storage import is_url


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="the district report: rates, trends, groups, schools, models (static HTML)",
        description="Write OUT/report/: index.html and one page per school, with the "
        "indicators' rates by school, grade and student group (small groups withheld "
        "exactly as in rates.csv), three-year trends, bright spots, the criteria that "
        "hold students back, roster counts by tier and the models' test results. Every "
        "page is self-contained (no network needed). Computes the indicators first unless "
        "--reuse-indicators.",
    )
    add_data_and_out(parser)  # DATA may be a URL (s3://, ...); OUT may not
    parser.add_argument(
        "--reuse-indicators",
        action="store_true",
        help="use OUT/indicators from an earlier `ontrack indicators` run when it exists; "
        "a set left partial by a killed run, edited, or made with another config is refused "
        "(otherwise they are computed, reusing OUT/validated when its rules match)",
    )
    parser.add_argument(
        "--scatter",
        default="hs_readiness_8,chronic_absence",
        metavar="X,Y",
        help="the school scatter shown first (default hs_readiness_8,chronic_absence; "
        "also on_track_9,chronic_absence, hs_readiness_8,suspension, ...)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Compute (or reuse) the indicators for DATA into OUT, then write OUT/report/."""
    try:
        from ontrack.reports.district import parse_pair
    except ModuleNotFoundError as err:  # pragma: no cover - a broken install
        raise OnTrackError(
            "the report renderer must be installed with ontrack (package `reports`). "
            f"Got {err} instead: reinstall with `pip install -e .`."
        ) from None

    config = load_config(getattr(args, "config", None))
    say = Progress("report", getattr(args, "quiet", False))
    pair = parse_pair(args.scatter)
    given = _reused(args, config, say)
    done = run_stages(upto("report", given=given), args.data, args.out, config,
                      progress=say, params={"report": {"pair": pair}})
    index = done["report"]
    n_pages = len(list(index.parent.glob("school_*.html")))
    finish()
    print(
        f"district report: {index} ({n_pages} school pages); open it in any browser, "
        "no network needed"
    )
    return 0


def _reused(args: argparse.Namespace, config: Config, say: Progress) -> list[str]:
    """The stages ``--reuse-indicators`` finds done: the indicators when OUT/indicators
    holds their files (which must then be whole and of this config), else the validation
    when OUT/validation exists."""
    folder = Path(args.out) / "indicators"
    if args.reuse_indicators and any((folder / n).exists() for n in (MARKER, "rates.csv")):
        _check_whole(folder, config)
        say(f"reusing {folder} (complete, config {config.config_hash})")
        return upto("indicators")
    if not is_url(args.data) and not Path(args.data).is_dir():  # a URL is listed when copied
        raise OnTrackError(
            f"DATA must be a directory of district tables. Got {args.data} instead."
        )
    say("computing the indicators")
    validated = (Path(args.out) / "validation" / "report.json").exists()
    return upto("validate") if args.reuse_indicators and validated else []


def _check_whole(folder: Path, config: Config) -> None:
    """Refuse to reuse indicator files that are partial, changed or of another config."""
    try:
        check_marker(folder, "indicators", config.config_hash)
    except OutputIncomplete as err:
        raise OnTrackError(
            f"{folder} must be complete and made with the current config to be reused. "
            f"Got {err.problem} instead: run `ontrack indicators` again or drop "
            "--reuse-indicators."
        ) from None
