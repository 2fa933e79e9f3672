"""Open the validated tables (``OUT/validated/*.parquet``) as DuckDB views.

Downstream stages (indicators, features, labels) query these views and never read the
district's raw files again. Every contract table is present as a view: a table the
district did not provide is an empty view with the contract's typed columns, so SQL
downstream never needs to ask whether a table exists (use :func:`provided` for that).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ontrack import resources
from ontrack.config import Config, load_config
from ontrack.errors import SchemaError
from ontrack.tables import SCHEMAS
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
