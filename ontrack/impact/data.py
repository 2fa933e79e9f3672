"""Who was served, what was known about them before the start, and how 9th grade ended.

One row per (intervention type, student, grade-year cell):

- **served**: the student's *first* start of that type; the cell is the grade and
  school year of the enrollment the student was in on the start date;
- **not served**: every other student of that grade and school year enrolled on the
  pseudo start date (the served students' median start in the cell), whose first
  start of the type (if any) came after their outcome was known; the pseudo start
  describes both sides as of comparable dates.

For every row, as of the latest checkpoint on or before the (pseudo) start: the rule
status of the grade at that checkpoint (readiness in grade 8, on-track in grade 9) and
every criterion's value, computed by ``ontrack.indicators`` itself; the latest risk
score on or before the start from ``OUT/history/scores.parquet`` when it exists; and
the outcome, on track at the end of 9th grade, from the same labels the models learn
(``ontrack.dataset.labels``: indicators over the 9th-grade year, retention counted as
not on track, NaN while the 9th-grade year is still open or the student left).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.dataset.budget import BoundedFrames, chunk_rows, in_chunks
from ontrack.dataset.labels import build_labels
from ontrack.frames import distinct_rows
from ontrack.indicators import checkpoint_dates, indicators_as_of, school_year_of
from ontrack.validation.store import provided_tables

# criterion -> its value column in the indicators' student table
VALUE_COLUMNS: dict[str, str] = {
    "gpa": "gpa",
    "attendance": "attendance_rate",
    "df_ela_math": "df_ela_math",
    "suspensions": "suspensions",
    "credits": "credits_earned",
    "core_semester_fs": "core_semester_fs",
}
# The rule a grade's status comes from.
GRADE_RULE: dict[int, str] = {8: "hs_readiness_8", 9: "on_track_9"}
NO_RULE = "no_rule"
HISTORY = Path("history") / "scores.parquet"


def first_starts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """Each student's first start of each intervention type, placed in a grade-year.

    None when the district provided no ``interventions`` table. The grade, school and
    school year are those of the latest enrollment entered on or before the start.
    """
    if "interventions" not in provided_tables(con):
        return None
    frame = con.execute(
        """
        WITH firsts AS (
            SELECT student_id, intervention_type, min(start_date) AS start_date
            FROM interventions GROUP BY ALL
        )
        SELECT f.student_id, f.intervention_type, f.start_date,
               arg_max(e.school_year, e.entry_date) AS school_year,
               arg_max(e.grade_level, e.entry_date) AS grade_level,
               arg_max(e.school_id, e.entry_date) AS school_id
        FROM firsts f
        LEFT JOIN enrollments e
          ON e.student_id = f.student_id AND e.entry_date <= f.start_date
        GROUP BY ALL
        """
    ).df()
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    return frame


def _grade_years(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every student-year's grade and school (the latest enrollment spell of the year)."""
    return con.execute(
        """
        SELECT e.student_id, e.school_year,
               arg_max(e.grade_level, (e.entry_date, e.grade_level)) AS grade_level,
               arg_max(e.school_id, (e.entry_date, e.grade_level)) AS school_id,
               arg_max(s.district_id, (e.entry_date, e.grade_level)) AS district_id
        FROM enrollments e LEFT JOIN schools s ON s.school_id = e.school_id
        GROUP BY ALL
        """
    ).df()


