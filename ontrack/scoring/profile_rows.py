"""A batch's rows as plain Python values grouped per student: what a profile page reads
(pages never touch pandas; slicing frames per student cost more than rendering)."""

from __future__ import annotations

from itertools import repeat

import numpy as np
import pandas as pd

from ontrack.frames import distinct_rows


def grouped(frame: pd.DataFrame) -> dict[str, list[dict]]:
    """Each row as a dict of plain Python values (missing ones None), grouped per student
    (students in order of first appearance, each one's rows in the frame's order).

    The rows are first put in student order by a stable sort of the students' codes (C
    level), then built a column at a time (:func:`plain_column`) and the dicts made in
    one C-level pass; each student's rows are then one slice. A row-wise
    ``to_dict("records")`` boxed every cell on its own, and a Python step per row (to
    file it under its student) was still most of gathering a batch."""
    if frame.empty:
        return {}
    codes, students = pd.factorize(frame["student_id"].astype(str), use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    frame = frame.take(order)
    names = [str(c) for c in frame.columns]
    columns = [plain_column(frame.iloc[:, i]) for i in range(len(names))]
    rows = list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))
    return _per_student(rows, codes, students)


def shared_rows(frame: pd.DataFrame) -> dict[str, list[dict]]:
    """As :func:`grouped`, but rows equal in every column but ``student_id`` are one dict
    (without ``student_id``) in every list that holds them: a batch's course marks repeat
    a few thousand distinct records on 500,000 rows, and a page's markup for a record is
    then worked out once (see reports/profiles.py). The dicts are shared: read only."""
    if frame.empty:
        return {}
    codes, students = pd.factorize(frame["student_id"].astype(str), use_na_sentinel=False)
    rest = frame.drop(columns="student_id")
    numbers, first = distinct_rows(rest)  # records numbered in order of first appearance
    distinct = grouped(rest.iloc[first].assign(student_id="")).get("", [])
    for record in distinct:
        del record["student_id"]
    order = np.argsort(codes, kind="stable")
    return _per_student(list(map(distinct.__getitem__, numbers[order].tolist())), codes, students)


def _per_student(rows: list[dict], codes: np.ndarray, students: pd.Index) -> dict[str, list[dict]]:
    """``rows`` (in the stable order of the students' ``codes``) cut into each student's
    slice, students in order of first appearance."""
    ends = np.cumsum(np.bincount(codes, minlength=len(students))).tolist()
    return {student: rows[start:end]
            for student, start, end in zip(students.tolist(), [0, *ends[:-1]], ends, strict=True)}


def plain_column(column: pd.Series) -> list:
    """A column's values as Python objects (missing ones None). Dates are boxed once per
    distinct value (a batch's course marks repeat a few term ends on 200,000 rows, and
    boxing each cell as a Timestamp cost more than the rest of the column)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        codes, distinct = pd.factorize(column, use_na_sentinel=True)
        boxed = [*distinct.astype(object).tolist(), None]  # code -1 (missing) reads the None
        return [boxed[c] for c in codes.tolist()]
    values = column.astype(object).tolist()
    for j in np.flatnonzero(column.isna().to_numpy()).tolist():
        values[j] = None
    # An object column may hold numpy scalars in any row; a typed column's tolist
    # already gave Python values.
    if column.dtype == object:
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
    return values
