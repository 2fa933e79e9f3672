"""The four rule-based indicators per student-year (CONTRACT §2), computed in DuckDB.

``hs_readiness_8`` (CORE): ready iff GPA, attendance, D or F final marks in ELA or math
and suspensions in the 8th-grade year are within the district's bars. ``on_track_9``
(Chicago Freshman On-Track): credits earned in the 9th-grade year (full-year courses
times the district's credit unit) and semester Fs in core subjects within its bars.
``chronic_absence``: attendance rate at or below the district's bar. ``suspension``: at
least one suspension or expulsion. Every threshold is per district
(``Config.rules_for``) and stated in words only by ``ontrack.indicators.definitions``.

Status. Each criterion has a value and a flag (``*_ok``: TRUE met, FALSE failed, NULL
unknown because its data is missing). The overall status is ``not_met`` as soon as one
flag is FALSE, else ``unknown`` if any flag is NULL, else ``met``: missing data never
counts as met. For ``chronic_absence`` and ``suspension`` ``met`` means the condition
holds (chronically absent; suspended), and ``unknown`` means no attendance data / no
discipline table at all.

Comparisons are exact at the thresholds (>= for readiness, <= for chronic absence). A
GPA computed from marks (6 decimals) and an attendance rate (9 decimals) are computed
from exact integer sums and rounded once, half away from zero
(``ontrack.indicators.exact``), so neither float noise (2.4999999999, or 172.8 / 180 =
0.9599999999) nor the order in which threads add up the days can flip a value that is
exactly at the threshold; real day counts never come that close to it without being
equal.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import duckdb
import pandas as pd

from ontrack.config import Config
from ontrack.indicators.attendance import ATTENDANCE_TABLE, create_attendance
from ontrack.indicators.attendance import WORK_TABLES as ATTENDANCE_TABLES
from ontrack.indicators.checkpoints import (
    AS_OF_TABLE,
    POPULATION_TABLE,
    RULES_TABLE,
    Clip,
    create_population,
    create_rules_table,
    year_end_expr,
)
from ontrack.indicators.checkpoints import WORK_TABLES as CHECKPOINT_TABLES
from ontrack.indicators.definitions import CRITERIA, FLAGS
from ontrack.indicators.discipline import DISCIPLINE_TABLE, create_discipline
from ontrack.indicators.exact import rounded_ratio
from ontrack.indicators.marks import MARKS_TABLE, create_marks
from ontrack.validation.store import provided_tables

INDICATORS: tuple[str, ...] = ("hs_readiness_8", "on_track_9", "chronic_absence", "suspension")
INDICATOR_GRADES: dict[str, int] = {"hs_readiness_8": 8, "on_track_9": 9}
# True when status "met" is the good outcome (readiness, on-track); False when "met"
# flags a problem (chronically absent, suspended).
MET_IS_GOOD: dict[str, bool] = {
    "hs_readiness_8": True,
    "on_track_9": True,
    "chronic_absence": False,
    "suspension": False,
}
STUDENTS_TABLE = "_ind_students"
# One row per student-year: every criterion and a status_<indicator> column each.
FLAGS_TABLE = "_ind_flags"

OUTPUT_COLUMNS: tuple[str, ...] = (
    "student_id",
    "district_id",
    "school_id",
    "school_year",
    "grade_level",
    "n_schools",
    "indicator",
    "status",
    "gpa",
    "gpa_source",
    "gpa_ok",
    "attendance_rate",
    "days_enrolled",
    "days_absent",
    "attendance_source",
    "attendance_ok",
    "df_ela_math",
    "df_ok",
    "suspensions",
    "suspension_ok",
    "credits_earned",
    "credits_ok",
    "core_semester_fs",
    "fs_ok",
    "progress_marks_used",
    "unknown_criteria",
    "as_of_date",
)
FLAG_COLUMNS = ("gpa_ok", "attendance_ok", "df_ok", "suspension_ok", "credits_ok", "fs_ok")
INT_COLUMNS = (
    "school_year",
    "grade_level",
    "n_schools",
    "df_ela_math",
    "suspensions",
    "core_semester_fs",
    "progress_marks_used",
)
_PART_TABLES = (POPULATION_TABLE, *ATTENDANCE_TABLES, MARKS_TABLE, DISCIPLINE_TABLE)
_TEMP_TABLES = (*CHECKPOINT_TABLES, *_PART_TABLES, FLAGS_TABLE)

# criterion flag -> name reported in ``unknown_criteria`` when the flag is NULL; the
# criteria of each indicator are declared once, in ``definitions``.
_CRITERIA = {flag: name for name, flag in FLAGS.items()}
_READINESS = tuple(FLAGS[c] for c in CRITERIA["hs_readiness_8"])
_ON_TRACK = tuple(FLAGS[c] for c in CRITERIA["on_track_9"])


def _status(flags: Sequence[str]) -> str:
    """SQL: not_met if any flag is FALSE, else unknown if any is NULL, else met."""
    all_ok = " AND ".join(f"COALESCE({f}, TRUE)" for f in flags)
    any_unknown = " OR ".join(f"{f} IS NULL" for f in flags)
    return (
        f"CASE WHEN NOT ({all_ok}) THEN 'not_met' "
        f"WHEN {any_unknown} THEN 'unknown' ELSE 'met' END"
    )


def _unknown(flags: Sequence[str]) -> str:
    parts = ", ".join(f"CASE WHEN {f} IS NULL THEN '{_CRITERIA[f]}' END" for f in flags)
    return f"NULLIF(concat_ws('; ', {parts}), '')"


def build_students(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    as_of: date | Clip | None = None,
    school_years: Sequence[int] | None = None,
    provided: Collection[str] | None = None,
) -> str:
    """Build the indicators in DuckDB; return the name of the long student view.

    The work ends in one table with a row per student-year (``FLAGS_TABLE``: every
    criterion and a ``status_<indicator>`` column each) and a view over it with a row
    per student-year and indicator (``STUDENTS_TABLE``, CONTRACT §4). Used by
    :func:`student_indicators` (which fetches the view) and by the command, which
    writes and aggregates them without pulling every row into pandas. With
    ``Clip(per_row=True)`` the rows are those of ``AS_OF_TABLE`` (student, school year,
    as-of date), each computed as of its own date (:func:`indicators_as_of`).
    """
    as_of = Clip.of(as_of)
    provided = set(provided) if provided is not None else provided_tables(con)
    create_rules_table(con, config)
    create_population(con, as_of, school_years)
    create_attendance(con, as_of, school_years)
    create_marks(con, as_of, school_years)
    create_discipline(con, as_of, school_years)
    _create_flags(con, as_of, provided)
    # The parts are folded into the flags table; free them before the output is written.
    _drop(con, _PART_TABLES)
    _create_long_view(con, as_of)
    return STUDENTS_TABLE


def _create_flags(con: duckdb.DuckDBPyConnection, as_of: Clip, provided: set[str]) -> None:
    """``FLAGS_TABLE``: every criterion of every student-year, checked against its
    district's thresholds, and a ``status_<indicator>`` column each."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {FLAGS_TABLE} AS
        WITH base AS ({_criteria_sql(as_of, provided)}),
        flags AS (
            SELECT *,
                   gpa >= gpa_min AS gpa_ok,
                   attendance_rate >= attendance_min AS attendance_ok,
                   CASE WHEN df_ela_math > max_df THEN FALSE
                        WHEN n_ela > 0 AND n_math > 0 THEN TRUE END AS df_ok,
                   suspensions <= max_suspensions AS suspension_ok,
                   CASE WHEN credits_earned >= credits_required THEN TRUE
                        WHEN n_final > 0 AND credits_missing = 0 THEN FALSE
                   END AS credits_ok,
                   CASE WHEN core_semester_fs > max_core_fs THEN FALSE
                        WHEN n_core > 0 THEN TRUE END AS fs_ok
            FROM base
        )
        -- thresholds and helper counts are not kept: the table is held until written
        SELECT * EXCLUDE (gpa_min, attendance_min, max_df, max_suspensions,
                          credits_required, max_core_fs, chronic_max, n_ela, n_math,
                          n_core, n_final, credits_missing),
               CASE WHEN grade_level = {INDICATOR_GRADES['hs_readiness_8']}
                    THEN {_status(_READINESS)} END AS status_hs_readiness_8,
               CASE WHEN grade_level = {INDICATOR_GRADES['on_track_9']}
                    THEN {_status(_ON_TRACK)} END AS status_on_track_9,
               CASE WHEN attendance_rate IS NULL THEN 'unknown'
                    WHEN attendance_rate <= chronic_max THEN 'met' ELSE 'not_met'
               END AS status_chronic_absence,
               CASE WHEN suspensions IS NULL THEN 'unknown'
                    WHEN suspensions > 0 THEN 'met' ELSE 'not_met'
               END AS status_suspension
        FROM flags
        """
    )


def _criteria_sql(as_of: Clip, provided: set[str]) -> str:
    """Each student-year of the population with its criterion values (official GPA
    once the year is over, else from marks) and its district's thresholds."""
    official_known = "TRUE" if not as_of.dated else (
        f"{year_end_expr('p.school_year')} <= {as_of.value('p')}"
    )
    # No discipline table: suspensions are unknown. A table without rows for the
    # student-year: zero suspensions (known).
    suspensions = "COALESCE(d.suspensions, 0)" if "discipline" in provided else "NULL"
    attendance_rate = rounded_ratio("a.days_enrolled_u - a.days_absent_u", "a.days_enrolled_u", 9)

    def same(alias: str) -> str:  # per row: the part's row of the same as-of date
        return as_of.same(alias, "p")

    return f"""
            SELECT p.student_id, p.district_id, p.school_id, p.school_year,
                   {as_of.key('p')}p.grade_level, p.n_schools,
                   a.days_enrolled, a.days_absent, a.attendance_source,
                   CASE WHEN a.days_enrolled_u > 0 THEN {attendance_rate} END
                     AS attendance_rate,
                   CASE WHEN sy.gpa IS NOT NULL AND {official_known} THEN sy.gpa
                        ELSE m.gpa_marks END AS gpa,
                   CASE WHEN sy.gpa IS NOT NULL AND {official_known} THEN 'official'
                        WHEN m.gpa_marks IS NOT NULL THEN 'marks' END AS gpa_source,
                   CASE WHEN m.n_ela + m.n_math > 0 THEN m.df_ela_math END AS df_ela_math,
                   m.n_ela, m.n_math, m.n_core, m.n_final, m.credits_missing,
                   CASE WHEN m.n_core > 0 THEN m.core_semester_fs END AS core_semester_fs,
                   CASE WHEN m.n_final > 0 THEN m.credits_known END AS credits_earned,
                   COALESCE(m.progress_marks_used, 0) AS progress_marks_used,
                   {suspensions} AS suspensions,
                   r.gpa_min, r.attendance_min, r.max_df, r.max_suspensions,
                   r.credits_required, r.max_core_fs, r.chronic_max
            FROM {POPULATION_TABLE} p
            JOIN {RULES_TABLE} r ON r.district_id = p.district_id
            LEFT JOIN {ATTENDANCE_TABLE} a
              ON a.student_id = p.student_id AND a.school_year = p.school_year{same('a')}
            LEFT JOIN {MARKS_TABLE} m
              ON m.student_id = p.student_id AND m.school_year = p.school_year{same('m')}
            LEFT JOIN student_years sy
              ON sy.student_id = p.student_id AND sy.school_year = p.school_year
            LEFT JOIN {DISCIPLINE_TABLE} d
              ON d.student_id = p.student_id AND d.school_year = p.school_year{same('d')}
        """