def study_rows(con: duckdb.DuckDBPyConnection, starts: pd.DataFrame) -> pd.DataFrame:
    """Served and not-served rows per (type, grade, school year) cell with served students.

    Columns: intervention_type, student_id, served, start_date (pseudo for not served),
    school_year, grade_level, school_id, district_id. The rule excluding not-served
    students served later is applied once outcomes are known (:func:`build_study`).
    """
    placed = starts.dropna(subset=["school_year", "grade_level"]).astype(
        {"school_year": "int64", "grade_level": "int64"})
    grades = _grade_years(con).astype({"school_year": "int64", "grade_level": "int64"})
    cells = ["intervention_type", "grade_level", "school_year"]
    typical = placed.groupby(cells)["start_date"].median().dt.normalize().rename("pseudo")
    served = placed.merge(grades[["student_id", "school_year", "district_id"]],
                          on=["student_id", "school_year"], how="left").assign(served=True)
    pool = typical.reset_index().merge(grades, on=["grade_level", "school_year"])
    pool = pool.merge(served[["intervention_type", "student_id", "school_year"]].assign(x=1),
                      on=["intervention_type", "student_id", "school_year"], how="left")
    others = pool[pool["x"].isna()].drop(columns="x").rename(columns={"pseudo": "start_date"})
    others = _enrolled_on_start(con, others).assign(served=False)
    columns = ["intervention_type", "student_id", "served", "start_date", "school_year",
               "grade_level", "school_id", "district_id"]
    rows = pd.concat([served[columns], others[columns]], ignore_index=True)
    rows = rows.astype({"student_id": "str", "served": "bool"})
    # One order whatever order DuckDB returned: the bootstrap draws rows by position.
    order = ["intervention_type", "school_year", "grade_level", "served", "student_id"]
    return rows.sort_values(order, kind="stable").reset_index(drop=True)


