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
from dataclasses import dataclass
from itertools import pairwise, repeat
from operator import itemgetter

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
    """The cells of one block as arrays: labels for the log, integer codes for the equations.

    ``unit_type`` codes a (unit, group type) pair and ``type_group`` a (group type, group)
    pair, both over the whole table, so that grouping cells is integer work.
    """

    unit: np.ndarray
    group_type: np.ndarray
    group: np.ndarray
    unit_code: np.ndarray
    unit_type: np.ndarray
    type_group: np.ndarray
    is_district: np.ndarray
    n: np.ndarray
    publish: np.ndarray

    def label(self, i: int) -> str:
        """How the log names cell ``i`` (``school:A race_ethnicity=white``)."""
        return f"{self.unit[i]} {self.group_type[i]}={self.group[i]}"


def _grouped(keys: np.ndarray, positions: np.ndarray) -> list[list[int]]:
    """``positions`` split by ``keys``: keys in order of first appearance, positions kept
    in ascending order inside each group (the order the equations are scanned in)."""
    if len(positions) == 0:
        return []
    codes, _ = pd.factorize(keys)
    order = np.argsort(codes, kind="stable")
    bounds = [0, *(np.flatnonzero(np.diff(codes[order])) + 1).tolist(), len(order)]
    ordered = positions[order].tolist()
    return [ordered[a:b] for a, b in pairwise(bounds)]


def _sums(
    totals: dict[int, int], group_keys: np.ndarray, total_keys: np.ndarray, parts: np.ndarray
) -> list[list[tuple[int, float]]]:
    """``total - sum(parts) = 0`` for each group of ``parts`` (by ``group_keys``) whose
    total cell exists (``totals`` maps the ``total_keys`` code of a part to it)."""
    equations = []
    for members in _grouped(group_keys[parts], parts):
        total = totals.get(int(total_keys[members[0]]))
        if total is not None:
            equations.append([(total, 1.0), *zip(members, repeat(-1.0))])
    return equations


def _equations(block: _Block) -> list[list[tuple[int, float]]]:
    """The partition and hierarchy equations of one block, on positional cell indices.

    Partitions first (each unit's group types, in order of first appearance), then the
    hierarchy (each group's schools under the district), in the order the cheap pass of
    :func:`_suppress_block` scans them.
    """
    is_all = block.group_type == "all"
    totals = np.flatnonzero(is_all & (block.group == "all"))
    by_unit = dict(zip(block.unit_code[totals].tolist(), totals.tolist(), strict=True))
    parts = np.flatnonzero(~is_all)
    equations = _sums(by_unit, block.unit_type, block.unit_code, parts)
    tops = set(block.unit_code[block.is_district].tolist())
    if len(tops) == 1:
        at_top = block.unit_code == tops.pop()
        top = np.flatnonzero(at_top)
        by_group = dict(zip(block.type_group[top].tolist(), top.tolist(), strict=True))
        rest = np.flatnonzero(~at_top)
        equations += _sums(by_group, block.type_group, block.type_group, rest)
    return equations


def _preference(block: _Block) -> np.ndarray:
    """Candidate order: subgroup before all, school before district, small n first."""
    is_all = block.group_type == "all"
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
    unknown, guarded = hidden.tolist(), protected.tolist()  # lists index fastest
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
                    if unknown[i] and i not in seen:
                        seen.add(i)
                        stack.append(i)
        member_set = set(members)
        found += [(m, member_set) for m in _pinned(members, rows, equations, guarded)]
    return found


def _pinned(
    members: list[int], rows: set[int], equations: list[list[tuple[int, float]]],
    guarded: list[bool],
) -> list[int]:
    """The protected ``members`` that the equations ``rows`` pin down exactly."""
    col = {cell: j for j, cell in enumerate(members)}
    entries = [(r, col[i], coef) for r, e in enumerate(rows)
               for i, coef in equations[e] if i in col]
    matrix = np.zeros((len(rows), len(members)))
    if entries:  # a cell in no equation has nothing to pin it down
        r_idx, c_idx, coefs = zip(*entries, strict=True)
        matrix[list(r_idx), list(c_idx)] = coefs
    weight = _row_space_weight(matrix).tolist()
    return [m for m in members if guarded[m] and weight[col[m]] > 1 - 1e-7]


def _suppress_block(block: _Block, min_size: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Primary and complementary suppression of one block (see the module docstring)."""
    n, publish = block.n, block.publish
    withheld = ~publish | (n < min_size)
    reason = np.where(publish & (n < min_size), PRIMARY, "").astype(object)
    because = [""] * len(n)
    # The loops below index one cell at a time: Python lists do that fastest.
    protected = (withheld & (n > 0) & (publish | (n < min_size))).tolist()
    hidden = withheld.tolist()
    equations = _equations(block)
    pref = _preference(block).tolist()

    members_of = [list(map(itemgetter(0), eq)) for eq in equations]
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
        because[pick] = block.label(cause)
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
        exposed = _recoverable(equations, np.array(hidden), np.array(protected), equations_of)
        if not exposed:
            break
        cell, group = exposed[0]
        near = sorted({i for c in group for e in equations_of[c] for i in members_of[e]})
        if not hide(near, cell):  # pragma: no cover - every equation is already unknown
            break
    return np.array(hidden, dtype=bool), list(reason), because


def _codes(*columns: np.ndarray) -> np.ndarray:
    """One integer code per distinct combination of the (string) columns."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        values, uniques = pd.factorize(col)
        code = code * len(uniques) + values
    return code


def _blocks(cells: pd.DataFrame) -> list[tuple[np.ndarray, _Block]]:
    """The cells' row positions and arrays per block, in order of first appearance."""
    unit = cells["unit"].astype(str).to_numpy(dtype=object)
    gtype = cells["group_type"].astype(str).to_numpy(dtype=object)
    group = cells["group"].astype(str).to_numpy(dtype=object)
    unit_code = _codes(unit)
    columns = {
        "unit": unit,
        "group_type": gtype,
        "group": group,
        "unit_code": unit_code,
        "unit_type": _codes(unit, gtype),
        "type_group": _codes(gtype, group),
        "is_district": (cells["level"] == "district").to_numpy(dtype=bool),
        "n": cells["n"].to_numpy(dtype=np.int64),
        "publish": cells["publish"].to_numpy(dtype=bool),
    }
    groups = cells.groupby(list(BLOCK_KEYS), sort=False, dropna=False).indices.values()
    return [(rows, _Block(**{k: v[rows] for k, v in columns.items()})) for rows in groups]


def suppress(cells: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """Mark withheld cells: ``suppressed``, ``suppression`` (primary/complementary), ``protects``.

    ``cells`` needs the block keys, ``level`` (district/school), ``unit`` (unique per
    unit within a block), ``group_type``, ``group``, ``n`` and ``publish``. For a
    complementary cell, ``protects`` names the withheld cell that made it necessary.
    """
    cells = cells.reset_index(drop=True).copy()
    suppressed = np.zeros(len(cells), dtype=bool)
    suppression = np.full(len(cells), "", dtype=object)
    protects = np.full(len(cells), "", dtype=object)
    blocks = _blocks(cells)
    one_thread = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
    with one_thread:
        for rows, block in blocks:
            hidden, reason, because = _suppress_block(block, min_size)
            suppressed[rows], suppression[rows], protects[rows] = hidden, reason, because
    cells["suppressed"] = suppressed
    cells["suppression"] = suppression
    cells["protects"] = protects
    return cells
