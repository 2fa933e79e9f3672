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
   equation touching its group (same preference). A group whose protected cells all
   lie on a cycle of withheld cells in their group type's unit x group table is safe
   without the algebra (see :func:`_safe_by_cycles`). At 200k students that holds for
   every group: the cycle test took 0.08 s where the algebra took 0.48 s.

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


def _on_cycle(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """For the edges ``(rows[i], cols[i])`` of a bipartite graph: True where edge ``i``
    lies on a cycle, i.e. is not a bridge (Tarjan's low-link, iterative)."""
    n_edges = len(rows)
    row_codes, row_values = pd.factorize(rows)
    col_codes, col_values = pd.factorize(cols)
    n_nodes = len(row_values) + len(col_values)
    ends = np.concatenate([row_codes, col_codes + len(row_values)])
    others = np.concatenate([col_codes + len(row_values), row_codes])
    order = np.argsort(ends, kind="stable")
    first = np.searchsorted(ends[order], np.arange(n_nodes + 1)).tolist()
    neighbour = others[order].tolist()
    edge = np.concatenate([np.arange(n_edges)] * 2)[order].tolist()
    disc, low, bridge = [-1] * n_nodes, [0] * n_nodes, [False] * n_edges
    clock = 0
    for root in range(n_nodes):
        if disc[root] >= 0:
            continue
        disc[root] = low[root] = clock
        clock += 1
        nodes, via, cursor = [root], [-1], [first[root]]
        while nodes:
            node, i = nodes[-1], cursor[-1]
            if i < first[node + 1]:
                cursor[-1] = i + 1
                if edge[i] == via[-1]:
                    continue
                nxt = neighbour[i]
                if disc[nxt] < 0:
                    disc[nxt] = low[nxt] = clock
                    clock += 1
                    nodes.append(nxt)
                    via.append(edge[i])
                    cursor.append(first[nxt])
                elif disc[nxt] < low[node]:
                    low[node] = disc[nxt]
                continue
            nodes.pop()
            cursor.pop()
            came_by = via.pop()
            if nodes:
                parent = nodes[-1]
                low[parent] = min(low[parent], low[node])
                if low[node] > disc[parent]:
                    bridge[came_by] = True
    return ~np.array(bridge, dtype=bool)


def _safe_by_cycles(block: _Block, hidden: np.ndarray) -> np.ndarray:
    """Hidden subgroup cells that no chain of equations can pin down, found cheaply.

    Within one group type the cells form a table: rows are units (district and
    schools), columns the groups. Put +1 and -1 alternately on the hidden cells along
    a cycle of that table (row, column, row, ...; -1 times the district's cells): every
    partition and hierarchy equation still balances, the all-students cells and every
    published cell stay as they are, so the equations cannot tell the values apart.
    A hidden cell on such a cycle is therefore never recoverable. Hidden ``all`` cells
    sit in several tables at once and are left to the exact check.
    """
    safe = np.zeros(len(hidden), dtype=bool)
    edges = np.flatnonzero(hidden & (block.group_type != "all"))
    if len(edges):
        safe[edges] = _on_cycle(block.unit_type[edges], block.type_group[edges])
    return safe


def _recoverable(
    equations: list[list[tuple[int, float]]],
    hidden: np.ndarray,
    protected: np.ndarray,
    equations_of: list[list[int]] | None = None,
    safe: np.ndarray | None = None,
) -> list[tuple[int, set[int]]]:
    """Protected hidden cells whose value the equations pin down, with their unknown group.

    Unknown cells linked through shared equations form groups that can be solved
    separately; only groups holding a protected cell are checked, and only by linear
    algebra when one of their protected cells is not already known to be ``safe``
    (:func:`_safe_by_cycles`): such a group has nothing to find.
    """
    if equations_of is None:
        equations_of = [[] for _ in range(len(hidden))]
        for e, eq in enumerate(equations):
            for i, _ in eq:
                equations_of[i].append(e)
    seen: set[int] = set()
    found = []
    unknown, guarded = hidden.tolist(), protected.tolist()  # lists index fastest
    safe = None if safe is None else safe.tolist()
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
        if safe is not None and all(safe[m] for m in members if guarded[m]):
            continue
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
        now_hidden = np.array(hidden)
        exposed = _recoverable(equations, now_hidden, np.array(protected), equations_of,
                               _safe_by_cycles(block, now_hidden))
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
