"""``ontrack synth DATA``: write a synthetic district data directory (docs/data-contract.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ontrack.console import Progress, table, finish
from ontrack.synth import SynthSummary, generate_district
from ontrack.synth.generate import MIN_STUDENTS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``synth`` subcommand."""
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic district data directory",
        description="Write a realistic synthetic urban district (schools, students, "
        "enrollments, daily attendance, marks, discipline, tests, caseloads, outcomes) "
        "to DATA, one file per table. The same --seed always gives the same files. "
        "Unless --no-mess, a few deliberately bad rows are added for validation to "
        "catch. DATA must be empty, new, or a previous synth output.",
    )
    p.add_argument("data", type=Path, metavar="DATA", help="output directory")
    p.add_argument(
        "--students",
        type=int,
        default=2000,
        metavar="N",
        help=f"approximate enrollment in grades 6-12 per year (default 2000, "
        f"at least {MIN_STUDENTS})",
    )
    p.add_argument(
        "--years", type=int, default=6, metavar="Y", help="school years (default 6)"
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random seed (default 0)"
    )
    p.add_argument(
        "--last-year",
        type=int,
        default=2025,
        metavar="YEAR",
        help="last school year, as the year it ends in (default 2025 = 2024-25)",
    )
    p.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default="parquet",
        help="file format (default parquet)",
    )
    p.add_argument(
        "--no-mess",
        action="store_true",
        help="leave out the deliberately bad rows",
    )
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    """Generate the district, print what was written; errors raise OnTrackError."""
    summary = generate_district(
        args.data,
        n_students=args.students,
        n_years=args.years,
        seed=args.seed,
        last_school_year=args.last_year,
        fmt=args.format,
        mess=not args.no_mess,
        progress=Progress("synth", getattr(args, "quiet", False)),
    )
    finish()
    print(format_summary(summary))
    return 0


def format_summary(summary: SynthSummary) -> str:
    """A short plain-text account of what was written."""
    years, daily = summary.school_years, summary.daily_attendance_years
    counts = [[name, f"{n:,}"] for name, n in summary.rows.items()]
    lines = [
        f"Synthetic district written to {summary.out_dir} ({summary.fmt}, seed "
        f"{summary.seed}, school years {years[0]}-{years[-1]}; daily attendance "
        f"{daily[0]}-{daily[-1]}).",
        "",
        table(counts, ["table", "rows"]),
    ]
    if summary.mess:
        lines += ["", "Deliberate mess (validation should catch every one):", ""]
        rows = [[m.kind, m.table, str(m.count), m.detail] for m in summary.mess]
        lines.append(table(rows, ["kind", "table", "rows", "detail"]))
    else:
        lines += ["", "No deliberate mess (--no-mess)."]
    return "\n".join(lines)
