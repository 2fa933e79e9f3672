"""The cheap cycle test of suppression never calls a pinned-down cell safe.

``_safe_by_cycles`` lets the exact check skip groups of withheld cells; it is sound only
if every cell it calls safe really has another value consistent with the published
table. Checked here against the exact linear algebra on random districts and random
sets of withheld cells.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ontrack.indicators.rates import rate_cells_sql, wide_statuses_sql
from ontrack.indicators.suppression import (
    _blocks,
    _equations,
    _on_cycle,
    _pinned,
    _safe_by_cycles,
)
from tests.test_suppression import make

student = st.fixed_dictionaries(
    {
        "school": st.sampled_from(["A", "B", "C"]),
        "status": st.sampled_from(["met", "not_met"]),
        "race": st.sampled_from(["asian", "black", "white", None]),
        "gender": st.sampled_from(["F", "M"]),
        "english_learner": st.booleans(),
    }
)


def _cells(students: list[dict]) -> pd.DataFrame:
    frame, groups = make(students)
    con = duckdb.connect()
    con.register("students_in", frame)
    con.register("groups_in", groups)
    cells = con.execute(rate_cells_sql(f"({wide_statuses_sql('students_in')})", "groups_in")).df()
    con.close()
    cells["n"] = cells["n"].astype("int64")
    return cells.sort_values(["unit", "group_type", "group"]).reset_index(drop=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(student, min_size=5, max_size=60), st.randoms(use_true_random=False))
def test_a_cell_on_a_cycle_is_never_pinned_down(students, rng):
    ((_, block),) = _blocks(_cells(students))
    hidden = np.array([rng.random() < 0.5 for _ in range(len(block.n))])
    safe = _safe_by_cycles(block, hidden)
    members = np.flatnonzero(hidden).tolist()
    if not members:
        return
    equations = _equations(block)
    rows = {e for e, eq in enumerate(equations) if any(hidden[i] for i, _ in eq)}
    pinned = set(_pinned(members, rows, equations, [True] * len(hidden)))
    assert not any(safe[m] for m in pinned)
    assert not safe[~hidden].any()


def test_bridges_of_a_small_graph():
    """A square (rows a, b; columns x, y) plus a pendant edge c-x: the pendant edge is a
    bridge, the square's four edges lie on its cycle."""
    rows = np.array(["a", "a", "b", "b", "c"], dtype=object)
    cols = np.array(["x", "y", "x", "y", "x"], dtype=object)
    assert _on_cycle(rows, cols).tolist() == [True, True, True, True, False]
