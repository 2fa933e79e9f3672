"""One school's rostered students' records, gathered in bulk for their profile pages.

Read only. The rows of a batch of rostered students (every year, every school they
attended) are copied into a small in-memory DuckDB database, and everything else (the
rule's criteria at each checkpoint, attendance by month) is computed there, so a page
costs no query of its own. Scoring writes pages a group of schools at a time:
:func:`warm_criteria` copies the group's rows out of the validated tables once (a DuckDB
file holding the tables a page shows) and computes their criteria and attendance months
once; the batches then read their students' rows of that file in place. Nothing here
holds the district's rows or indicators, so memory grows with a group, not the district.

The criteria over time come from the indicators' own as-of computation
(:func:`ontrack.indicators.student_indicators` at every checkpoint of every school year
on record, up to the data's end), never from a copy of the rules. Every record on file is
shown, also those dated after the run's as-of date: the team reads the page to act today
(a support started since the checkpoint belongs on it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.dataset.asof import data_end_date
from ontrack.frames import distinct_rows
from ontrack.indicators import ATTENDED_STATUSES, checkpoint_dates, student_indicators
from ontrack.resources import apply, temp_directory
from ontrack.scoring.history import history_path
from ontrack.scoring.indicator_points import data_identity, points_in_one_pass
from ontrack.scoring.profile_rows import grouped, shared_rows
from ontrack.tables import SCHEMAS
from ontrack.validation.checks import ident, literal
from ontrack.validation.run import connect
from ontrack.validation.store import open_validated, provided

# The tables a profile shows (daily attendance only as months, see _attendance_months;
# enrollments and student years only through the criteria).
PROFILE_TABLES: tuple[str, ...] = (
    "students", "attendance_summary", "course_marks", "discipline", "assessments", "caseloads", "interventions",
)
# The columns a page reads of each table (with student_id): building the others' values
# for every row of a batch cost a fifth of gathering.
SHOWN_COLUMNS: dict[str, tuple[str, ...]] = {
    "students": ("first_name", "last_name"),
    "attendance_summary": ("school_id", "school_year", "days_enrolled", "days_absent", "period_end_date"),
    "course_marks": ("school_year", "term", "course_id", "course_name", "subject", "mark", "is_final",
                     "credits_attempted", "credits_earned"),
    "discipline": ("incident_date", "action", "incident_type", "days"),
    "assessments": ("school_year", "subject", "test_name", "scale_score", "performance_level", "grade_level",
                    "test_date"),
    "caseloads": ("staff_id", "staff_name", "school_year"),
    "interventions": ("intervention_type", "start_date", "end_date", "tier", "domain", "staff_id"),
    # The rule's criteria at each checkpoint (see reports/profiles.py CRITERION_COLUMNS).
    "criteria": ("as_of_date", "school_year", "indicator", "grade_level", "status",
                 "unknown_criteria", "gpa", "gpa_ok", "attendance_rate", "attendance_ok", "df_ela_math", "df_ok",
                 "suspensions", "suspension_ok", "credits_earned", "credits_ok", "core_semester_fs", "fs_ok"),
    "history": ("as_of_date", "model", "model_version", "ranked_by", "risk", "risk_tier", "rule_status"),
}
# The tables whose equal rows are one shared dict (:func:`ontrack.scoring.profile_rows.shared_rows`).
SHARED_ROWS = frozenset({"course_marks"})
_ATTENDED = " OR ".join(f"status = {literal(s)}" for s in ATTENDED_STATUSES)


@dataclass(frozen=True)
class SchoolRecords:
    """Every table's rows of some rostered students, as plain dicts grouped per student
    (a page reads its rows without touching pandas: slicing frames per student cost
    more than rendering)."""

    rows: dict[str, dict[str, list[dict]]]  # table -> student_id -> rows
    provided: frozenset[str]
    through: date  # the data's end: the last checkpoint shown is on or before it

    def of(self, name: str, student_id: str) -> list[dict]:
        """The rows of ``name`` (a table, or ``criteria``: the indicators at each
        checkpoint, ``attendance_months``, ``history``) for one student."""
        return self.rows[name].get(student_id, [])


def data_end(out_dir: Path | str, config: Config) -> date | None:
    """The latest date recorded anywhere in the validated data (one scan per run)."""
    con = open_validated(out_dir, config)
    try:
        return data_end_date(con)
    finally:
        con.close()


def contribution_rows(contributions: pd.DataFrame | None, base_value: float | None,
                       roster: pd.DataFrame) -> dict[str, dict]:
    """Per student: the base value and each feature's contribution (log-odds).

    ``contributions`` has a ``student_id`` column or index level, or is indexed like
    ``roster`` (as :class:`ontrack.scoring.run.ScoreResult` hands it over)."""
    if contributions is None or contributions.empty:
        return {}
    frame = contributions.copy()
    if "student_id" in frame.columns:
        ids = frame.pop("student_id").astype(str).to_numpy()
    elif "student_id" in (frame.index.names or []):
        ids = frame.index.get_level_values("student_id").astype(str).to_numpy()
    else:
        ids = roster.loc[frame.index, "student_id"].astype(str).to_numpy()
    base = frame.pop("base_value").to_numpy(dtype=float) if "base_value" in frame.columns else None
    if base is None and base_value is None:
        raise ValueError("contributions must come with a base value (a base_value column or "
                         "argument). Got neither instead.")
    values = frame.to_numpy(dtype=float).tolist()  # Python floats: a page reads each several times
    names = [str(c) for c in frame.columns]
    return {student: {"base": float(base[i]) if base is not None else float(base_value),
                      "features": dict(zip(names, values[i], strict=True))}
            for i, student in enumerate(ids)}


def school_names_of(out_dir: Path) -> dict[str, str]:
    """School id -> name, from the validated schools (empty without them)."""
    path = out_dir / "validated" / "schools.parquet"
    if not path.is_file():
        return {}
    schools = pd.read_parquet(path, columns=["school_id", "school_name"])
    return dict(zip(schools["school_id"].astype(str), schools["school_name"].astype(str), strict=False))


def gather_records(out_dir: Path | str, config: Config, student_ids: Sequence[str], *,
                   through: date) -> SchoolRecords:
    """The records of ``student_ids`` (one school's roster, or several schools') and the
    rule's criteria at every checkpoint up to ``through``.

    Examples
    --------
    >>> gather_records("/nowhere", None, [], through=date(2025, 1, 31))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... must hold the validated tables (run `ontrack validate`). ...
    """
    out_dir = Path(out_dir)
    validated = out_dir / "validated"
    if not (validated / "students.parquet").is_file():
        raise FileNotFoundError(
            f"{validated} must hold the validated tables (run `ontrack validate`). "
            "Got no students.parquet instead."
        )
    have = frozenset(provided(out_dir))
    warm = _warmed(out_dir, config, have, through, [str(s) for s in student_ids])
    con = connect(config)
    try:
        wanted = pd.DataFrame({"student_id": pd.Series(list(student_ids), dtype="string")})
        con.register("_wanted", wanted)
        if warm is not None:  # the group's rows, copied once by warm_criteria: read in place
            con.execute(f"ATTACH {literal(str(warm.database))} AS _group (READ_ONLY)")
        else:  # the criteria are computed here: every table's rows of these students
            _copy_tables(con, validated, have)
        # In a total order: validated files keep no row order (docs/validation.md), and a
        # page lists rows that tie on its own sort key (a W and a mark of one course) as read.
        tables = {name: con.execute(_in_total_order(con, name, group=None if warm is None else "_group")).df()
                  for name in PROFILE_TABLES}
        tables["criteria"] = _shown(_criteria(con, config, have, through) if warm is None else warm.criteria,
                                    "criteria")
        tables["attendance_months"] = _attendance_months(con) if warm is None else warm.months
        tables["history"] = _shown(_history(con, history_path(out_dir)), "history")
    finally:
        con.close()
    return SchoolRecords({name: (shared_rows if name in SHARED_ROWS else grouped)(frame)
                          for name, frame in tables.items()}, have, through)


def _shown(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """``frame`` with only student_id and the columns :data:`SHOWN_COLUMNS` names for
    ``name`` (those it has), rows as they were."""
    return frame[["student_id", *(c for c in SHOWN_COLUMNS[name] if c in frame.columns)]]


def _in_total_order(con: duckdb.DuckDBPyConnection, name: str, *, group: str | None = None) -> str:
    """The query of table ``name``'s rows in the order of all its columns (as ORDER BY
    ALL), only the columns a page shows (:data:`SHOWN_COLUMNS`; building the others'
    values for every row cost a fifth of gathering). ``group``: read the wanted students'
    rows of the attached database of that name (a warm group's copy) instead of ``con``'s
    own table (copying them first was a second pass over them)."""
    source, where = ident(name), ""
    if group is not None:
        source, where = f"{ident(group)}.{ident(name)}", " WHERE student_id IN (SELECT student_id FROM _wanted)"
    shown = SHOWN_COLUMNS.get(name)
    every = [row[0] for row in con.execute(f"SELECT * FROM {source} LIMIT 0").description]
    columns = ", ".join(map(ident, ("student_id", *shown))) if shown else "*"
    return f"SELECT {columns} FROM {source}{where} ORDER BY {', '.join(map(ident, every))}"


def warm_criteria(out_dir: Path | str, config: Config, student_ids: Sequence[str], *, through: date) -> None:
    """Copy the rows of ``student_ids`` (a group of schools' roster) out of the validated
    tables once, into a DuckDB file under the spill folder, and compute their criteria at
    every checkpoint their pages show; keep both (in place of any kept before). Gathering
    the records of any of them then reads that file, not the district's tables, and
    computes no criteria, also in the page writers this process forks next. Never the
    district's: memory and the file grow with the students of the group only."""
    out_dir = Path(out_dir)
    have = frozenset(provided(out_dir))
    forget_criteria()
    ids = list(dict.fromkeys(str(s) for s in student_ids))
    spill = temp_directory(config, out_dir)
    spill.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="profiles-", dir=spill))
    try:
        con = apply(duckdb.connect(str(folder / "group.duckdb")), config, out_dir)
        try:
            con.register("_wanted", pd.DataFrame({"student_id": pd.Series(ids, dtype="string")}))
            # The tables no page shows (daily attendance: most of the rows) only feed the
            # criteria and months computed here: never written to the file the page writers read.
            _copy_tables(con, out_dir / "validated", have, temporary=set(SCHEMAS) - set(PROFILE_TABLES))
            frame = _criteria(con, config, have, through)
            months = _attendance_months(con)
        finally:
            con.close()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _WARM[_warm_key(out_dir, config, have, through)] = _Group(frozenset(ids), frame, folder / "group.duckdb",
                                                              os.getpid(), months)


