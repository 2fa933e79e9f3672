"""Features as small named SQL units, and the builder of the feature matrix.

A *feature* is a function whose name is the column, whose docstring is its data
dictionary entry, and which returns one SQL aggregate expression. It is evaluated per
(student_id, as_of_date) over a *source*: a point-in-time view of ``ontrack.dataset.asof``
(``attendance``, ``discipline``, ...) or a named ``@source`` query over those views.

    @feature(group="behavior", source="discipline", reason="{value:.0f} incidents ...",
             malleable=True, when_no_records=0.0)
    def incidents_ytd() -> str:
        \"\"\"Discipline incidents this school year up to the as-of date.\"\"\"
        return "count(*) FILTER (WHERE year_offset = 0)"

The builder runs one ``GROUP BY student_id, as_of_date`` query per source, holding
every feature of that source, inside :func:`ontrack.dataset.asof.point_in_time`: sources see
only rows known at each as-of date, so no feature can read the future (the worked
example and the knowledge date of every table are in ``ontrack/dataset/asof.py``).

Frame sources (``@source(frame=True)``) are Python functions ``(con, cohort, config)
-> DataFrame`` for logic that lives elsewhere (the rule indicators). They run before
the point-in-time schema exists and must clip to the as-of date themselves; the
time-travel test holds them to it.

A cohort member with no rows in a source gets ``when_no_records`` (e.g. 0 incidents)
when at least one of the source's tables was provided, else NaN: a district without a
discipline table has unknown, not zero, incidents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ontrack.dataset.asof import point_in_time
from ontrack.validation.checks import ident
from ontrack.dataset.cohorts import COHORT_INDEX
from ontrack.config import Config
from ontrack.errors import ConfigError, SchemaError
from ontrack.dataset.featureset import (
    GROUPS,
    PROGRAM_FLAG_WARNING,
    PROTECTED_COLUMNS,
    VIEW_SOURCES,
    FeatureSet,
    FeatureSpec,
    SourceSpec,
    feature,
    load_feature_set,
    source,
)
from ontrack.validation.store import provided_tables

__all__ = [
    "GROUPS",
    "PROGRAM_FLAG_WARNING",
    "PROTECTED_COLUMNS",
    "VIEW_SOURCES",
    "FeatureSet",
    "FeatureSpec",
    "SourceSpec",
    "build_feature_matrix",
    "dictionary_markdown",
    "feature",
    "feature_dictionary",
    "load_feature_set",
    "source",
    "write_dictionary",
]
Progress = Callable[[str], None]


def build_feature_matrix(
    con: duckdb.DuckDBPyConnection,
    cohort: pd.DataFrame,
    features: FeatureSet,
    config: Config,
    *,
    provided: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The feature matrix X: one row per cohort row, one float column per feature.

    Parameters
    ----------
    con : connection with the validated tables as views (``open_validated``).
    cohort : indexed (student_id, as_of_date), as from ``build_cohort``.
    features : the feature set (program flags are dropped unless the config allows).
    config : district rules.
    provided : tables the district provided (default: inferred from ``con``).
    progress : called with a line per source.

    Returns
    -------
    DataFrame indexed like ``cohort`` (same rows, same order), float64 columns named
    after the features; missing values are NaN.
    """
    say = progress or (lambda _msg: None)
    features = features.for_config(config).for_grades(cohort["grade_level"].unique())
    have = set(provided) if provided is not None else provided_tables(con)
    index = _checked_index(cohort)
    by_source: dict[str, list[FeatureSpec]] = {}
    for spec in features:
        by_source.setdefault(spec.source, []).append(spec)
    frames = {
        name: features.sources[name].func(con, cohort, config)
        for name in by_source
        if name in features.sources and features.sources[name].frame
    }
    columns: dict[str, np.ndarray] = {}
    with point_in_time(con, cohort, config):
        for name, frame in frames.items():
            _store_frame(con, name, frame)
        for name, specs in by_source.items():
            say(f"features from {name}: {', '.join(s.name for s in specs)}")
        # A source no feature reads is still checked (DuckDB skips an unread one).
        unread = [s for s in features.sources.values() if s.name not in by_source]
        views = any(not s.frame for s in unread)
        if views:
            _create_source_views(con, features)
        found = _run_together(con, features, by_source, index)
        if found is None:  # one of them fails: run them one by one to name it
            found = _run_apart(con, features, by_source, index, views=views)
        for name, specs in by_source.items():
            values, present = found[name]
            for spec in specs:
                tables = features.tables_of(spec)
                columns[spec.name] = _finish(
                    spec, values[spec.name], present, tables, have
                )
    return pd.DataFrame({f.name: columns[f.name] for f in features}, index=index)


