"""SQL over a synthetic district's files, for tests/test_synth.py and
tests/test_synth_realism.py: one DuckDB view per table and the school-year of a date."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ontrack.synth import TABLES

# A school-year of a date: Jul 1 - Jun 30, named by the year it ends in.
SCHOOL_YEAR = "(year(d) + (month(d) >= 7)::int)"
ABSENT = "('absent_excused', 'absent_unexcused', 'suspended')"


def district_db(folder: Path, fmt: str = "parquet") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per table (CSV read as text)."""
    con = duckdb.connect()
    for t in TABLES:
        path = folder / f"{t}.{fmt}"
        src = (
            f"read_parquet('{path}')"
            if fmt == "parquet"
            else f"read_csv('{path}', all_varchar=true, header=true)"
        )
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM {src}")
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    """The single value ``sql`` returns."""
    return con.execute(sql).fetchone()[0]
