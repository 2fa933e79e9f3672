"""Build one model's data set and write it: ``OUT/features/<model>/``.

The cohort at every checkpoint, its point-in-time feature matrix, each label, the equity
attributes (for the fairness audit, never model inputs), the data dictionary, a
``meta.json`` stamp and, last, the completion marker ``_complete.json`` (withdrawn before
the first file is rewritten) that ``train --reuse-features`` checks. Used by the
``features`` command, training, the demo and the flows.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.util import hash_pandas_object

from ontrack import __version__
from ontrack.config import Config
from ontrack.dataset.asof import data_end_date
from ontrack.dataset.budget import chunk_rows, in_chunks, part_rows
from ontrack.dataset.cohorts import build_cohort
from ontrack.dataset.featureset import FeatureSet
from ontrack.dataset.featurize import (
    build_feature_matrix,
    feature_dictionary,
    load_feature_set,
    write_dictionary,
)
from ontrack.dataset.labels import LABELS, build_labels, can_build
from ontrack.dataset.matrix_file import write_matrix
from ontrack.indicators import GROUP_FLAGS
from ontrack.paths import clear_marker, write_atomically, write_marker
from ontrack.resources import parts_dir
from ontrack.validation.store import open_validated, provided

COHORT_FILE = "cohort.parquet"  # the cohort the parts share, under OUT/.parts/features/<model>/


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

    The matrix is built one part at a time (:func:`plan_features`, :func:`feature_part`,
    :func:`combine_features`): the same parts a flow sends to a Dask cluster, here on one
    connection to the validated tables (opening one costs as much as a small part's
    source). Returns the run's metadata (also written to ``meta.json``).
    """
    with _validated(out_dir, config) as con:
        data_end = data_end or data_end_date(con)  # once for the plan and the combine
        parts = plan_features(out_dir, config, model=model, as_of_dates=as_of_dates,
                              school_years=school_years, data_end=data_end,
                              progress=progress, con=con)
        partials = [feature_part(out_dir, config, model=model, part=part,
                                 feature_set=feature_set, progress=progress, con=con)
                    for part in parts]
        return combine_features(out_dir, config, partials, model=model,
                                feature_set=feature_set, data_end=data_end,
                                progress=progress, con=con)


@contextmanager
def _validated(out_dir: Path, config: Config, con: duckdb.DuckDBPyConnection | None = None,
               ) -> Iterator[duckdb.DuckDBPyConnection]:
    """``con`` if given (left open), else a new connection to the validated tables (within
    the resources, spilling under OUT/.tmp), closed on exit."""
    own = open_validated(out_dir, config) if con is None else None
    try:
        yield con if own is None else own
    finally:
        if own is not None:
            own.close()


