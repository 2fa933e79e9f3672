"""``ontrack features DATA --model NAME --out OUT``: the feature matrix.

Validates DATA into OUT, builds the model's cohort at every checkpoint, its features
(each seeing only records known at the as-of date) and labels, and writes under
``OUT/features/<model>/``:

- ``matrix.parquet``: X, indexed (student_id, as_of_date), one float column per feature;
- ``cohort.parquet``: the same rows with school, grade, district and the equity
  attributes (gender, race/ethnicity, program flags), which are never features;
- ``labels/<label>.parquet``: per label (``off_track_9``; ``not_graduated_4yr`` when
  outcomes exist) the label, its outcome and window end (NaN while the window is open);
- ``dictionary.csv`` / ``dictionary.md``: every feature's description, group and
  missing rate; ``meta.json``: config hash, data end, counts.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import pandas as pd

from ontrack.commands import add_data_and_out
from ontrack.config import load_config
from ontrack.console import Progress, table, finish
from ontrack.dataset.build import write_features  # noqa: F401 - re-exported for callers
from ontrack.pipeline import run_stages, upto


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``features`` subcommand."""
    parser = subparsers.add_parser(
        "features",
        help="build a model's point-in-time feature matrix, labels and data dictionary",
        description="Validate DATA into OUT, then build the cohort of the model's "
        "grade at every checkpoint, its features (each seeing only records dated on or "
        "before the as-of date) and labels; write OUT/features/<model>/matrix.parquet, "
        "cohort.parquet, labels/<label>.parquet, dictionary.csv and dictionary.md.",
    )
    add_data_and_out(parser, model=True)
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        action="append",
        dest="as_of",
        metavar="DATE",
        help="build at this date instead of the configured checkpoints (repeatable)",
    )
    parser.add_argument(
        "--school-year", type=int, action="append", dest="school_years", metavar="YEAR",
        help="only this school year's checkpoints (repeatable; default: every year)",
    )
    parser.add_argument(
        "--data-end", type=date.fromisoformat, default=None, metavar="DATE",
        help="the date the data runs to (default: the latest date in the data)",
    )
    parser.add_argument(
        "--features", default=None, metavar="MODULE:ATTR",
        help="the feature set to build (default: the model's feature_set in the config, "
        "the repository's features/ unless declared otherwise)",
    )
    parser.set_defaults(func=run)
    return parser


def summary(meta: dict, dictionary_path: Path) -> str:
    """Readable run summary: rows, dates, label counts, the most-missing features."""
    dictionary = pd.read_csv(dictionary_path)
    top = dictionary.sort_values("missing_rate", ascending=False).head(5)
    rows = [
        [r.name, r.group, f"{r.missing_rate:.0%}"] for r in top.itertuples(index=False)
    ]
    dates = meta["as_of_dates"]
    lines = [
        f"{meta['model']}: {meta['rows']:,} rows ({meta['students']:,} students) at "
        f"{len(dates)} as-of dates"
        + (f" from {dates[0]} to {dates[-1]}" if dates else ""),
        f"{len(meta['features'])} features; labels known: "
        + (", ".join(f"{k} {v:,}" for k, v in meta["labels"].items()) or "none"),
        "most often missing:",
        table(rows, ["feature", "group", "missing"]) if rows else "  (no features)",
    ]
    lines += [f"warning: {w}" for w in meta["warnings"]]
    lines.append(
        f"config {meta['config_hash']}; data end {meta['data_end']}; "
        f"written to {meta['folder']}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Validate DATA into OUT, then write the model's features, labels, dictionary."""
    config = load_config(args.config)
    params = {"feature_set": args.features, "as_of_dates": args.as_of,
              "school_years": args.school_years, "data_end": args.data_end}
    done = run_stages(upto("features"), args.data, args.out, config, [args.model],
                      Progress("features", args.quiet), params={"features": params})
    meta = done["features"][args.model]
    finish()
    print(summary(meta, Path(meta["folder"]) / "dictionary.csv"))
    return 0
