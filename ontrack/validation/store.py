"""Open the validated tables (``OUT/validated/*.parquet``) as DuckDB views.

Downstream stages (indicators, features, labels) query these views and never read the
district's raw files again. Every contract table is present as a view: a table the
district did not provide is an empty view with the contract's typed columns, so SQL
downstream never needs to ask whether a table exists (use :func:`provided` for that).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ontrack import resources
from ontrack.config import Config, load_config
from ontrack.errors import SchemaError
from ontrack.tables import SCHEMAS
from ontrack.validation import parents, row_checks
from ontrack.validation.checks import ident, literal


def connect(config: Config, workdir: Path | None = None, *,
            out: Path | str | None = None) -> duckdb.DuckDBPyConnection:
    """THE DuckDB connection of validation and of every reader of validated tables:
    ontrack's resources (:func:`ontrack.resources.connect`: memory limit, threads, the
    spill folder: ``workdir``, else ``OUT/.tmp``), rows in no promised order. Every
    connection the validation stage opens comes from here."""
    con = resources.connect(config, out, spill=workdir)
    con.execute("SET preserve_insertion_order = false")
    return con


# Connections of finished validation runs and jobs, kept for the next one in this
# process: a new in-memory DuckDB database costs ~11 ms to open, and the test suite
# validates a small district hundreds of times.
_IDLE: list[tuple[duckdb.DuckDBPyConnection, resources.Settings]] = []
_IDLE_LOCK = threading.Lock()
KEEP_IDLE = 2
# A forked child never uses (nor closes: its DuckDB threads did not come along) the
# connections it inherited; it keeps them unreferenced by the pool.
_INHERITED: list[tuple[duckdb.DuckDBPyConnection, resources.Settings]] = []


def _after_fork() -> None:
    global _IDLE_LOCK
    _IDLE_LOCK = threading.Lock()
    _INHERITED.extend(_IDLE)
    _IDLE.clear()


os.register_at_fork(after_in_child=_after_fork)
# What a run leaves on its connection besides temporary tables it replaces every time:
# the views over a run's validated files are dropped, so a later run never reads them.
_RUN_VIEWS = ("raw_t", "ok_schools", "ok_students", "ok_enrollments")


@contextmanager
def pooled(config: Config, workdir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection as :func:`connect` makes (``config``'s resources, spilling into
    ``workdir``) for one validation run or job: an idle one of this process set up
    afresh, else a new one. Kept for the next run after, unless this one failed or
    spilled (DuckDB keeps its first spill folder)."""
    want = resources.settings(config, spill=workdir)
    con = _take(config, workdir, want)
    try:
        yield con
    except BaseException:
        con.close()
        raise
    _give_back(con, want)


def _take(config: Config, workdir: Path, want: resources.Settings) -> duckdb.DuckDBPyConnection:
    with _IDLE_LOCK:
        con, had = _IDLE.pop() if _IDLE else (None, want)
    if con is not None:
        try:
            return resources.apply(con, config, spill=workdir, previous=had)
        except duckdb.Error:  # it spilled: its spill folder is fixed
            con.close()
    return connect(config, workdir)


def _give_back(con: duckdb.DuckDBPyConnection, settings: resources.Settings) -> None:
    """Forget what the run loaded, detach its work database; keep the connection."""
    parents.forget(con)
    row_checks.forget(con)
    try:
        con.execute("SET preserve_insertion_order = false; "
                    + "; ".join(f"DROP VIEW IF EXISTS {v}" for v in _RUN_VIEWS)
                    + f"; DETACH DATABASE IF EXISTS {row_checks.WORK}")
    except duckdb.Error:
        con.close()
        return
    with _IDLE_LOCK:
        if len(_IDLE) < KEEP_IDLE:
            _IDLE.append((con, settings))
            return
    con.close()


def open_validated(out_dir: Path | str, config: Config | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per contract table over ``OUT/validated``."""
    validated = Path(out_dir) / "validated"
    if not (validated / "students.parquet").exists():
        raise SchemaError(
            f"{validated} holds no validated tables. Run `ontrack validate DATA --out "
            f"{Path(out_dir)}` first."
        )
    con = connect(config or load_config(), out=out_dir)  # spills under OUT/.tmp
    for name, schema in SCHEMAS.items():
        path = validated / f"{name}.parquet"
        if path.exists():
            con.execute(
                f"CREATE VIEW {ident(name)} AS SELECT * FROM read_parquet({literal(str(path))})"
            )
        else:
            cols = ", ".join(
                f"CAST(NULL AS {c.sql_type}) AS {ident(c.name)}"
                for c in (*schema.columns, *schema.derived)
            )
            con.execute(f"CREATE VIEW {ident(name)} AS SELECT {cols} WHERE FALSE")
    return con


def provided(out_dir: Path | str) -> set[str]:
    """Names of the tables the district actually provided (and that were validated)."""
    validated = Path(out_dir) / "validated"
    return {p.stem for p in validated.glob("*.parquet")}


def provided_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Contract tables the connection holds data for: a view over a file, or any rows.

    ``open_validated`` gives a missing table an empty view; a provided table may be
    empty too (a district with no incidents), which must still read as "zero".
    """
    views = dict(
        con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal "
            "AND schema_name = 'main'"
        ).fetchall()
    )
    found = set()
    for name in SCHEMAS:
        sql = (views.get(name) or "").lower()
        if "read_parquet" in sql or "read_csv" in sql:
            found.add(name)
        elif name in views or _has_table(con, name):
            probe = f"SELECT count(*) FROM (SELECT 1 FROM main.{ident(name)} LIMIT 1)"
            if con.execute(probe).fetchall()[0][0]:
                found.add(name)
    return found


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'main' AND table_name = ?",
        [name],
    ).fetchall()
    return bool(rows[0][0])