def forget_criteria() -> None:
    """Drop what :func:`warm_criteria` kept and remove its file (only in the process that
    made it: forked page writers share it until their parent is done)."""
    for group in _WARM.values():
        if group.owner == os.getpid():
            shutil.rmtree(group.database.parent, ignore_errors=True)
    _WARM.clear()


@dataclass(frozen=True)
class _Group:
    """What warm_criteria kept: the students, their criteria rows, the file of their rows,
    their attendance by month."""

    students: frozenset[str]
    criteria: pd.DataFrame
    database: Path
    owner: int  # the process that made the file
    months: pd.DataFrame


# (data identity, through) -> the group warm_criteria kept.
_WARM: dict[tuple, _Group] = {}


def _warm_key(out_dir: Path, config: Config, have: frozenset[str], through: date) -> tuple:
    return data_identity(out_dir, config, have), through


def _warmed(out_dir: Path, config: Config, have: frozenset[str], through: date,
            wanted: Sequence[str]) -> _Group | None:
    """The kept group, its criteria and attendance months cut to ``wanted`` (in the order
    computed), or None when :func:`warm_criteria` kept none for this data, date and all
    these students."""
    if not _WARM:
        return None
    kept = _WARM.get(_warm_key(out_dir, config, have, through))
    if kept is None or not kept.students.issuperset(wanted) or not kept.database.is_file():
        return None
    ids = set(wanted)

    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["student_id"].astype(str).isin(ids)].reset_index(drop=True)

    return _Group(kept.students, cut(kept.criteria), kept.database, kept.owner, cut(kept.months))


