"""``ontrack score DATA --model NAME --out OUT [--as-of DATE]``.

Validates DATA into OUT, scores the model's cohort at the latest checkpoint (or the
given date) with the registered ``champion``, and writes per-school rosters (CSV, XLSX,
HTML) with calibrated risk, tiers, the rule's status and criteria, up to three reasons,
the change since the last run and alerts, under ``OUT/rosters/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

from ontrack.commands import add_data_and_out
from ontrack.config import load_config
from ontrack.console import Progress, table, finish
from ontrack.paths import write_atomically

_IMPORTED = time.perf_counter()  # where the clock starts when /proc cannot say


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``score`` subcommand."""
    parser = subparsers.add_parser(
        "score",
        help="score the current cohort with the champion and write rosters with reasons",
        description="Validate DATA into OUT, build the model's cohort and features at the "
        "latest checkpoint (or --as-of), score it with the registered champion and write "
        "OUT/rosters/<school_id>.csv/.xlsx/.html (and per counselor when caseloads "
        "exist). The registry is tracking.uri of the config when set, else "
        "$ONTRACK_HOME/mlflow when ONTRACK_HOME is set, else OUT/mlflow.",
    )
    add_data_and_out(parser, model=True)
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="DATE",
                        help="score as of this date (default: the latest checkpoint in the data)")
    parser.add_argument("--reuse-validated", action="store_true",
                        help="use OUT/validated as it is instead of validating DATA again")
    parser.set_defaults(func=run)
    return parser


def summary_text(summary: dict, folder: Path) -> str:
    """What was scored, tiers, alerts, drift, throughput."""
    rows = [[name, f"{count:,}"] for name, count in summary["tiers"].items()]
    lines = []
    if summary["ranked_by"] == "rule":
        lines.append(f"RANKED BY THE RULE (no risk shown): {summary['ranked_by_reason']}")
    elif summary.get("forced_note"):
        lines.append(f"WARNING: {summary['forced_note']}")
    lines += [
        f"{summary['registered_model']} version {summary['model_version'] or 'none'}: "
        f"{summary['students']:,} students in {summary['schools']} schools as of "
        f"{summary['as_of_date']} (scores expire {summary['expires']})",
        table(rows, ["tier", "students"]),
        f"alerts: {summary['alerts']:,} students; new to the list: {summary['new_to_the_list']:,}",
    ]
    end = summary.get("end_to_end")
    if end:
        lines.append(f"{end['students_per_second']:,.0f} students/s end to end ({end['seconds']:.1f} s from "
                     "process start: start-up, validation, loading, scoring and every file)")
    lines.append(f"rosters in {folder}")
    return "\n".join(lines)


def process_seconds() -> float:
    """Seconds since this process started (its start time in /proc; where there is no
    /proc, since this module was imported: the interpreter's own start-up is missed)."""
    try:
        fields = Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, clock ticks since boot
        uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
        return max(uptime - started, time.perf_counter() - _IMPORTED)
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


def _add_end_to_end(result) -> None:  # noqa: ANN001 (a ScoreResult: its module imports pandas)
    """Measure the run end to end (from process start) and add it to the summary and its
    file: the rate a user sees, not only the scoring core's."""
    seconds = process_seconds()
    n = result.summary["students"]
    result.summary["end_to_end"] = {"measured_from": "process start", "seconds": round(seconds, 3),
                                    "students_per_second": round(n / seconds, 1) if seconds else None}
    text = json.dumps(result.summary, indent=2)
    path = result.folder / f"summary_{result.summary['model']}.json"
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def run(args: argparse.Namespace) -> int:
    """Validate, score and write rosters; print the summary."""
    from ontrack.pipeline import run_stages, upto

    config = load_config(args.config)
    done = run_stages(upto("score", given=["validate"] if args.reuse_validated else []),
                      args.data, args.out, config, [args.model], Progress("score", args.quiet),
                      params={"score": {"as_of": args.as_of}})
    result = done["score"][args.model]
    _add_end_to_end(result)
    finish()
    if result.summary["ranked_by"] == "rule":
        print(f"warning: {args.model} rosters are ranked by the rule: {result.summary['ranked_by_reason']}",
              file=sys.stderr)
    print(summary_text(result.summary, result.folder))
    return 0
