"""Build one model's data set and write it: ``OUT/features/<model>/``.

The cohort at every checkpoint, its point-in-time feature matrix, each label, the equity
attributes (for the fairness audit, never model inputs), the data dictionary and a
``meta.json`` stamp. Used by the ``features`` command, training, the demo and the flows.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from ontrack import __version__
from ontrack.config import Config
from ontrack.dataset.asof import data_end_date
from ontrack.dataset.cohorts import build_cohort
from ontrack.dataset.featurize import (
    build_feature_matrix,
    feature_dictionary,
    load_feature_set,
    write_dictionary,
)
from ontrack.dataset.labels import LABELS, build_labels, can_build
from ontrack.indicators import GROUP_FLAGS
from ontrack.validation.store import open_validated, provided


def write_features(
    out_dir: Path,
    config: Config,
    *,
    model: str,
    feature_set: str | None = None,
    as_of_dates: list[date] | None = None,
    school_years: list[int] | None = None,
    data_end: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Build and write the matrix, cohort, labels and dictionary of ``out_dir``.

    ``out_dir`` must hold validated tables (``ontrack validate``). ``model`` names a
    declaration in ``config.models``: its grade is the cohort, its feature set (unless
    ``feature_set`` is given) the matrix, and every label honest for its grade that the
    data allows is written (``--target`` may pick any of them).

    Returns the run's metadata (also written to ``meta.json``).
    """
    say = progress or (lambda _msg: None)
    spec = config.model_spec(model)
    features = load_feature_set(feature_set or spec.feature_set)
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
        labels = _labels(con, cohort, config, have, end, spec.grade)
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
    meta = _meta(model, matrix, cohort, labels, end, config, caught, folder)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def _meta(
    model: str,
    matrix: pd.DataFrame,
    cohort: pd.DataFrame,
    labels: dict[str, pd.DataFrame],
    end: date | None,
    config: Config,
    caught: list[warnings.WarningMessage],
    folder: Path,
) -> dict:
    """The ``meta.json`` stamp of a built data set: its shape, dates, labels and origin."""
    return {
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


def _labels(
    con: duckdb.DuckDBPyConnection,
    cohort: pd.DataFrame,
    config: Config,
    have: set[str],
    end: date | None,
    grade: int,
) -> dict[str, pd.DataFrame]:
    """Every label honest for the grade that the data allows (graduation only with
    outcomes), by name."""
    names = [n for n in LABELS if can_build(n, grade, have)]
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