def plan_features(out_dir: Path, config: Config, *, model: str,
                  as_of_dates: list[date] | None = None, school_years: list[int] | None = None,
                  data_end: date | None = None,
                  progress: Callable[[str], None] | None = None,
                  con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Build the cohort (kept for the parts in ``OUT/.parts/features/<model>/``) and list
    the parts (:func:`group_checkpoints`): consecutive checkpoints of at most
    ``resources.feature_part_rows`` cohort rows (fewer when ``resources.memory_limit``
    cannot hold that many: :func:`ontrack.dataset.budget.part_rows`), each in
    ``resources.student_buckets`` buckets of students. ``con``: a connection to the
    validated tables to use (default: a new one)."""
    say = progress or (lambda _msg: None)
    with _validated(out_dir, config, con) as db:
        end = data_end or data_end_date(db)
        say(f"cohort of {model} (data end {end})")
        cohort = build_cohort(db, config, model=model, school_years=school_years,
                              as_of_dates=as_of_dates, data_end=end)
    folder = parts_dir(out_dir, "features", model)
    write_atomically(folder / COHORT_FILE, lambda path: cohort.to_parquet(path))
    days = pd.Series(cohort.index.get_level_values("as_of_date").date).astype("str")
    counts = sorted(days.value_counts().items())
    return group_checkpoints(counts, part_rows(config), config.resources.student_buckets)


def group_checkpoints(counts: list[tuple[str, int]], part_rows: int,
                      buckets: int = 1) -> list[dict]:
    """The feature parts for cohort rows per checkpoint (``counts``: ISO date and rows,
    in date order).

    Consecutive checkpoints share a part while its rows stay within ``part_rows``, so a
    small district runs one part and pays the fixed cost of a part (a connection,
    point-in-time views, every source) once. Each part is split into ``buckets`` buckets
    of students; a checkpoint alone above ``part_rows`` into as many as bring each
    bucket near ``part_rows``. A part is ``{"as_of": [dates], "bucket", "buckets"}``
    (``as_of`` None for a cohort without checkpoints: every row).
    """
    groups: list[list[str]] = []
    sizes: list[int] = []
    for day, rows in counts:
        if groups and sizes[-1] + rows <= part_rows:
            groups[-1].append(day)
            sizes[-1] += int(rows)
        else:
            groups.append([day])
            sizes.append(int(rows))
    if not groups:
        return [{"as_of": None, "bucket": b, "buckets": buckets} for b in range(buckets)]
    parts = []
    for days, rows in zip(groups, sizes):
        split = max(buckets, -(-rows // part_rows))  # ceiling: a large checkpoint splits
        parts += [{"as_of": days, "bucket": b, "buckets": split} for b in range(split)]
    return parts


def _part_rows(file: Path, part: dict) -> pd.DataFrame:
    """The cohort rows of one part, read from the cohort ``file``: its checkpoints (only
    those rows are read), its bucket of student IDs."""
    if part["as_of"] is None:
        return pd.read_parquet(file)
    days = list(pd.to_datetime(pd.Series(part["as_of"])))
    cohort = pd.read_parquet(file, filters=[("as_of_date", "in", days)])
    keep = cohort.index.get_level_values("as_of_date").isin(days)
    if part["buckets"] > 1:
        ids = pd.Series(cohort.index.get_level_values("student_id"))
        keep &= (hash_pandas_object(ids, index=False).to_numpy() % part["buckets"]) == part["bucket"]
    return cohort[keep]


def feature_part(out_dir: Path, config: Config, *, model: str, part: dict,
                 feature_set: str | None = None,
                 progress: Callable[[str], None] | None = None,
                 con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """The feature matrix of one part's cohort rows, written to
    ``OUT/.parts/features/<model>/<first as_of>[_<last as_of>]_<bucket>.parquet``; its
    file, rows and warnings. ``con``: as for :func:`plan_features`."""
    folder = parts_dir(out_dir, "features", model)
    rows = _part_rows(folder / COHORT_FILE, part)
    with _validated(out_dir, config, con) as db, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        used = _used(config, model, feature_set, _grades(folder / COHORT_FILE))
        matrix = build_feature_matrix(db, rows, used, config, provided=provided(out_dir),
                                      progress=progress)
    days = part["as_of"] or ["all"]
    name = days[0] if len(days) == 1 else f"{days[0]}_{days[-1]}"
    target = folder / f"{name}_{part['bucket']}.parquet"
    write_atomically(target, lambda path: matrix.to_parquet(path))
    return {"file": str(target), "rows": len(matrix), "warnings": [str(w.message) for w in caught]}


def _grades(file: Path) -> list[int]:
    """The grades of the whole cohort in ``file`` (one column read)."""
    column = pq.read_table(file, columns=["grade_level"]).column("grade_level")
    return [int(g) for g in pc.unique(column).to_pylist()]


def _used(config: Config, model: str, feature_set: str | None, grades: list[int]) -> FeatureSet:
    """The features the model's matrix holds, for the grades of its whole cohort."""
    features = load_feature_set(feature_set or config.model_spec(model).feature_set)
    return features.for_config(config).for_grades(grades)


def combine_features(out_dir: Path, config: Config, partials: list[dict], *, model: str,
                     feature_set: str | None = None, data_end: date | None = None,
                     progress: Callable[[str], None] | None = None,
                     con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """Gather the parts' rows in cohort order, add labels and equity attributes, and
    write the data set's files (``write_features``; ``con`` as for :func:`plan_features`).

    The matrix goes from the part files to ``matrix.parquet`` a row group at a time
    (:func:`write_matrix`): memory holds one row group, never the whole matrix twice.
    Labels and equity attributes are looked up :func:`ontrack.dataset.budget.chunk_rows`
    cohort rows at a time, each chunk's queries reading only its students."""
    say = progress or (lambda _msg: None)
    spec = config.model_spec(model)
    staged = parts_dir(out_dir, "features", model)
    cohort = pd.read_parquet(staged / COHORT_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parts recorded these warnings already
        used = _used(config, model, feature_set, _grades(staged / COHORT_FILE))
    have = provided(out_dir)
    with _validated(out_dir, config, con) as db:
        end = data_end or data_end_date(db)
        say("labels")
        labels = _labels(db, cohort, config, have, end, spec.grade)
        say("equity attributes")
        with_attributes = _with_attributes(db, cohort, chunk_rows(config))
    folder = Path(out_dir) / "features" / model
    folder.mkdir(parents=True, exist_ok=True)
    clear_marker(folder)  # from here on the folder is being rewritten: not reusable
    names = [f.name for f in used]
    missing = write_matrix(folder / "matrix.parquet", [p["file"] for p in partials],
                           cohort.index, names)
    write_atomically(folder / "cohort.parquet", with_attributes.to_parquet)
    del with_attributes
    (folder / "labels").mkdir(exist_ok=True)
    for name, frame in labels.items():
        frame.to_parquet(folder / "labels" / f"{name}.parquet")
    dictionary = feature_dictionary(used)
    if len(cohort):
        dictionary["missing_rate"] = [missing[n] / len(cohort) for n in dictionary["name"]]
    write_dictionary(dictionary, folder, title=f"Feature dictionary ({model})")
    caught = sorted({w for p in partials for w in p["warnings"]})
    meta = _meta(model, names, cohort, labels, end, config, caught, folder)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    # Last: the set is whole. meta.json (written just before, after the data) is left out
    # of the digests: it holds the run's time, so two identical runs would differ.
    written = ["matrix.parquet", "cohort.parquet", "dictionary.csv", "dictionary.md",
               *(f"labels/{name}.parquet" for name in labels)]
    write_marker(folder, "features", config.config_hash, written)
    for partial in partials:
        Path(partial["file"]).unlink(missing_ok=True)
    (staged / COHORT_FILE).unlink(missing_ok=True)
    return meta


def _meta(
    model: str,
    features: list[str],
    cohort: pd.DataFrame,
    labels: dict[str, pd.DataFrame],
    end: date | None,
    config: Config,
    caught: list[str],
    folder: Path,
) -> dict:
    """The ``meta.json`` stamp of a built data set: its shape, dates, labels and origin."""
    return {
        "model": model,
        "rows": len(cohort),  # the matrix has a row per cohort row
        "students": int(cohort.index.get_level_values("student_id").nunique()),
        "as_of_dates": sorted({str(d.date()) for d in cohort.index.levels[1]}),
        "features": features,
        "labels": {n: int(frame["label"].notna().sum()) for n, frame in labels.items()},
        "data_end": str(end) if end else None,
        "config_hash": config.config_hash,
        "ontrack_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "warnings": sorted(set(caught)),
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
    size = chunk_rows(config)
    return {n: build_labels(con, cohort, config, label=n, data_end=end, chunk_rows=size)
            for n in names}


def _with_attributes(con: duckdb.DuckDBPyConnection, cohort: pd.DataFrame,
                     size: int) -> pd.DataFrame:
    """The cohort with each row's equity attributes, looked up ``size`` rows at a time
    (one row's attributes never depend on another's)."""
    return in_chunks(cohort, size, lambda chunk: chunk.join(_attributes(con, chunk)))


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