def _create_long_view(con: duckdb.DuckDBPyConnection, as_of: Clip) -> None:
    """``STUDENTS_TABLE``: the long rows of CONTRACT §4 over the flags table."""
    as_of_sql = as_of.value(FLAGS_TABLE)
    common = (
        "student_id, district_id, school_id, school_year, grade_level, n_schools, "
        f"{as_of_sql} AS as_of_date"
    )
    # The long table of CONTRACT §4: one row per student-year and indicator, with the
    # criteria of that indicator only.
    columns = {
        "hs_readiness_8": "gpa, gpa_source, gpa_ok, attendance_rate, days_enrolled, "
        "days_absent, attendance_source, attendance_ok, df_ela_math, df_ok, suspensions, "
        "suspension_ok, progress_marks_used",
        "on_track_9": "credits_earned, credits_ok, core_semester_fs, fs_ok, "
        "progress_marks_used",
        "chronic_absence": "attendance_rate, days_enrolled, days_absent, attendance_source",
        "suspension": "suspensions",
    }
    # Which criteria are unknown, spelled out only where a row is written (the flags
    # table is scanned for the rates too, which do not need the text).
    unknown = {
        "hs_readiness_8": _unknown(_READINESS),
        "on_track_9": _unknown(_ON_TRACK),
        "chronic_absence": "CASE WHEN attendance_rate IS NULL THEN 'attendance' END",
        "suspension": "CASE WHEN suspensions IS NULL THEN 'suspensions' END",
    }
    selects = [
        f"SELECT {common}, '{name}' AS indicator, status_{name} AS status, {cols}, "
        f"{unknown[name]} AS unknown_criteria FROM {FLAGS_TABLE} "
        f"WHERE status_{name} IS NOT NULL"
        for name, cols in columns.items()
    ]
    # A view, not a table: the long rows are produced while they are written.
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {STUDENTS_TABLE} AS "
        + " UNION ALL BY NAME ".join(selects)
    )


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the temporary tables and view the indicators created on ``con``, but the
    rule tables (a row per district, school and mark letter), which the next call on
    ``con`` reuses when the schools and rules are the same
    (``checkpoints.create_rules_table``)."""
    _drop(con, _TEMP_TABLES, view=STUDENTS_TABLE)


def _drop(con: duckdb.DuckDBPyConnection, tables: Sequence[str], view: str | None = None) -> None:
    """Drop ``tables`` (and ``view``), those that exist, in one call, not one each."""
    drops = [f"DROP VIEW IF EXISTS {view}"] if view else []
    drops += [f"DROP TABLE IF EXISTS {name}" for name in tables]
    con.execute("; ".join(drops))


def tidy_students(frame: pd.DataFrame) -> pd.DataFrame:
    """Contract column order and dtypes: nullable booleans and integers, NaN floats."""
    for col in OUTPUT_COLUMNS:
        if col not in frame:
            frame[col] = pd.NA
    frame = frame[list(OUTPUT_COLUMNS)].copy()
    for col in FLAG_COLUMNS:
        frame[col] = frame[col].astype("boolean")
    for col in INT_COLUMNS:
        frame[col] = pd.to_numeric(frame[col]).astype("Int64")
    for col in ("gpa", "attendance_rate", "days_enrolled", "days_absent", "credits_earned"):
        frame[col] = pd.to_numeric(frame[col]).astype("float64")
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"])
    return frame


def student_indicators(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    as_of: date | None = None,
    school_years: Sequence[int] | None = None,
    provided: Collection[str] | None = None,
    indicators: Collection[str] = INDICATORS,
) -> pd.DataFrame:
    """Every indicator for every student-year, one row per student, year and indicator.

    Parameters
    ----------
    con : DuckDB connection with the contract tables as views (``open_validated``).
    config : thresholds and mark scales, per district.
    as_of : compute with only the records known on this date (a checkpoint); years
        that have not started by then have no rows.
    school_years : keep only these school years.
    provided : tables the district provided; inferred from ``con`` when omitted.
    indicators : the rows of these indicators only (the others are never fetched: a
        label that reads one indicator holds a quarter of the rows).

    Returns
    -------
    DataFrame with the columns of ``OUTPUT_COLUMNS``: keys, ``indicator``, ``status``
    (met / not_met / unknown), each criterion's value and ``*_ok`` flag (NA where the
    criterion does not apply or is unknown), and ``unknown_criteria``.
    """
    wanted = _wanted(indicators)
    try:
        table = build_students(
            con, config, as_of=as_of, school_years=school_years, provided=provided
        )
        frame = con.execute(
            f"SELECT * FROM {table} WHERE indicator IN ({wanted}) "
            "ORDER BY school_year, student_id, indicator"
        ).df()
    finally:
        drop_work_tables(con)
    return tidy_students(frame)


def _wanted(indicators: Collection[str]) -> str:
    """``indicators`` as a SQL list (known names only: they become SQL text)."""
    unknown = sorted(set(indicators) - set(INDICATORS))
    if unknown:
        raise ValueError(f"indicators must be among {', '.join(INDICATORS)}. Got {unknown} instead.")
    return ", ".join(f"'{name}'" for name in indicators) or "NULL"


def indicators_as_of(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    as_of_rows: pd.DataFrame,
    *,
    provided: Collection[str] | None = None,
    indicators: Collection[str] = INDICATORS,
) -> pd.DataFrame:
    """Every indicator of each (student_id, school_year, as_of_date) row of
    ``as_of_rows``, with only the records known on that row's date: the rows of
    :func:`student_indicators` ``(as_of=row's date)`` for that student and year, for all
    the dates in one query per part (each record counted once per as-of date it does
    not pass) instead of one run of every query per date.

    A row whose student has no enrollment of that year known by its date has none.
    The result has the columns of ``OUTPUT_COLUMNS``, rows of ``indicators`` only (the
    others are never fetched), sorted by school year, student, as-of date and indicator.
    """
    wanted = _wanted(indicators)
    keys = pd.DataFrame({
        "student_id": as_of_rows["student_id"].astype("str"),
        "school_year": as_of_rows["school_year"].astype("int64"),
        "as_of_date": pd.to_datetime(as_of_rows["as_of_date"]),
    })
    con.register("__ontrack_as_of", keys)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {AS_OF_TABLE} AS SELECT DISTINCT student_id, "
            "CAST(school_year AS INTEGER) AS school_year, "
            "CAST(as_of_date AS DATE) AS as_of_date FROM __ontrack_as_of"
        )
        table = build_students(con, config, as_of=Clip(per_row=True), provided=provided)
        frame = con.execute(
            f"SELECT * FROM {table} WHERE indicator IN ({wanted}) "
            "ORDER BY school_year, student_id, as_of_date, indicator"
        ).df()
    finally:
        con.unregister("__ontrack_as_of")
        drop_work_tables(con)
    return tidy_students(frame)
