"""``ontrack import-edfi SOURCE DATA``: Ed-Fi ODS export -> contract data folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ontrack.config import load_config
from ontrack.console import Progress, finish
from ontrack.edfi import import_edfi
from ontrack.resources import duckdb_memory_limit


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``import-edfi`` subcommand."""
    parser = subparsers.add_parser(
        "import-edfi",
        help="convert an Ed-Fi ODS table export into a district data directory",
        description="Read an Ed-Fi ODS export (one CSV or Parquet file per ODS table: "
        "Table.csv, Table.parquet or Table/*.parquet, directly in SOURCE or in its "
        "csv/ or parquet/ subfolder; Data Standard 3.x) and write the "
        "contract tables (schools, students, enrollments, student_years, attendance, "
        "course_marks, discipline, assessments) as CSV files in DATA. Descriptors are "
        "mapped through a YAML file (--mapping overrides the defaults); unmapped "
        "values and rejected rows are reported with counts, and the full accounting "
        "is saved as DATA/edfi_import_report.json.",
    )
    parser.add_argument("source", type=Path, metavar="SOURCE",
                        help="folder with the Ed-Fi ODS tables")
    parser.add_argument("data", type=Path, metavar="DATA",
                        help="district data directory to write")
    parser.add_argument("--school-year", type=int, default=None, metavar="Y",
                        help="import only Ed-Fi SchoolYear Y (2011 = 2010-11); "
                        "default: every year")
    parser.add_argument("--mapping", type=Path, default=None, metavar="FILE",
                        help="descriptor mapping YAML merged over the defaults "
                        "(see docs/edfi-mapping.md)")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    """Import, print the summary (rows, unmapped descriptors, rejections); return 0."""
    config = load_config(getattr(args, "config", None))
    report = import_edfi(
        args.source,
        args.data,
        school_year=args.school_year,
        mapping_file=args.mapping,
        progress=Progress("import-edfi", getattr(args, "quiet", False)),
        memory_limit=duckdb_memory_limit(config),  # DuckDB's share of resources.memory_limit
        threads=config.engine.threads,
    )
    finish()
    print(report.summary())
    print(f"report: {Path(args.data) / 'edfi_import_report.json'}")
    return 0
