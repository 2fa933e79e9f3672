"""Labels: what happened to each cohort row after its as-of date (y, 1 = bad outcome).

Two labels (CONTRACT §3), each with a *window* that must have closed by the data's end
date before the label exists (else NaN, outcome ``window_open``):

``off_track_9``
    1 if the student was NOT on track at the end of 9th grade, by the indicators'
    ``on_track_9`` over the whole 9th-grade year (``ontrack.indicators``; never
    re-implemented here). Unknown on-track status gives NaN.
``not_graduated_4yr``
    1 if the student did not graduate within 4 school years of starting 9th grade
    (the first school year enrolled in grade 9; for an 8th grader the next year; for a
    10th-12th grader with no 9th-grade year in the data, the year its grade implies),
    from ``outcomes``. Transfers out before the deadline are excluded (NaN), not
    failures; ``still_enrolled`` and unknown outcomes follow :class:`LabelPolicy`.

One worked example, carried through this module: student 00017 is an 8th grader at
the as-of date 2023-10-31 (school year 2024; Jul 1 calendar; data ending 2029-06-30).

- ``off_track_9``: 00017 is in grade 9 in 2025, so the label is ``on_track_9`` of
  school year 2025; its window closes 2025-06-30 (the end of that year). Had 00017
  been in 8th grade again in 2025, that is a retention (``retained_in_grade_8``,
  positive by default); had 00017 not been enrolled in 2025, NaN
  (``not_enrolled_next_year``: the district cannot know).
- ``not_graduated_4yr``: 00017 is expected to start 9th grade in 2025 (a 9th grader's
  start is the first school year enrolled in grade 9), so the deadline is the end of
  school year 2028: 2028-06-30 <= 2029-06-30, the window is closed. Graduated on
  2028-06-05: 0. Graduated 2028-08-10 (summer): 1 (``graduated_late``). Transferred
  out 2026-02-01: NaN. Still enrolled: 1 under the default policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ontrack.dataset.asof import data_end_date, scoped
from ontrack.dataset.budget import in_chunks
from ontrack.config import Config, LabelPolicy
from ontrack.model_settings import LABEL_GRADES
from ontrack.errors import ConfigError
from ontrack.indicators import student_indicators
from ontrack.validation.store import provided_tables

LABELS: tuple[str, ...] = tuple(LABEL_GRADES)  # off_track_9, not_graduated_4yr
# The tables each label is built from, beyond enrollments and the indicators.
LABEL_NEEDS: dict[str, tuple[str, ...]] = {"off_track_9": (), "not_graduated_4yr": ("outcomes",)}
LABEL_COLUMNS: tuple[str, ...] = ("school_year", "label", "outcome", "window_end")
YEARS_TO_GRADUATE = 4
_VALUE: dict[str, float] = {"positive": 1.0, "negative": 0.0, "exclude": np.nan}


def can_build(label: str, grade: int, provided: Iterable[str]) -> bool:
    """Whether ``label`` is an honest prediction for a ``grade`` population
    (``LABEL_GRADES``) and the provided tables hold what it needs.

    >>> can_build("off_track_9", 10, {"students"}), can_build("not_graduated_4yr", 10, {"outcomes"})
    (False, True)
    """
    low, high = LABEL_GRADES[label]
    return low <= grade <= high and set(LABEL_NEEDS[label]) <= set(provided)


def default_label(labels: Sequence[str], provided: Iterable[str]) -> str:
    """The first of a model's declared ``labels`` (in preference order) that the
    provided tables allow: graduation needs ``outcomes`` (CONTRACT §3).

    Examples
    --------
    >>> default_label(("not_graduated_4yr", "off_track_9"), {"students", "outcomes"})
    'not_graduated_4yr'
    >>> default_label(("not_graduated_4yr", "off_track_9"), {"students"})
    'off_track_9'
    """
    have = set(provided)
    for label in labels:
        if set(LABEL_NEEDS[label]) <= have:
            return label
    needs = "; ".join(f"{n} needs {', '.join(LABEL_NEEDS[n])}" for n in labels)
    raise ConfigError(
        f"one of the labels {', '.join(labels)} must be buildable from the tables "
        f"provided ({needs}). Got {', '.join(sorted(have)) or 'no tables'} instead."
    )


def build_labels(
    con: duckdb.DuckDBPyConnection,
    cohort: pd.DataFrame,
    config: Config,
    *,
    label: str = "off_track_9",
    policy: LabelPolicy | None = None,
    data_end: date | None = None,
    chunk_rows: int | None = None,
) -> pd.DataFrame:
    """The label of every cohort row, with the reason and the window's closing date.

    Parameters
    ----------
    con : connection with the validated tables as views (``open_validated``).
    cohort : indexed (student_id, as_of_date), as from ``build_cohort``.
    config : district rules (calendars, on-track thresholds).
    label : ``off_track_9`` or ``not_graduated_4yr``.
    policy : treatment of still-enrolled / unknown outcomes and retentions.
    data_end : the date the data runs to (default: the latest date in the data).
    chunk_rows : build the labels this many cohort rows at a time (default: all at
        once). Each row's label reads only its own student's records, so the result is
        the same for any size; a smaller one holds less in memory (and asks DuckDB for
        fewer students at a time).

    Returns
    -------
    DataFrame indexed like ``cohort`` with ``school_year`` (the cohort row's),
    ``label`` (1.0 bad outcome, 0.0 good, NaN no label), ``outcome`` (the reason, e.g.
    ``graduated_on_time``, ``window_open``) and ``window_end`` (when the label became
    knowable). ``y = labels["label"].dropna()``.
    """
    if label not in LABELS:
        raise ConfigError(
            f"label must be one of {', '.join(LABELS)}. Got {label!r} instead."
        )
    policy = policy or config.label
    end = data_end if data_end is not None else data_end_date(con)
    size = max(1, chunk_rows or len(cohort))
    out = in_chunks(cohort, size, lambda chunk: _label_chunk(con, chunk, config, label, policy, end))
    out.index = cohort.index
    return out


def _label_chunk(con: duckdb.DuckDBPyConnection, cohort: pd.DataFrame, config: Config,
                 label: str, policy: LabelPolicy, end: date | None) -> pd.DataFrame:
    """``build_labels`` of some cohort rows: the queries read only their students."""
    rows = cohort.reset_index()
    if label == "off_track_9":
        out = _off_track_9(con, rows, config, policy)
    else:
        out = _not_graduated(con, rows, config, policy)
    if end is None:  # nothing dated: no window can be known to have closed
        still_open = out["window_end"].notna()
    else:
        still_open = out["window_end"] > pd.Timestamp(end)
    out.loc[still_open, "outcome"] = "window_open"
    out.loc[still_open, "label"] = np.nan
    return out[list(LABEL_COLUMNS)]


@contextmanager
def _students(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> Iterator[str]:
    """The distinct ``ids`` as a relation queries can filter on (its SQL name)."""
    name = "__ontrack_label_students"
    con.register(name, pd.DataFrame({"student_id": pd.Series(ids, dtype="str").unique()}))
    try:
        yield name
    finally:
        con.unregister(name)


def _year_end(rows: pd.DataFrame, years: pd.Series, config: Config) -> pd.Series:
    """End of school year ``years`` per row, on the row's district calendar (computed
    once per district and year, not per row)."""
    keys = pd.DataFrame({"district": rows["district_id"].to_numpy(),
                         "year": pd.Series(years).to_numpy(dtype="float64")})
    ends = np.full(len(keys), np.datetime64("NaT"), dtype="datetime64[ns]")
    for (district, year), at in keys.groupby(["district", "year"], dropna=True).indices.items():
        ends[at] = np.datetime64(config.rules_for(district).year_end(int(year)), "ns")
    return pd.Series(ends, index=rows.index, dtype="datetime64[ns]")


def _grades_by_year(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> pd.DataFrame:
    """Each student-year's grade of the students ``ids``: that of its latest enrollment
    spell (two spells that start the same day: the higher grade, so the answer never
    depends on row order)."""
    with _students(con, ids) as students:
        frame = con.execute(
            "SELECT student_id, school_year, "
            "arg_max(grade_level, (entry_date, grade_level)) AS grade FROM main.enrollments "
            f"WHERE student_id IN (SELECT student_id FROM {students}) GROUP BY ALL"
        ).df()
    return frame.astype({"student_id": "str", "school_year": "int64", "grade": "int64"})


def _off_track_9(
    con: duckdb.DuckDBPyConnection,
    rows: pd.DataFrame,
    config: Config,
    policy: LabelPolicy,
) -> pd.DataFrame:
    grades = _grades_by_year(con, rows["student_id"])
    nxt = rows[["student_id"]].assign(school_year=rows["school_year"] + 1)
    keys = ["student_id", "school_year"]
    # Plain arrays below: a dozen masked assignments to Series cost more than the rest.
    next_grade = nxt.merge(grades, on=keys, how="left")["grade"].to_numpy("float64")
    year = rows["school_year"].to_numpy(dtype="float64")
    nine, eight = (rows["grade_level"].to_numpy() == g for g in (9, 8))
    moves_on = eight & (next_grade == 9)
    target = np.full(len(rows), np.nan)
    target[nine] = year[nine]
    target[moves_on] = year[moves_on] + 1
    years = sorted({int(y) for y in target[~np.isnan(target)]})
    status = pd.DataFrame({"student_id": pd.Series(dtype="str"), "target": pd.Series(
        dtype="float64"), "status": pd.Series(dtype="str")})
    if years:
        have = provided_tables(con)
        with scoped(con, rows["student_id"], years):  # same results, less work
            found = student_indicators(con, config, school_years=years, provided=have,
                                       indicators=("on_track_9",))
        status = pd.DataFrame(
            {
                "student_id": found["student_id"].astype("str"),
                "target": found["school_year"].astype("float64"),
                "status": found["status"].astype("str"),
            }
        )
    keyed = pd.DataFrame({"student_id": rows["student_id"], "target": target})
    looked = keyed.merge(status, on=["student_id", "target"], how="left")["status"]
    met, not_met = (looked.to_numpy("object") == s for s in ("met", "not_met"))
    label = np.where(met, 0.0, np.where(not_met, 1.0, np.nan))
    outcome = np.full(len(rows), "on_track_unknown", dtype="object")
    outcome[met], outcome[not_met] = "on_track", "off_track"
    retained = eight & (next_grade <= 8)
    label[retained] = _VALUE[policy.retained_in_grade_8]
    outcome[retained] = "retained_in_grade_8"
    target[retained] = year[retained] + 1
    gone = eight & np.isnan(next_grade)
    outcome[gone] = "not_enrolled_next_year"
    target[gone] = year[gone] + 1
    skipped = eight & (next_grade >= 10)
    outcome[skipped] = "skipped_grade_9"
    other = ~(nine | eight)
    outcome[other] = "not_applicable"
    label[gone | skipped | other] = np.nan
    return pd.DataFrame(
        {
            "school_year": rows["school_year"],
            "label": pd.Series(label, index=rows.index),
            "outcome": pd.Series(outcome, index=rows.index, dtype="object"),
            "window_end": _year_end(rows, target, config),
        }
    )


def _not_graduated(
    con: duckdb.DuckDBPyConnection,
    rows: pd.DataFrame,
    config: Config,
    policy: LabelPolicy,
) -> pd.DataFrame:
    grades = _grades_by_year(con, rows["student_id"])
    ninth = grades[grades["grade"] == 9]
    first9 = ninth.groupby("student_id", as_index=False)["school_year"].min()
    start = rows[["student_id"]].merge(first9, on="student_id", how="left")
    start = start["school_year"]
    start = pd.Series(start.to_numpy(dtype="float64"), index=rows.index)
    # A 10th-12th grader whose 9th-grade year is not in the data (moved in later) is
    # placed in the cohort its grade implies, as the adjusted cohort rate does.
    grade = rows["grade_level"]
    implied = (rows["school_year"] - (grade - 9)).astype("float64")
    upper = grade.between(10, 12)
    start[upper & (start.isna() | (start > rows["school_year"]))] = implied
    start[grade == 8] = rows["school_year"] + 1
    start[~grade.between(8, 12)] = np.nan
    deadline = _year_end(rows, start + YEARS_TO_GRADUATE - 1, config)
    with _students(con, rows["student_id"]) as students:
        outcomes = con.execute(
            "SELECT student_id, outcome, outcome_date FROM main.outcomes "
            f"WHERE student_id IN (SELECT student_id FROM {students})"
        ).df()
    outcomes = outcomes.astype({"student_id": "str"})
    found = rows[["student_id"]].merge(outcomes, on="student_id", how="left")
    what = found["outcome"].to_numpy(dtype="object")
    when = pd.to_datetime(found["outcome_date"]).to_numpy(dtype="datetime64[ns]")
    on_time = when <= deadline.to_numpy()  # False for an unknown date, as in pandas
    label = np.full(len(rows), _VALUE[policy.unknown], dtype="float64")
    reason = np.full(len(rows), "unknown_outcome", dtype="object")
    late = _VALUE[policy.still_enrolled]
    cases = (
        ((what == "graduated") & on_time, 0.0, "graduated_on_time"),
        ((what == "graduated") & ~on_time, 1.0, "graduated_late"),
        (what == "dropped_out", 1.0, "dropped_out"),
        ((what == "transferred_out") & on_time, np.nan, "transferred_out"),
        ((what == "transferred_out") & ~on_time, late, "still_enrolled_at_deadline"),
        (what == "still_enrolled", late, "still_enrolled"),
    )
    for mask, value, text in cases:
        label[mask] = value
        reason[mask] = text
    no_start = start.isna().to_numpy()
    label[no_start] = np.nan
    reason[no_start] = "not_applicable"
    return pd.DataFrame(
        {
            "school_year": rows["school_year"],
            "label": pd.Series(label, index=rows.index),
            "outcome": pd.Series(reason, index=rows.index, dtype="object"),
            "window_end": deadline,
        }
    )
