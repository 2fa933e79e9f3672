"""Small-cell suppression with complementary suppression for the published rates.

The published table has additive structure. Within one *block* (district, school year,
indicator, grade) every count is a cell ``(unit, group)``, where the unit is the district
or one of its schools, and two kinds of equations hold:

- **partitions**: for each unit, the ``all`` cell equals the sum of the categories of
  each group type (race/ethnicity values incl. ``not_reported``; gender values; and
  for each program flag ``yes`` + ``no``);
- **hierarchy**: for each group, the district cell equals the sum of its schools' cells.

Cells with ``publish=False`` (the ``no`` side of a flag, never published) are always
unknown to a reader; the same holds for suppressed cells. A withheld value is
*recoverable* when the published values and these equations pin it down exactly, i.e.
when its unit vector lies in the row space of the equations restricted to the unknown
cells.

Algorithm, per block:

1. *Primary*: a publishable cell with ``n < min_group_size`` is withheld (n, n_met,
   rate and n_unknown all go).
2. *Protected* cells are the withheld publishable cells and the never-published cells
   with ``0 < n < min_group_size``; a cell with ``n = 0`` has nothing to disclose.
3. *Complementary*: while some equation holds exactly one unknown cell and that cell
   is protected, withhold another published cell of that equation: the one whose loss
   leaves the fewest other equations with a single unknown (each would cascade into
   one more withheld cell), then a subgroup cell before an ``all`` cell, a school cell
   before the district's, and the smallest n. Then check exactly, by linear algebra
   on each connected group of unknown cells, that no protected cell is recoverable
   through a chain of equations; while one is, withhold one more published cell of an
   equation touching its group (same preference).

Not covered (documented): bounds attacks (a published 0% or 100% rate reveals every
member's status), and differences between indicators or years.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

try:  # installed with scikit-learn; small matrices run faster on one BLAS thread
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

BLOCK_KEYS: tuple[str, ...] = ("district_id", "school_year", "indicator", "grade_level")
PRIMARY = "primary"
COMPLEMENTARY = "complementary"
_TOL = 1e-9


@dataclass(frozen=True)
class _Block:
    """The cells of one block as plain arrays (fast to loop over)."""

    unit: list[str]
    group_type: list[str]
    group: list[str]
    is_district: np.ndarray
    n: np.ndarray
    publish: np.ndarray


def _equations(block: _Block) -> list[list[tuple[int, float]]]:
    """The partition and hierarchy equations of one block, on positional cell indices."""
    keys = zip(block.unit, block.group_type, block.group, strict=True)
    pos = {key: i for i, key in enumerate(keys)}
    equations: list[list[tuple[int, float]]] = []
    by_unit_type: dict[tuple[str, str], list[int]] = defaultdict(list)
    for (unit, gtype, _group), i in pos.items():
        if gtype != "all":
            by_unit_type[(unit, gtype)].append(i)
    for (unit, _gtype), parts in by_unit_type.items():
        total = pos.get((unit, "all", "all"))
        if total is not None:
            equations.append([(total, 1.0), *((p, -1.0) for p in parts)])
    tops = {block.unit[i] for i in np.flatnonzero(block.is_district)}
    if len(tops) == 1:
        top = tops.pop()
        by_group: dict[tuple[str, str], list[int]] = defaultdict(list)
        for (unit, gtype, group), i in pos.items():
            if unit != top:
                by_group[(gtype, group)].append(i)
        for key, parts in by_group.items():
            total = pos.get((top, *key))
            if total is not None:
                equations.append([(total, 1.0), *((p, -1.0) for p in parts)])
    return equations


def _preference(block: _Block) -> np.ndarray:
    """Candidate order: subgroup before all, school before district, small n first."""
    is_all = np.array([g == "all" for g in block.group_type])
    return is_all * 1e12 + block.is_district * 1e9 + block.n.astype(float)


def _row_space_weight(matrix: np.ndarray) -> np.ndarray:
    """Squared norm of each unit vector's projection on the row space of ``matrix``.

    A cell's value is pinned down by the equations exactly when its unit vector lies in
    the row space, i.e. when this weight is 1. The row space is found from the
    eigenvectors of the smaller Gram matrix (equations x equations, or cells x cells),
    which is much cheaper than an SVD when one side is short.
    """
    rows, cols = matrix.shape
    if rows < cols:
        values, vectors = np.linalg.eigh(matrix @ matrix.T)
        keep = values > _TOL * max(1.0, values.max(initial=0.0))
        basis = (matrix.T @ vectors[:, keep]) / np.sqrt(values[keep])
    else:
        values, vectors = np.linalg.eigh(matrix.T @ matrix)
        keep = values > _TOL * max(1.0, values.max(initial=0.0))
        basis = vectors[:, keep]
    return (basis**2).sum(axis=1)


def _recoverable(
    equations: list[list[tuple[int, float]]],
    hidden: np.ndarray,
    protected: np.ndarray,
    equations_of: list[list[int]] | None = None,
) -> list[tuple[int, set[int]]]:
    """Protected hidden cells whose value the equations pin down, with their unknown group.

    Unknown cells linked through shared equations form groups that can be solved
    separately; only groups holding a protected cell are checked.
    """
    if equations_of is None:
        equations_of = [[] for _ in range(len(hidden))]
        for e, eq in enumerate(equations):
            for i, _ in eq:
                equations_of[i].append(e)
    seen: set[int] = set()
    found = []
    for start in np.flatnonzero(hidden & protected).tolist():
        if start in seen:
            continue
        seen.add(start)
        members, rows, stack = [], set(), [start]
        while stack:  # walk the group: cells -> their equations -> their unknown cells
            cell = stack.pop()
            members.append(cell)
            for e in equations_of[cell]:
                if e in rows:
                    continue
                rows.add(e)
                for i, _ in equations[e]:
                    if hidden[i] and i not in seen:
                        seen.add(i)
                        stack.append(i)
        col = {cell: j for j, cell in enumerate(members)}
        matrix = np.zeros((len(rows), len(members)))
        for r, e in enumerate(rows):
            for i, coef in equations[e]:
                if i in col:
                    matrix[r, col[i]] = coef
        weight = _row_space_weight(matrix)
        member_set = set(members)
        found += [(m, member_set) for m in members if protected[m] and weight[col[m]] > 1 - 1e-7]
    return found


def _suppress_block(block: _Block, min_size: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Primary and complementary suppression of one block (see the module docstring)."""
    n, publish = block.n, block.publish
    hidden = ~publish | (n < min_size)
    reason = np.where(publish & (n < min_size), PRIMARY, "").astype(object)
    because = [""] * len(n)
    protected = hidden & (n > 0) & (publish | (n < min_size))
    equations = _equations(block)
    pref = _preference(block)
    keys = zip(block.unit, block.group_type, block.group, strict=True)
    labels = [f"{u} {t}={g}" for u, t, g in keys]

    members_of = [[i for i, _ in eq] for eq in equations]
    equations_of: list[list[int]] = [[] for _ in range(len(n))]
    for e, members in enumerate(members_of):
        for i in members:
            equations_of[i].append(e)
    unknowns = [sum(1 for i in members if hidden[i]) for members in members_of]

    def cascades(cell: int) -> int:
        """Equations that hiding ``cell`` would leave with a single unknown."""
        return sum(1 for e in equations_of[cell] if unknowns[e] == 0)

    def hide(candidates: list[int], cause: int) -> bool:
        visible = [c for c in candidates if not hidden[c]]
        if not visible:
            return False
        # Fewest new single-unknown equations first (each would need another cell
        # withheld), then subgroup before all, school before district, smallest n.
        pick = min(visible, key=lambda c: (cascades(c), pref[c]))
        hidden[pick] = protected[pick] = True
        reason[pick] = COMPLEMENTARY
        because[pick] = labels[cause]
        for e in equations_of[pick]:
            unknowns[e] += 1
        return True

    while True:
        changed = True
        while changed:  # cheap pass: an equation with a single unknown, protected cell
            changed = False
            for e, members in enumerate(members_of):
                if unknowns[e] != 1:
                    continue
                alone = next(i for i in members if hidden[i])
                if protected[alone]:
                    changed |= hide(members, alone)
        exposed = _recoverable(equations, hidden, protected, equations_of)
        if not exposed:
            break
        cell, group = exposed[0]
        near = sorted({i for c in group for e in equations_of[c] for i in members_of[e]})
        if not hide(near, cell):  # pragma: no cover - every equation is already unknown
            break
    return hidden, list(reason), because