def _enrolled_on_start(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> pd.DataFrame:
    """Keep the rows whose student was enrolled on their start date (a spell covering
    it): a student who had left, or not yet arrived, could not have been served."""
    con.register("_impact_rows", rows[["student_id", "school_year", "start_date"]])
    try:
        present = con.execute(
            """
            SELECT DISTINCT r.student_id, r.school_year, r.start_date FROM _impact_rows r
            JOIN enrollments e ON e.student_id = r.student_id
             AND e.school_year = r.school_year
             AND e.entry_date <= CAST(r.start_date AS DATE)
             AND (e.exit_date IS NULL OR e.exit_date >= CAST(r.start_date AS DATE))
            """
        ).df()
    finally:
        con.unregister("_impact_rows")
    present = present.assign(start_date=pd.to_datetime(present["start_date"]), keep=True)
    kept = rows.merge(present, on=["student_id", "school_year", "start_date"], how="left")
    return kept[kept["keep"].notna()].drop(columns="keep")


def latest_on_or_before(config: Config, district_id: str | None, day: date,
                        month_days: tuple[str, ...] | None = None) -> date | None:
    """The latest checkpoint (or given MM-DD) on or before ``day`` in its district's calendar."""
    rules = config.rules_for(district_id)
    if month_days is not None:
        rules = rules.model_copy(update={"checkpoints": month_days})
    year = school_year_of(rules, day)
    found = [d for y in (year - 1, year) for d in checkpoint_dates(rules, y) if d <= day]
    return max(found) if found else None


def checkpoints_before(config: Config, rows: pd.DataFrame, days: pd.Series,
                       month_days: tuple[str, ...] | None = None) -> pd.Series:
    """:func:`latest_on_or_before` for every row (its district, its day in ``days``),
    worked out once per distinct (district, day): thousands of rows share a few dates."""
    keys = [(d if isinstance(d, str) else None, s.date())
            for d, s in zip(rows["district_id"], days, strict=True)]
    found = {key: latest_on_or_before(config, *key, month_days) for key in set(keys)}
    return pd.Series([found[key] for key in keys], index=rows.index, dtype="datetime64[ns]")


def wide_values(long: pd.DataFrame) -> pd.DataFrame:
    """Per (student, school year, as-of date) of ``long`` (rows of
    :func:`ontrack.indicators.indicators_as_of`): the grade then, ``rule_status`` of the
    grade's rule and every value column (the first known across the indicators' rows)."""
    keys = ["student_id", "school_year", "as_of_date", "grade_level"]
    values = long.groupby(keys)[list(VALUE_COLUMNS.values())].first()
    rule = long.assign(wanted=long["grade_level"].map(GRADE_RULE))
    rule = rule[rule["indicator"] == rule["wanted"]].set_index(keys)["status"]
    wide = values.join(rule.rename("rule_status")).reset_index()
    wide["rule_status"] = wide["rule_status"].astype("object").where(
        wide["grade_level"].isin(list(GRADE_RULE)), NO_RULE)
    wide["as_of_grade"] = wide.pop("grade_level").astype("Int64")
    return wide.astype({"student_id": "str", "school_year": "int64",
                        "as_of_date": "datetime64[ns]"})


def _asked(config: Config, rows: pd.DataFrame, dates: pd.Series) -> pd.DataFrame:
    """Each row with a date: its student, the date, and the school year the date falls
    in under its district's calendar (worked out once per distinct district and day)."""
    asked = pd.DataFrame({"student_id": rows["student_id"].astype("str"),
                          "as_of_date": pd.to_datetime(dates).astype("datetime64[ns]"),
                          "district": rows["district_id"].fillna("")}, index=rows.index)
    asked = asked.dropna(subset=["as_of_date"])
    pairs = asked[["district", "as_of_date"]].drop_duplicates()
    years = {(district, day): school_year_of(config.rules_for(district or None), day.date())
             for district, day in zip(pairs["district"], pairs["as_of_date"], strict=True)}
    asked["school_year"] = [years[key] for key in zip(asked["district"], asked["as_of_date"],
                                                      strict=True)]
    return asked.drop(columns="district").astype({"school_year": "int64"})


def values_as_of(con: duckdb.DuckDBPyConnection, config: Config, rows: pd.DataFrame,
                 dates: pd.Series, cache: dict | BoundedFrames | None = None) -> pd.DataFrame:
    """Each row's criteria and rule status as of its date in ``dates`` (NaT: unknown).

    Computed by :func:`ontrack.indicators.indicators_as_of` for these rows' students
    only, each as of its own date and within that date's school year, at most
    :func:`~ontrack.dataset.budget.chunk_rows` of them at a time: the study never holds
    a whole district's indicators. ``cache`` (kept by the caller) holds each (date,
    school year)'s values computed so far, so the pre-start checkpoint and a cutoff's
    ``as_of`` that fall on the same day are computed once.
    """
    columns = [*VALUE_COLUMNS.values(), "rule_status", "as_of_grade"]
    asked = _asked(config, rows, dates)
    keys = ["student_id", "as_of_date", "school_year"]
    known, missing = [], []
    for (day, year), group in asked.groupby(keys[1:], sort=True):
        wanted = group["student_id"].drop_duplicates()
        if cache is not None and (day, year) in cache:
            kept = cache[(day, year)]
            known.append(kept)
            wanted = wanted[~wanted.isin(kept["student_id"])]
        missing.append(pd.DataFrame({"student_id": wanted, "as_of_date": day, "school_year": year}))
    missing = pd.concat(missing, ignore_index=True) if missing else pd.DataFrame()
    if len(missing):  # kept with or without values: a student not enrolled then is asked once
        fresh = missing.merge(_computed(con, config, missing), on=keys, how="left")
        for (day, year), found in (fresh.groupby(keys[1:], sort=False) if cache is not None else ()):
            kept = cache[(day, year)] if (day, year) in cache else None
            cache[(day, year)] = found if kept is None else pd.concat([kept, found], ignore_index=True)
        known.append(fresh)
    if not known:
        return pd.DataFrame(index=rows.index, columns=columns)
    values = pd.concat(known, ignore_index=True).drop_duplicates(keys)
    found = asked.rename_axis("row").reset_index().merge(values, on=keys, how="left")
    found = found.set_index("row").reindex(rows.index)
    found["rule_status"] = found["rule_status"].fillna("unknown")
    return found[columns]


def _computed(con: duckdb.DuckDBPyConnection, config: Config, asked: pd.DataFrame) -> pd.DataFrame:
    """:func:`wide_values` of the asked (student, school year, as-of date) rows, computed
    :func:`~ontrack.dataset.budget.chunk_rows` rows at a time."""
    have = provided_tables(con)
    return in_chunks(asked, chunk_rows(config), lambda chunk: wide_values(
        indicators_as_of(con, config, chunk, provided=have)))


def history_risk(out_dir: Path, rows: pd.DataFrame, dates: pd.Series,
                 model: str | None = None) -> pd.Series:
    """The latest calibrated risk on or before each row's date (NaN without history).

    From ``OUT/history/scores.parquet`` (CONTRACT §4), any model unless ``model`` is
    named; a history that is absent or unreadable gives NaN throughout.
    """
    path = Path(out_dir) / HISTORY
    empty = pd.Series(np.nan, index=rows.index, dtype="float64")
    if not path.exists():
        return empty
    history = pd.read_parquet(path, columns=["student_id", "model", "as_of_date", "risk"])
    history = history.dropna(subset=["risk"])
    if model is not None:
        history = history[history["model"] == model]
    if history.empty:
        return empty
    history = history.assign(student_id=history["student_id"].astype("str"),
                             as_of_date=pd.to_datetime(history["as_of_date"]).astype("datetime64[ns]"))
    probe = pd.DataFrame({"student_id": rows["student_id"].astype("str"),
                          "day": pd.to_datetime(dates).astype("datetime64[ns]"), "row": rows.index})
    probe = probe.dropna(subset=["day"]).sort_values("day")
    merged = pd.merge_asof(probe, history.sort_values("as_of_date"), left_on="day",
                           right_on="as_of_date", by="student_id", direction="backward")
    return merged.set_index("row")["risk"].astype("float64").reindex(rows.index)


def outcomes(con: duckdb.DuckDBPyConnection, config: Config, rows: pd.DataFrame) -> pd.DataFrame:
    """On track at the end of 9th grade (1.0 / 0.0 / NaN) and when that became known."""
    columns = ["student_id", "start_date", "school_year", "school_id", "district_id", "grade_level"]
    # A student served with two types from one date is one label, built once.
    asked = rows[columns]
    same, first = distinct_rows(asked)
    cohort = asked.iloc[first].rename(columns={"start_date": "as_of_date"})
    labels = build_labels(con, cohort.set_index(["student_id", "as_of_date"]), config,
                          label="off_track_9", chunk_rows=chunk_rows(config))
    return pd.DataFrame({"on_track_9": 1.0 - labels["label"].to_numpy()[same],
                         "outcome_known": labels["window_end"].to_numpy()[same]}, index=rows.index)


def build_study(con: duckdb.DuckDBPyConnection, config: Config, out_dir: Path,
                types: Collection[str] | None = None,
                cache: dict | BoundedFrames | None = None) -> pd.DataFrame | None:
    """Every served and not-served row with its pre-start values, risk and outcome.

    None when there is no ``interventions`` table; ``types`` keeps only those
    intervention types. Not-served students whose own first start of the type came on
    or before their outcome was known, and served students who started after it, are
    dropped: neither is a clean comparison.
    """
    starts = first_starts(con)
    if starts is None:
        return None
    if types is not None:
        starts = starts[starts["intervention_type"].isin(list(types))]
    rows = study_rows(con, starts)
    if rows.empty:
        return rows
    checkpoints = checkpoints_before(config, rows, rows["start_date"])
    rows = rows.join(values_as_of(con, config, rows, checkpoints, cache))
    rows["checkpoint"] = checkpoints
    rows["risk"] = history_risk(out_dir, rows, rows["start_date"])
    rows = rows.join(outcomes(con, config, rows))
    first = starts.set_index(["intervention_type", "student_id"])["start_date"]
    own = pd.Series(first.reindex(pd.MultiIndex.from_frame(
        rows[["intervention_type", "student_id"]])).to_numpy(), index=rows.index)
    known = pd.to_datetime(rows["outcome_known"])
    late_control = ~rows["served"] & own.notna() & (own <= known)
    late_served = rows["served"] & (rows["start_date"] > known)
    return rows[~(late_control | late_served)].reset_index(drop=True)
