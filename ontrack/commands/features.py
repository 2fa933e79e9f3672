"""``ontrack features DATA --model grade8|grade9 --out OUT``: the feature matrix.

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
import json
import warnings
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from ontrack import __version__
from ontrack.dataset.asof import data_end_date
from ontrack.dataset.cohorts import build_cohort
from ontrack.commands import add_data_and_out
from ontrack.config import Config, load_config
from ontrack.console import Progress, table
from ontrack.dataset.featurize import (
    build_feature_matrix,
    feature_dictionary,
    load_feature_set,
    write_dictionary,
)
from ontrack.indicators import GROUP_FLAGS
from ontrack.dataset.labels import LABELS, build_labels
from ontrack.validation.store import open_validated, provided
from ontrack.validation import validate_directory


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
        "--features", default="ontrack.features:FEATURES", metavar="MODULE:ATTR",
        help="the feature set to build (default: the repository's features/)",
    )
    parser.set_defaults(func=run)
    return parser


def write_features(
    out_dir: Path,
    config: Config,
    *,
    model: str,
    feature_set: str = "ontrack.features:FEATURES",
    as_of_dates: list[date] | None = None,
    school_years: list[int] | None = None,
    data_end: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Build and write the matrix, cohort, labels and dictionary of ``out_dir``.

    ``out_dir`` must hold validated tables (``ontrack validate``).

    Returns the run's metadata (also written to ``meta.json``).
    """
    say = progress or (lambda _msg: None)
    features = load_feature_set(feature_set)
    folder = Path(out_dir) / "features" / model
    folder.mkdir(parents=True, exist_ok=True)
    con = open_validated(out_dir, config)
    have = provided(out_dir)
    try:
        end = data_end or data_end_date(con)
        say(f"cohort of {model} (data end {end})")
        cohort = build_cohort(
            con,
            config,
            model=model,
            school_years=school_years,
            as_of_dates=as_of_dates,
            data_end=end,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            grades = cohort["grade_level"].unique()
            used = features.for_config(config).for_grades(grades)
            matrix = build_feature_matrix(
                con, cohort, used, config, provided=have, progress=say
            )
        say("labels")
        labels = _labels(con, cohort, config, have, end)
        attributes = _attributes(con, cohort)
    finally:
        con.close()
    matrix.to_parquet(folder / "matrix.parquet")
    cohort.join(attributes).to_parquet(folder / "cohort.parquet")
    (folder / "labels").mkdir(exist_ok=True)
    for name, frame in labels.items():
        frame.to_parquet(folder / "labels" / f"{name}.parquet")
    dictionary = feature_dictionary(used, matrix)
    write_dictionary(dictionary, folder, title=f"Feature dictionary ({model})")
    meta = {
        "model": model,
        "rows": len(matrix),
        "students": int(cohort.index.get_level_values("student_id").nunique()),
        "as_of_dates": sorted({str(d.date()) for d in cohort.index.levels[1]}),
        "features": list(matrix.columns),
        "labels": {n: int(frame["label"].notna().sum()) for n, frame in labels.items()},
        "data_end": str(end) if end else None,
        "config_hash": config.config_hash,
        "ontrack_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "warnings": sorted({str(w.message) for w in caught}),
        "folder": str(folder),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def _labels(
    con: duckdb.DuckDBPyConnection,
    cohort: pd.DataFrame,
    config: Config,
    have: set[str],
    end: date | None,
) -> dict[str, pd.DataFrame]:
    """Every label the data allows (graduation only with outcomes), by name."""
    names = [n for n in LABELS if n != "not_graduated_4yr" or "outcomes" in have]
    return {n: build_labels(con, cohort, config, label=n, data_end=end) for n in names}


def _attributes(con: duckdb.DuckDBPyConnection, cohort: pd.DataFrame) -> pd.DataFrame:
    """Equity attributes of each cohort row: for reports only, never model inputs."""
    keys = cohort.reset_index()[["student_id", "as_of_date", "school_year"]]
    con.register("__ontrack_keys", keys)
    try:
        flags = ", ".join(f"y.{c}" for c in GROUP_FLAGS)
        frame = con.execute(
            f"""
            SELECT k.student_id, k.as_of_date, s.gender, s.race_ethnicity, {flags}
            FROM __ontrack_keys k
            LEFT JOIN main.students s ON s.student_id = k.student_id
            LEFT JOIN main.student_years y
              ON y.student_id = k.student_id AND y.school_year = k.school_year
            """
        ).df()
    finally:
        con.unregister("__ontrack_keys")
    frame["student_id"] = frame["student_id"].astype("str")
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).astype("datetime64[ns]")
    return frame.set_index(["student_id", "as_of_date"]).reindex(cohort.index)


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
    say = Progress("features", args.quiet)
    validate_directory(args.data, args.out, config, progress=say)
    meta = write_features(
        args.out,
        config,
        model=args.model,
        feature_set=args.features,
        as_of_dates=args.as_of,
        school_years=args.school_years,
        data_end=args.data_end,
        progress=say,
    )
    print(summary(meta, Path(meta["folder"]) / "dictionary.csv"))
    return 0