Found = dict[str, tuple[pd.DataFrame, np.ndarray]]


def _run_together(
    con: duckdb.DuckDBPyConnection,
    features: FeatureSet,
    by_source: dict[str, list[FeatureSpec]],
    index: pd.MultiIndex,
) -> Found | None:
    """Every source's features in one statement (None if DuckDB refuses it).

    Each SQL source is a common table expression, so a source read by others (the
    daily attendance, the report card) is computed once, and the part pays for one
    plan and one result instead of one per source. Each source's features are grouped
    per (student_id, as_of_date) as alone, then joined to the cohort's rows.
    """
    if not by_source:
        return {}
    parts = [
        f"{ident(spec.name)} AS ({spec.sql()})"
        for spec in features.sources.values()
        if not spec.frame
    ]
    picks, joins = [], []
    for number, (name, specs) in enumerate(by_source.items()):
        flag = f"__present_{number}"
        grouped = _query(f"SELECT * FROM {ident(name)}", specs, present=flag)
        parts.append(f"__ontrack_by_source_{number} AS ({grouped})")
        alias = f"__s{number}"
        picks += [f"{alias}.{flag}"]
        picks += [f"{alias}.{ident(s.name)}" for s in specs]
        joins.append(
            f"LEFT JOIN __ontrack_by_source_{number} {alias} ON "
            f"{alias}.student_id = k.student_id AND {alias}.as_of_date = k.as_of_date"
        )
    sql = (
        f"WITH {', '.join(parts)} "
        f"SELECT k.student_id, k.as_of_date, {', '.join(picks)} "
        f"FROM cohort k {' '.join(joins)}"
    )
    try:
        frame = con.execute(sql).df()
    except duckdb.Error:
        return None
    frame = _keyed(frame).reindex(index)
    return {
        name: (frame, frame[f"__present_{number}"].notna().to_numpy())
        for number, name in enumerate(by_source)
    }


def _run_apart(
    con: duckdb.DuckDBPyConnection,
    features: FeatureSet,
    by_source: dict[str, list[FeatureSpec]],
    index: pd.MultiIndex,
    *,
    views: bool = False,
) -> Found:
    """Each source as a view (unless ``views`` says they exist) and its features in a
    statement of their own: slower, but a failing source or feature is named."""
    if not views:
        _create_source_views(con, features)
    found: Found = {}
    for name, specs in by_source.items():
        result = _run_source(con, features, name, specs)
        found[name] = (result.reindex(index), index.isin(result.index))
    return found


def _checked_index(cohort: pd.DataFrame) -> pd.Index:
    """The cohort's index, once it is known to be one row per (student_id, as_of_date)."""
    index = cohort.index
    if list(index.names) != list(COHORT_INDEX):
        raise SchemaError(
            f"cohort index must be {list(COHORT_INDEX)}. "
            f"Got {list(index.names)} instead."
        )
    if index.has_duplicates:
        raise SchemaError(
            "cohort must have one row per student_id and as_of_date. Got "
            f"{int(index.duplicated().sum())} repeated rows instead."
        )
    return index


def _store_frame(
    con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame
) -> None:
    con.register("__ontrack_frame", frame)
    try:
        con.execute(
            f"CREATE TABLE known.{ident(name)} AS SELECT * REPLACE "
            f"(CAST(as_of_date AS DATE) AS as_of_date) FROM __ontrack_frame"
        )
    finally:
        con.unregister("__ontrack_frame")


def _create_source_views(con: duckdb.DuckDBPyConnection, features: FeatureSet) -> None:
    """Every SQL source as a view of the point-in-time schema, in declaration order."""
    for spec in features.sources.values():
        if not spec.frame:
            _create_source_view(con, spec)


def _create_source_view(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    try:
        con.execute(f"CREATE VIEW known.{ident(spec.name)} AS {spec.sql()}")
    except duckdb.Error as err:
        raise ConfigError(
            f"source {spec.name!r} must be valid SQL over the point-in-time views "
            f"and earlier sources. Got this DuckDB error instead: {err}"
        ) from None


def _query(
    source_sql: str, specs: Sequence[FeatureSpec], present: str | None = None
) -> str:
    exprs = ", ".join(f"CAST(({s.sql()}) AS DOUBLE) AS {ident(s.name)}" for s in specs)
    flag = f"TRUE AS {present}, " if present else ""
    return (
        f"SELECT student_id, as_of_date, {flag}{exprs} FROM ({source_sql}) AS src "
        "GROUP BY student_id, as_of_date"
    )


def _run_source(
    con: duckdb.DuckDBPyConnection,
    features: FeatureSet,
    name: str,
    specs: Sequence[FeatureSpec],
) -> pd.DataFrame:
    sql = f"SELECT * FROM {ident(name)}"
    try:
        frame = con.execute(_query(sql, specs)).df()
    except duckdb.Error as err:
        for spec in specs:  # name the feature that fails, not just the source
            try:
                con.execute(f"SELECT * FROM ({_query(sql, [spec])}) LIMIT 0").fetchall()
            except duckdb.Error as one:
                raise ConfigError(
                    f"feature {spec.name!r} ({spec.module}) must be valid SQL over "
                    f"source {name!r}. Got this DuckDB error instead: {one}"
                ) from None
        raise ConfigError(
            f"source {name!r} must give rows per student_id and as_of_date. Got this "
            f"DuckDB error instead: {err}"
        ) from None
    return _keyed(frame)


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """A query's result indexed like a cohort (student_id as text, as_of_date in ns)."""
    frame["student_id"] = frame["student_id"].astype("str")
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).astype("datetime64[ns]")
    return frame.set_index(list(COHORT_INDEX))


