"""``ontrack indicators DATA --out OUT [--as-of DATE]``: the rule-based indicators."""

from __future__ import annotations

import argparse
from datetime import date

from ontrack.commands import add_data_and_out
from ontrack.config import load_config
from ontrack.console import Progress, table, finish
from ontrack.indicators import IndicatorsResult
from ontrack.pipeline import run_stages, upto

# What a missing criterion means, for the summary.
WHY_UNKNOWN = {
    "gpa": "no official GPA and no graded final mark",
    "attendance": "no attendance days or summary",
    "df_ela_math": "no final ELA and math marks",
    "suspensions": "no discipline table provided",
    "credits": "no final marks with credits",
    "core_semester_fs": "no final core-subject marks",
}


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--as-of must be a date like 2024-01-31. Got {text!r} instead."
        ) from None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``indicators`` subcommand."""
    parser = subparsers.add_parser(
        "indicators",
        help="8th-grade readiness, 9th-grade on-track, chronic absence, suspension",
        description="Validate DATA (like `ontrack validate`), then compute the rule-based "
        "indicators per student and year and their rates by district, school, grade and "
        "student group, with small groups suppressed. Writes OUT/indicators/students.csv, "
        "rates.csv, suppression.csv and lowest_group.csv.",
    )
    add_data_and_out(parser)  # DATA may be a URL (s3://, ...); OUT may not
    parser.add_argument(
        "--as-of",
        type=_iso_date,
        default=None,
        metavar="DATE",
        help="use only records known on this date (a checkpoint, e.g. 2024-01-31)",
    )
    parser.add_argument(
        "--reuse-validated",
        action="store_true",
        help="skip validation and use OUT/validated from an earlier run with the same "
        "rules (calendars, mark scales)",
    )
    parser.set_defaults(func=run)
    return parser


def _percent(value: object) -> str:
    try:
        return f"{float(value):.1%}"
    except (TypeError, ValueError):
        return "-"


def summary(result: IndicatorsResult) -> str:
    """District rates of the latest year and how many statuses are unknown, and why."""
    year = result.latest_year
    when = f" as of {result.as_of}" if result.as_of else ""
    if year is None:
        return f"no enrolled student-years{when}; nothing to report."
    lines = [f"indicators for school year {year}{when} (district, all students):"]
    rows = []
    for rec in result.district_rates.itertuples(index=False):
        shown = "suppressed" if rec.suppressed else _percent(rec.rate)
        n = "-" if rec.suppressed else f"{int(rec.n):,}"
        rows.append([rec.district_id, rec.indicator, str(rec.grade_level), n, shown])
    if rows:
        lines.append(table(rows, ["district", "indicator", "grade", "n known", "rate met"]))
    else:
        lines.append("  no student-years in grades 8 or 9")
    if len(result.unknowns):
        lines.append(f"unknown statuses in {year} (a criterion had no data):")
        for indicator, part in result.unknowns.groupby("indicator", sort=True):
            lines.append(f"  {indicator}:")
            for reason, n in zip(part["reason"], part["n"], strict=True):
                lines.append(f"    {int(n):>7,}  {reason}: {WHY_UNKNOWN.get(reason, reason)}")
    else:
        lines.append("no unknown statuses")
    lines.append(
        f"{result.n_rows:,} student rows, {result.n_rates:,} rate rows "
        f"({result.n_suppressed:,} suppressed); config {result.config_hash}; "
        f"files in {result.students_path.parent}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Compute the indicators for DATA into OUT and print the summary."""
    config = load_config(args.config)
    done = run_stages(
        upto("indicators", given=["validate"] if args.reuse_validated else []),
        args.data,
        args.out,
        config,
        progress=Progress("indicators", args.quiet),
        params={"indicators": {"as_of": args.as_of}},
    )
    finish()
    print(summary(done["indicators"]))
    return 0
