"""What a table's checks need from the tables validated before it, read from ``OUT``.

A partition of any table is checked in its own DuckDB connection (possibly on another
machine), so it reads its parents from their validated files: the accepted schools
(their districts' calendars and mark scales), students and enrollments (with the last
day of each enrollment's school year, for attendance coverage).
"""

from __future__ import annotations

import weakref
from pathlib import Path

import duckdb

from ontrack.config import Config
from ontrack.validation.checks import (
    calendar_rows,
    literal,
    mark_map_rows,
    year_end_sql,
)

# What each connection already holds, by parent: ``(file state, config)`` it was
# loaded from. A single-process run checks every table on one connection: the parents
# are read once per run, not once per table (each read costs a few DuckDB statements).
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def load_parents(con: duckdb.DuckDBPyConnection, out_dir: Path, config: Config,
                 table: str) -> list[str]:
    """Create ``ok_schools``, ``ok_students``, ``ok_enrollments`` (views over the
    validated files that exist), ``school_calendar`` and ``mark_map``; return the
    accepted district IDs (none while the schools themselves are validated). What the
    connection already loaded from the same files and config is kept."""
    validated = out_dir / "validated"
    if table == "schools":
        return []
    loaded = _LOADED.setdefault(con, {})
    schools = validated / "schools.parquet"
    state = (_file_state(schools), config)
    if loaded.get("schools", (None,))[0] != state:
        loaded.clear()  # the calendars, hence ok_enrollments, follow the schools
        _view(con, "ok_schools", schools)
        districts = [r[0] for r in con.execute(
            "SELECT DISTINCT district_id FROM ok_schools ORDER BY 1").fetchall()]
        _calendars(con, config, districts)
        loaded["schools"] = (state, districts)
    districts = list(loaded["schools"][1])
    _once(con, loaded, "ok_students", validated / "students.parquet")
    enrollments = validated / "enrollments.parquet"
    if table == "attendance" and enrollments.exists():
        end = year_end_sql("e.school_year", "c.start_month", "c.start_day")
        _once(con, loaded, "ok_enrollments", enrollments,
              "SELECT e.student_id, e.school_id, e.entry_date, e.exit_date, "
              f"{end} AS __year_end FROM read_parquet({literal(str(enrollments))}) e "
              "LEFT JOIN school_calendar c USING (school_id)")
    return districts


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Load the parents again on ``con`` next time (it is handed to another run)."""
    _LOADED.pop(con, None)


def _file_state(path: Path) -> tuple[str, int, int, int, int] | None:
    """Which file is at ``path`` now (None when none): rewritten files differ."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _once(con: duckdb.DuckDBPyConnection, loaded: dict, name: str, path: Path,
          query: str | None = None) -> None:
    """View ``name`` over ``path`` (``query``, else every column), unless the connection
    made it from the same file already; nothing when the file does not exist."""
    state = _file_state(path)
    if state is None or loaded.get(name) == state:
        return
    query = query or f"SELECT * FROM read_parquet({literal(str(path))})"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {query}")
    loaded[name] = state


def _view(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    if path.exists():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS "
                    f"SELECT * FROM read_parquet({literal(str(path))})")


def _calendars(con: duckdb.DuckDBPyConnection, config: Config, districts: list[str]) -> None:
    """Per-school calendars and per-district mark scales, from the accepted schools."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE district_start "
        "(district_id VARCHAR, start_month INTEGER, start_day INTEGER)"
    )
    _insert(con, "district_start", calendar_rows(config, districts))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE school_calendar AS SELECT s.school_id, s.district_id, "
        "d.start_month, d.start_day, "
        # Years to step back to a school year's first day and on past its last (1 and 0;
        # a calendar year, starting 1 January: 0 and 1), so that the checks' bounds
        # (``table_rules``) are small expressions: each costs DuckDB planning time.
        "CASE WHEN d.start_month = 1 AND d.start_day = 1 THEN 0 ELSE 1 END AS start_back, "
        "CASE WHEN d.start_month = 1 AND d.start_day = 1 THEN 1 ELSE 0 END AS end_on "
        "FROM ok_schools s JOIN district_start d USING (district_id)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE mark_map "
        "(district_id VARCHAR, mark VARCHAR, letter VARCHAR, points DOUBLE)"
    )
    _insert(con, "mark_map", mark_map_rows(config, districts))


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """One INSERT of literal rows (``executemany`` costs a statement per row)."""
    if rows:
        values = ", ".join(
            "(" + ", ".join("NULL" if v is None else literal(v) for v in row) + ")" for row in rows)
        con.execute(f"INSERT INTO {table} VALUES {values}")