def suppress(cells: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """Mark withheld cells: ``suppressed``, ``suppression`` (primary/complementary), ``protects``.

    ``cells`` needs the block keys, ``level`` (district/school), ``unit`` (unique per
    unit within a block), ``group_type``, ``group``, ``n`` and ``publish``. For a
    complementary cell, ``protects`` names the withheld cell that made it necessary.
    """
    cells = cells.reset_index(drop=True).copy()
    unit = cells["unit"].astype(str).tolist()
    gtype = cells["group_type"].astype(str).tolist()
    group = cells["group"].astype(str).tolist()
    is_district = (cells["level"] == "district").to_numpy(dtype=bool)
    n = cells["n"].to_numpy(dtype=np.int64)
    publish = cells["publish"].to_numpy(dtype=bool)
    suppressed = np.zeros(len(cells), dtype=bool)
    suppression = np.full(len(cells), "", dtype=object)
    protects = np.full(len(cells), "", dtype=object)
    blocks = [
        (
            rows,
            _Block(
                unit=[unit[i] for i in rows],
                group_type=[gtype[i] for i in rows],
                group=[group[i] for i in rows],
                is_district=is_district[rows],
                n=n[rows],
                publish=publish[rows],
            ),
        )
        for rows in cells.groupby(list(BLOCK_KEYS), sort=False, dropna=False).indices.values()
    ]
    one_thread = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
    with one_thread:
        for rows, block in blocks:
            hidden, reason, because = _suppress_block(block, min_size)
            suppressed[rows], suppression[rows], protects[rows] = hidden, reason, because
    cells["suppressed"] = suppressed
    cells["suppression"] = suppression
    cells["protects"] = protects
    return cells