def _copy_tables(con: duckdb.DuckDBPyConnection, validated: Path, have: frozenset[str], *,
                 temporary: Collection[str] = ()) -> None:
    """One read per table: the wanted students' rows; ``schools`` whole (the rules are
    per district); a table not provided is an empty typed table; ``temporary``: tables
    made TEMP (never written to ``con``'s file)."""
    for name, schema in SCHEMAS.items():
        table = f"TEMP TABLE {ident(name)}" if name in temporary else f"TABLE {ident(name)}"
        path = validated / f"{name}.parquet"
        if name in have and path.is_file():
            source = f"read_parquet({literal(str(path))})"
            where = "TRUE"
            if "student_id" in (c.name for c in schema.columns):
                where = "student_id IN (SELECT student_id FROM _wanted)"
            con.execute(f"CREATE {table} AS SELECT * FROM {source} WHERE {where}")
        else:
            cols = ", ".join(f"CAST(NULL AS {c.sql_type}) AS {ident(c.name)}"
                             for c in (*schema.columns, *schema.derived))
            con.execute(f"CREATE {table} AS SELECT {cols} WHERE FALSE")


def _checkpoints(con: duckdb.DuckDBPyConnection, config: Config, through: date) -> dict[date, set[int]]:
    """Every checkpoint (up to ``through``) of every school year these students were
    enrolled in, with the school years it is a checkpoint of (districts may differ)."""
    pairs = con.execute(
        "SELECT DISTINCT s.district_id, e.school_year FROM enrollments e "
        "JOIN schools s ON s.school_id = e.school_id"
    ).fetchall()
    found: dict[date, set[int]] = {}
    for district, year in pairs:
        for day in checkpoint_dates(config.rules_for(district), int(year)):
            if day <= through:
                found.setdefault(day, set()).add(int(year))
    return found


