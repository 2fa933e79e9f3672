"""Alerts from the data, not the model: what changed for a student since the last run.

In the spirit of Somerville's Student Insights, three alerts, listed at the top of each
roster as "new since last run":

- *absences rose*: over the student's last 30 instructional days (daily attendance,
  up to the as-of date) the absence rate is at least ``scoring.absence_rise_points``
  above, and ``scoring.absence_rise_ratio`` times, their own rate on the earlier days
  of the school year (at least 10 earlier days needed). The school year starts on the
  student's own district's ``school_year_start``: one data directory may hold districts
  with different calendars;
- *new failing mark*: more failing core-course marks known now than at the last run;
- *new suspension*: more suspensions this year than at the last run.

The last two compare with the previous run's rows of the risk history
(``OUT/history/scores.parquet``, :mod:`ontrack.scoring.history`), so a new run on
unchanged data raises none of them. The absence alert is
shown when first raised and only again after it has cleared, for the same reason.
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ontrack.config import ScoringConfig
from ontrack.indicators import ABSENT_STATUSES

RECENT_DAYS = 30
MIN_EARLIER_DAYS = 10


def absence_rise(
    con: duckdb.DuckDBPyConnection, students: pd.Series, as_of: date, year_start: date | pd.Series,
    settings: ScoringConfig,
) -> pd.DataFrame:
    """Per student (in order): ``absence_alert`` (absences rose over the last 30
    instructional days, see module) and ``recent_absence_rate``.

    ``year_start`` is the first day of each student's school year: a Series aligned with
    ``students`` (each district has its own calendar), or one date for all of them.
    Attendance before it belongs to an earlier year and is not compared.
    """
    starts = [year_start] * len(students) if isinstance(year_start, date) else list(year_start)
    if len(starts) != len(students):
        raise ValueError(
            f"year_start must hold one date per student ({len(students)}). "
            f"Got {len(starts)} instead."
        )
    pairs = pd.DataFrame(
        {"student_id": students.astype(str).to_numpy(), "year_start": pd.to_datetime(starts).normalize()}
    )
    if pairs["year_start"].isna().any():
        raise ValueError("year_start must be a date for every student. Got missing dates instead.")
    key = pairs.groupby(["student_id", "year_start"], sort=False).ngroup().to_numpy()
    con.register("__ontrack_alert_students", pairs.assign(key=key).drop_duplicates("key"))
    absent = ", ".join(f"'{s}'" for s in ABSENT_STATUSES)
    try:
        frame = con.execute(
            f"""
            WITH days AS (
                SELECT s.key, a.date, a.status IN ({absent}) AS absent,
                       row_number() OVER (PARTITION BY s.key ORDER BY a.date DESC) AS back
                FROM main.attendance a
                JOIN __ontrack_alert_students s ON s.student_id = a.student_id
                WHERE a.date <= DATE '{as_of.isoformat()}' AND a.date >= CAST(s.year_start AS DATE)
            )
            SELECT key,
                   avg(CASE WHEN absent THEN 1.0 ELSE 0.0 END) FILTER (WHERE back <= {RECENT_DAYS}) AS recent,
                   avg(CASE WHEN absent THEN 1.0 ELSE 0.0 END) FILTER (WHERE back > {RECENT_DAYS}) AS earlier,
                   count(*) FILTER (WHERE back > {RECENT_DAYS}) AS earlier_days
            FROM days GROUP BY key
            """
        ).df()
    finally:
        con.unregister("__ontrack_alert_students")
    frame = frame.set_index("key").reindex(key)
    rose = (
        (frame["earlier_days"] >= MIN_EARLIER_DAYS)
        & (frame["recent"] >= frame["earlier"] + settings.absence_rise_points)
        & (frame["recent"] >= frame["earlier"] * settings.absence_rise_ratio)
    )
    return pd.DataFrame(
        {
            "absence_alert": rose.fillna(False).to_numpy(dtype=bool),
            "recent_absence_rate": frame["recent"].to_numpy(dtype="float64"),
        },
        index=students.index,
    )


def alert_texts(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.Series:
    """The "; "-joined alerts of each student (empty string for none).

    ``current`` and ``previous`` are indexed by student_id with columns ``school_year``,
    ``failing_core`` and ``suspensions`` (counts so far this year), ``absence_alert``
    (bool) and ``recent_absence_rate``; ``previous`` is None on the first run.
    """
    texts = [[] for _ in range(len(current))]
    if previous is not None:
        before = previous.reindex(current.index)
        same_year = before["school_year"].to_numpy() == current["school_year"].to_numpy()
        for column, words in (("failing_core", "new failing mark in a core course"),
                              ("suspensions", "new suspension")):
            now = current[column].fillna(0).to_numpy()
            then = np.where(same_year, before[column].fillna(0).to_numpy(), 0)
            for i in np.flatnonzero(now > then):
                texts[i].append(words)
        was_raised = before["absence_alert"].fillna(False).to_numpy(dtype=bool) & same_year
    else:
        was_raised = np.zeros(len(current), dtype=bool)
    recent = current["recent_absence_rate"].to_numpy()
    for i in np.flatnonzero(current["absence_alert"].to_numpy(dtype=bool) & ~was_raised):
        texts[i].insert(0, f"absences rose: absent {recent[i]:.0%} of the last {RECENT_DAYS} school days")
    return pd.Series(["; ".join(t) for t in texts], index=current.index, name="alerts")