def _finish(
    spec: FeatureSpec,
    aligned: pd.Series,
    present: np.ndarray,
    tables: Sequence[str],
    provided: set[str],
) -> np.ndarray:
    """Fill students without records, check the range (``aligned``: the source's value
    per cohort row; ``present``: whether the source has rows for it). Plain arrays: a
    part has some fifty features, and a Series' overhead per step adds up."""
    if not set(tables) & provided:
        return np.full(len(aligned), np.nan)
    values = aligned.to_numpy(dtype="float64", na_value=np.nan)
    if spec.when_no_records is not None:
        values = np.where(present, values, spec.when_no_records)
    if spec.valid_range is not None:
        low, high = spec.valid_range
        seen = values[~np.isnan(values)]
        if len(seen) and (seen.min() < low - 1e-9 or seen.max() > high + 1e-9):
            raise SchemaError(
                f"feature {spec.name!r} must be within [{low}, {high}]. Got values "
                f"from {seen.min():.4g} to {seen.max():.4g} instead."
            )
    return values


def feature_dictionary(
    features: FeatureSet, matrix: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The data dictionary: name, group, description, tables, missing rate in X, and
    how rosters may show the feature (``on_rosters``: reason, context or never, with
    ``risk_when`` and ``healthy``)."""
    rows = []
    for spec in features:
        missing = np.nan
        if matrix is not None and len(matrix):
            missing = float(matrix[spec.name].isna().mean())
        no_records = spec.when_no_records
        rows.append(
            {
                "name": spec.name,
                "group": spec.group,
                "description": spec.description,
                "tables": ", ".join(features.tables_of(spec)),
                "no_records": "missing" if no_records is None else f"{no_records:g}",
                "grades": ", ".join(map(str, spec.grades or ())),
                "program_flag": spec.program_flag,
                "malleable": spec.malleable,
                "reason": spec.reason,
                "risk_when": spec.risk_when or "",
                "healthy": "" if spec.healthy is None else f"{spec.healthy:g}",
                "on_rosters": spec.roster_role,
                "missing_rate": missing,
            }
        )
    return pd.DataFrame(rows)


def dictionary_markdown(
    dictionary: pd.DataFrame, title: str | None = "Feature dictionary"
) -> str:
    """The data dictionary as one Markdown table (docs/features.md holds it too)."""
    lines = [f"# {title}", ""] if title else []
    lines += [
        "| feature | group | description | no records | grades | missing |",
        "|---|---|---|---|---|---|",
    ]
    for row in dictionary.itertuples(index=False):
        rate = "" if pd.isna(row.missing_rate) else f"{row.missing_rate:.1%}"
        text = str(row.description).replace("|", "\\|")
        if row.program_flag:
            text += " *Program flag: only with `features.include_program_flags`.*"
        elif row.on_rosters in ("reason", "context"):
            text += f" *{_roster_note(row)}*"
        grades = row.grades or "all"
        cells = (f"`{row.name}`", row.group, text, row.no_records, grades, rate)
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _roster_note(row: object) -> str:
    """How a roster may show the feature, e.g. "Reason when below 1."."""
    kind = "Reason" if getattr(row, "on_rosters") == "reason" else "Context"
    healthy = getattr(row, "healthy")
    if healthy == "":
        return f"{kind} whenever known."
    side = "below" if getattr(row, "risk_when") == "low" else "above"
    return f"{kind} when {side} {healthy}."


def write_dictionary(
    dictionary: pd.DataFrame, folder: Path, title: str = "Feature dictionary"
) -> None:
    """Write ``dictionary.csv`` and ``dictionary.md`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    dictionary.to_csv(folder / "dictionary.csv", index=False)
    text = dictionary_markdown(dictionary, title)
    (folder / "dictionary.md").write_text(text, encoding="utf-8")
