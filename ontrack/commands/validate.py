"""``ontrack validate DATA --out OUT``: check every table, quarantine bad rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from ontrack.commands import add_data_and_out
from ontrack.config import load_config
from ontrack.console import Progress, table, finish
from ontrack.pipeline import run_stages, upto
from ontrack.validation import ValidationReport


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="validate a district data directory against the contract",
        description="Read every table in DATA (CSV or Parquet), check types, allowed "
        "values, ranges, keys and references; write accepted rows to OUT/validated/, "
        "rejected rows with the reason to OUT/validation/quarantine/, and the "
        "accounting to OUT/validation/report.json. Exit 1 if a table is unusable.",
    )
    add_data_and_out(parser)  # DATA may be a URL (s3://, ...); OUT may not
    parser.set_defaults(func=run)
    return parser


def summary(report: ValidationReport) -> str:
    """Readable per-table accounting: rows in = accepted + quarantined, errors by kind."""
    rows = []
    for name, tr in report.tables.items():
        kinds = ", ".join(f"{k} {n}" for k, n in tr.errors.items()) or "-"
        rows.append([name, tr.format, f"{tr.rows_in:,}", f"{tr.rows_accepted:,}",
                     f"{tr.rows_quarantined:,}", kinds])
    text = table(rows, ["table", "format", "rows in", "accepted", "quarantined", "errors by kind"])
    lines = [text]
    if report.missing_tables:
        lines.append(f"not provided (optional): {', '.join(report.missing_tables)}")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    quarantined = sum(t.rows_quarantined for t in report.tables.values())
    lines.append(
        f"config {report.config_hash}; report: {Path(report.out_dir) / 'validation' / 'report.json'}"
        + (f"; quarantined rows: {Path(report.out_dir) / 'validation' / 'quarantine'}"
           if quarantined else "")
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Validate DATA into OUT and print the accounting."""
    config = load_config(args.config)
    done = run_stages(upto("validate"), args.data, args.out, config,
                      progress=Progress("validate", args.quiet))
    finish()
    print(summary(done["validate"]))
    return 0
