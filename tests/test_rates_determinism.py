"""The same data always withholds the same cells, whatever order the engine returns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ontrack.config import load_config
from ontrack.indicators.rates import finish_rates, rate_cells_sql, student_groups_sql
from ontrack.indicators.rules import FLAGS_TABLE, build_students, drop_work_tables
from ontrack.validation.store import open_validated
from ontrack.synth import generate_district
from ontrack.validation import validate_directory


def test_suppression_does_not_depend_on_row_order(tmp_path: Path) -> None:
    config = load_config()
    generate_district(tmp_path / "d", n_students=400, n_years=2, seed=3)
    validate_directory(tmp_path / "d", tmp_path / "o", config)
    con = open_validated(tmp_path / "o", config)
    try:
        build_students(con, config)
        cells = con.execute(rate_cells_sql(FLAGS_TABLE, f"({student_groups_sql()})")).df()
    finally:
        drop_work_tables(con)
        con.close()
    first, _ = finish_rates(cells.copy(), config)
    shuffled, _ = finish_rates(cells.sample(frac=1, random_state=7).copy(), config)
    assert first["suppressed"].any() and not first["suppressed"].all()
    pd.testing.assert_frame_equal(first, shuffled)
