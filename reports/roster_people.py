"""Who the rostered students are: their counselors (caseloads) and names, read for the
rostered students only (a district's whole ``students`` and ``caseloads`` tables are
never held in memory).

Split from :mod:`ontrack.reports.publish`, which joins these to the rosters. Names reach
only the roster files and follow-up lists (CONTRACT §4), never logs or aggregates.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def staff_of(out_dir: Path, student_years: pd.DataFrame, students: Collection[str] | None = None) -> pd.DataFrame:
    """(student_id, staff_id, staff_name) of the caseloads of each student's own school
    year (``student_years``: student_id, school_year; districts' calendars may put the
    same day in different years). Students not in ``student_years`` (another model's
    roster) keep the caseloads of any of those years; undated caseload rows hold every
    year. Only the rows of ``students`` are read, when given. Empty without caseloads."""
    path = Path(out_dir) / "validated" / "caseloads.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=["student_id", "staff_id", "staff_name"])
    loads = _read_of(path, students)
    if "school_year" in loads.columns:
        year_of = dict(zip(student_years["student_id"].astype(str),
                           student_years["school_year"].astype(int), strict=False))
        wanted = loads["student_id"].astype(str).map(year_of)
        own_year = loads["school_year"] == wanted
        other = wanted.isna() & loads["school_year"].isin(set(year_of.values()))
        loads = loads[loads["school_year"].isna() | own_year | other]
    names = loads["staff_name"] if "staff_name" in loads.columns else pd.Series("", index=loads.index)
    return pd.DataFrame(
        {
            "student_id": loads["student_id"].astype(str),
            "staff_id": loads["staff_id"].astype(str),
            "staff_name": names.fillna("").astype(str),
        }
    ).drop_duplicates()


def rostered_students(roster: pd.DataFrame, folder: Path, model: str) -> set[str]:
    """The students of this roster and of every other model's saved roster in ``folder``."""
    ids = set(roster["student_id"].astype(str))
    for path in (Path(folder) / "_history").glob("*_roster.parquet"):
        if path.name != f"{model}_roster.parquet":
            ids.update(pd.read_parquet(path, columns=["student_id"])["student_id"].astype(str))
    return ids


def _read_of(path: Path, students: Collection[str] | None, columns: list[str] | None = None) -> pd.DataFrame:
    """A validated table's rows of ``students`` (every row when None), in file order."""
    if students is None:
        return pd.read_parquet(path, columns=columns)
    wanted = pa.array(sorted(students), type=pa.string())
    table = pq.read_table(path, columns=columns)
    return table.filter(pc.is_in(table["student_id"].cast(pa.string()), value_set=wanted)).to_pandas()


def student_names(out_dir: Path, students: Collection[str]) -> dict[str, str] | None:
    """Each of ``students``' name, "Last, First" (empty when unknown), or None when the
    district's ``students`` table holds no names at all."""
    path = Path(out_dir) / "validated" / "students.parquet"
    parts = _named(path)
    if not parts:
        return None
    rows = _read_of(path, students, ["student_id", *parts])
    clean = rows[parts].apply(lambda s: s.fillna("").astype(str).str.strip())
    full = [", ".join(p for p in row if p) for row in clean.itertuples(index=False)]
    return dict(zip(rows["student_id"].astype(str), full, strict=False))


def _named(path: Path) -> list[str]:
    """The name columns of ``students`` (last, first) when any row has a name; else none."""
    if not path.is_file():
        return []
    parts = [c for c in ("last_name", "first_name") if c in pq.read_schema(path).names]
    names = pq.read_table(path, columns=parts) if parts else None
    return parts if names is not None and any(names[c].null_count < len(names) for c in parts) else []
