"""The indicators stage's partitions: one school year per part.

A student-year's indicators depend only on that year's records, so each school year is
computed on its own (in this process, or as a task on a Dask worker): the part builds the
year's indicators from ``OUT/validated``, writes the year's rows of ``students.csv`` to
``OUT/.parts/indicators/<year>.csv`` and returns the year's rate cells and unknown-reason
counts, which are small. ``ontrack.indicators.run`` concatenates the years in order,
suppresses the rates over all of them and writes the four files: the same bytes whether
the years ran in one process or on a cluster sharing OUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ontrack.config import Config
from ontrack.indicators.rates import rate_cells_sql
from ontrack.indicators.rules import (
    FLAGS_TABLE,
    OUTPUT_COLUMNS,
    build_students,
    drop_work_tables,
)
from ontrack.paths import write_atomically
from ontrack.resources import parts_dir, spilling_under
from ontrack.validation.checks import defused_sql, literal
from ontrack.validation.store import open_validated

# Columns of students.csv holding the district's own text (IDs): defused for spreadsheets.
DATA_TEXT_COLUMNS: tuple[str, ...] = ("student_id", "district_id", "school_id")


@dataclass(frozen=True)
class YearPart:
    """What one school year's part produced: its rows of students.csv are in ``rows_file``."""

    school_year: int | None
    rows: int
    rows_file: str
    cells: pd.DataFrame
    unknowns: pd.DataFrame


def indicator_years(out_dir: Path | str, config: Config) -> list[int | None]:
    """The parts: every school year with an enrollment (``[None]``, one empty part, when
    there is none, so the files are still written with their headers). ``config``: whose
    memory limit the read keeps to."""
    path = Path(out_dir) / "validated" / "enrollments.parquet"
    if not path.exists():
        return [None]
    con = spilling_under(out_dir, config)
    try:
        years = con.execute(f"SELECT DISTINCT school_year FROM read_parquet({literal(str(path))}) "
                            "WHERE school_year IS NOT NULL ORDER BY 1").fetchall()
    finally:
        con.close()
    return [int(y) for (y,) in years] or [None]


def year_part(out_dir: Path | str, config: Config, school_year: int | None,
              as_of: date | None = None) -> YearPart:
    """Compute one school year's indicators (see the module docstring)."""
    years = None if school_year is None else [school_year]
    return _part(out_dir, config, years, as_of, f"{school_year or 'none'}.csv", school_year)


def years_part(out_dir: Path | str, config: Config, years: list[int],
               as_of: date | None = None) -> YearPart:
    """All of ``years`` computed in one pass on one connection: the rows of students.csv
    (sorted by year, student and indicator: the years' files one after the other), the
    rate cells of every year, and the unknown reasons of the latest year with rows; what
    ``combine_years`` needs of the years' parts, for a district small enough to hold
    (the statements and a connection per year cost more than its rows)."""
    return _part(out_dir, config, years, as_of, "all.csv", None)


def _part(out_dir: Path | str, config: Config, years: list[int] | None, as_of: date | None,
          name: str, school_year: int | None) -> YearPart:
    """The indicators of ``years`` (None: every year) in ``OUT/.parts/indicators/NAME``;
    the part is labelled ``school_year``, else the latest year with rows."""
    out_dir = Path(out_dir)
    con = open_validated(out_dir, config)  # within the resources, spilling under OUT/.tmp
    try:
        table = build_students(con, config, as_of=as_of, school_years=years)
        rows, latest, filled = con.execute(
            f"SELECT count(*), max(school_year), count(DISTINCT school_year) FROM {table}"
        ).fetchone()
        label = school_year if school_year is not None or years is None else latest
        unknowns = unknown_reasons(con, table, latest if latest is not None else (years or [None])[0])
        cells_sql = rate_cells_sql(FLAGS_TABLE)
        cells = con.execute(cells_sql).df()
        if school_year is None and years and filled < len(years):  # several years, one
            # without rows: alone, its part's frame would be empty, its text columns plain
            # objects; combined with the others', so are the cells'
            empty = con.execute(f"SELECT * FROM ({cells_sql}) WHERE FALSE").df()
            cells = pd.concat([cells, empty], ignore_index=True)
        target = parts_dir(out_dir, "indicators") / name
        write_atomically(target, lambda path: _write_rows(con, table, path, config, as_of))
    finally:
        drop_work_tables(con)
        con.close()
    return YearPart(label, int(rows), str(target), cells, unknowns)


def unknown_reasons(con: duckdb.DuckDBPyConnection, table: str, year: int | None) -> pd.DataFrame:
    """How often each criterion was unknown, per indicator, in ``year``."""
    return con.execute(
        f"SELECT indicator, trim(reason) AS reason, count(*) AS n FROM ("
        f"  SELECT indicator, unnest(string_split(unknown_criteria, ';')) AS reason"
        f"  FROM {table} WHERE status = 'unknown' AND school_year = ?"
        f") GROUP BY ALL ORDER BY indicator, n DESC, reason",
        [year],
    ).df()


def _write_rows(con: duckdb.DuckDBPyConnection, table: str, path: Path, config: Config,
                as_of: date | None) -> None:
    """The part's rows of students.csv, with the header, sorted by year, student and
    indicator (a one-year part: by student and indicator)."""
    cols = ", ".join(
        f"{defused_sql(c)} AS {c}" if c in DATA_TEXT_COLUMNS else c
        for c in OUTPUT_COLUMNS if c != "as_of_date"
    )
    stamps = (
        f"{literal(as_of.isoformat()) if as_of else 'NULL'} AS as_of_date, "
        f"{literal(config.config_hash)} AS config_hash, "
        f"{int(config.config_version)} AS config_version"
    )
    con.execute(
        f"COPY (SELECT {cols}, {stamps} FROM {table} "
        "ORDER BY school_year, student_id, indicator) "
        f"TO {literal(str(path))} (FORMAT CSV, HEADER true, DELIMITER ',')"
    )