def _criteria(con: duckdb.DuckDBPyConnection, config: Config, have: frozenset[str],
              through: date) -> pd.DataFrame:
    """The indicators of the students ``con`` holds (its tables are their rows, copied
    by :func:`_copy_tables`) as of each checkpoint, only for the year(s) it belongs to."""
    points = [(day, tuple(sorted(years)))
              for day, years in sorted(_checkpoints(con, config, through).items())]
    found = points_in_one_pass(con, config, points, set(have)) if points else {}
    frames = [rows.assign(as_of_date=pd.Timestamp(day)) for (day, _years), rows in found.items() if len(rows)]
    if not frames:
        return student_indicators(con, config, as_of=through, school_years=[], provided=have)
    frame = pd.concat(frames, ignore_index=True)
    del frames, found
    # A district whose checkpoint falls on another district's date: keep each row only
    # at the checkpoints of its own district's year.
    dates_of: dict[tuple, list[date]] = {}  # (district, year): its checkpoints, looked up once

    def own(day: pd.Timestamp, district: str, year: int) -> bool:
        if (district, year) not in dates_of:
            dates_of[(district, year)] = checkpoint_dates(config.rules_for(district), year)
        return day.date() in dates_of[(district, year)]

    # Decided once per distinct (checkpoint, district, year), not per row.
    keys = frame[["as_of_date", "district_id", "school_year"]]
    numbers, first = distinct_rows(keys)
    decided = np.array([own(day, d, int(y)) for day, d, y in keys.iloc[first].itertuples(index=False)], dtype=bool)
    return frame[decided[numbers]].reset_index(drop=True)


def _attendance_months(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Days recorded and days absent per student, school year and calendar month
    (tardy counts as present, as in the indicators; a date recorded at two schools
    counts once, attended if attended at either)."""
    return con.execute(
        f"""
        SELECT student_id, school_year, year(date) AS year, month(date) AS month,
               count(*) AS days, count(*) FILTER (WHERE NOT attended) AS absent
        FROM (SELECT student_id, school_year, date, bool_or({_ATTENDED}) AS attended
              FROM attendance GROUP BY ALL)
        GROUP BY ALL ORDER BY student_id, year, month
        """
    ).df()


def _history(con: duckdb.DuckDBPyConnection, path: Path) -> pd.DataFrame:
    """The risk history of the students in ``con``'s ``_wanted`` (empty when there is
    none), read on the batch's own connection (a connection of its own cost more than the
    query)."""
    columns = ["student_id", "school_id", "model", "model_version", "as_of_date", "scored_at",
               "ranked_by", "risk", "risk_tier", "rule_status"]
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    return con.execute(
        f"SELECT * FROM read_parquet({literal(str(path))}) "
        "WHERE CAST(student_id AS VARCHAR) IN (SELECT student_id FROM _wanted) "
        "ORDER BY as_of_date, model, scored_at"
    ).df()
