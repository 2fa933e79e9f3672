"""The array-based equations of suppression equal the plain dictionary construction.

Complementary suppression scans equations in order, so the faster construction must
give the same equations in the same order, not just the same set.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from ontrack.indicators.suppression import _blocks, _equations


def reference_equations(unit: list[str], gtype: list[str], group: list[str],
                        is_district: np.ndarray) -> list[list[tuple[int, float]]]:
    """Partitions per unit and group type, then the hierarchy, by first appearance."""
    pos = {key: i for i, key in enumerate(zip(unit, gtype, group, strict=True))}
    equations: list[list[tuple[int, float]]] = []
    by_unit_type: dict[tuple[str, str], list[int]] = defaultdict(list)
    for (u, t, _g), i in pos.items():
        if t != "all":
            by_unit_type[(u, t)].append(i)
    for (u, _t), parts in by_unit_type.items():
        if (u, "all", "all") in pos:
            equations.append([(pos[(u, "all", "all")], 1.0), *((p, -1.0) for p in parts)])
    tops = {unit[i] for i in np.flatnonzero(is_district)}
    if len(tops) == 1:
        top = tops.pop()
        by_group: dict[tuple[str, str], list[int]] = defaultdict(list)
        for (u, t, g), i in pos.items():
            if u != top:
                by_group[(t, g)].append(i)
        for key, parts in by_group.items():
            if (top, *key) in pos:
                equations.append([(pos[(top, *key)], 1.0), *((p, -1.0) for p in parts)])
    return equations


def random_cells(seed: int) -> pd.DataFrame:
    """A shuffled block or two of cells, some units without an ``all`` cell."""
    rng = np.random.default_rng(seed)
    groups = [("all", "all"), ("race_ethnicity", "asian"), ("race_ethnicity", "white"),
              ("race_ethnicity", "not_reported"), ("gender", "F"), ("gender", "M"),
              ("homeless", "yes"), ("homeless", "no")]
    rows = []
    for grade in (8, 9):
        for unit in ["district:D", *(f"school:{s}" for s in "ABCDE")]:
            for gtype, group in groups:
                if rng.random() < 0.8:
                    rows.append({"district_id": "D", "school_year": 2024,
                                 "indicator": "suspension", "grade_level": grade,
                                 "level": "district" if unit.startswith("district") else "school",
                                 "unit": unit, "group_type": gtype, "group": group,
                                 "n": int(rng.integers(0, 40)), "publish": group != "no"})
    return pd.DataFrame(rows).sample(frac=1, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", range(20))
def test_equations_match_the_dictionary_construction(seed: int) -> None:
    for _rows, block in _blocks(random_cells(seed)):
        expected = reference_equations(list(block.unit), list(block.group_type),
                                       list(block.group), block.is_district)
        assert _equations(block) == expected


def test_write_csv_writes_what_pandas_writes(tmp_path) -> None:
    from ontrack.indicators.run import write_csv

    frame = pd.DataFrame({
        "school_id": pd.array(["a,b", 'q"t', "", "x\ny", " sp ", "é", None, "0042"],
                              dtype="str"),
        "rate": [0.0884, 1.0, 0.0, np.nan, -0.028, 0.0001, 1 / 3, 100.0],
        "n": pd.array([1, None, 3, 4, 5, 6, 7, 8], dtype="Int64"),
        "school_year": np.arange(2020, 2028, dtype="int64"),
        "suppressed": [True, False] * 4,
        "as_of_date": [pd.NA, "2024-01-31"] * 4,
        "group": list("abcdefgh"),
    })
    write_csv(frame, tmp_path / "ours.csv")
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    write_csv(frame.iloc[:0], tmp_path / "empty.csv")
    frame.iloc[:0].to_csv(tmp_path / "empty_pandas.csv", index=False)
    assert (tmp_path / "empty.csv").read_bytes() == (tmp_path / "empty_pandas.csv").read_bytes()


def test_a_withheld_cell_in_no_equation_is_not_recoverable() -> None:
    from ontrack.indicators.suppression import _recoverable

    cells = np.array([True, True, True])
    assert _recoverable([[(0, 1.0), (1, 1.0)]], cells, cells) == []


def test_cells_from_the_views_equal_cells_from_student_groups(tmp_path) -> None:
    from ontrack.config import load_config
    from ontrack.indicators.rates import rate_cells_sql, student_groups_sql
    from ontrack.indicators.rules import FLAGS_TABLE, build_students, drop_work_tables
    from ontrack.validation.store import open_validated
    from ontrack.synth import generate_district
    from ontrack.validation import validate_directory

    config = load_config()
    generate_district(tmp_path / "d", n_students=300, n_years=2, seed=5)
    validate_directory(tmp_path / "d", tmp_path / "o", config)
    con = open_validated(tmp_path / "o", config)
    try:
        build_students(con, config)
        direct = con.execute(rate_cells_sql(FLAGS_TABLE)).df()
        grouped = con.execute(rate_cells_sql(FLAGS_TABLE, f"({student_groups_sql()})")).df()
    finally:
        drop_work_tables(con)
        con.close()
    key = ["school_year", "indicator", "unit", "grade_level", "group_type", "group"]
    direct, grouped = (f.sort_values(key).reset_index(drop=True) for f in (direct, grouped))
    assert len(direct) > 100
    pd.testing.assert_frame_equal(direct, grouped)
