"""Deliberate mess: a handful of bad rows that validation must catch.

All of it lands in one school year (the second-to-last year with daily attendance) and
is drawn from its own random stream, so the clean data are identical with and without
mess. Every injection is recorded as a :class:`MessItem` in the run's summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ontrack.synth.attendance import HOLIDAY, PRESENT, UNEXCUSED, AttendanceBlock
from ontrack.synth.marks import NUMBER0, E, MarkBlock, W
from ontrack.synth.roster import COMPLETED, TRANSFER, YearRoster


@dataclass(frozen=True)
class MessItem:
    """One kind of deliberate error: what, in which table, how many rows, where."""

    kind: str
    table: str
    count: int
    detail: str


class Mess:
    """Injects the mess into one year's blocks and tables, and remembers what it did."""

    def __init__(self, seed: int, school_year: int) -> None:
        self.school_year = school_year
        self.items: list[MessItem] = []
        self._rng = np.random.default_rng([seed, 20240230])

    def _note(self, kind: str, table: str, count: int, detail: str) -> None:
        if count:
            self.items.append(MessItem(kind, table, count, detail))

    def attendance(
        self, block: AttendanceBlock, roster: YearRoster, sid: pa.Array
    ) -> None:
        """Duplicates, a 'holiday' status, an impossible date, days after leaving."""
        rng, cal = self._rng, roster.cal
        n = len(block.row_stu)
        if n < 20:
            return
        picks = rng.choice(n, 6, replace=False)
        dup, bad_date = np.sort(picks[:5]), picks[5]
        present = block.row_status == PRESENT
        present[picks] = False
        holiday = rng.choice(np.flatnonzero(present))
        block.row_status[holiday] = HOLIDAY
        who = sid[block.row_stu[holiday]]
        self._note("unknown_status", "attendance", 1, f"status 'holiday' for {who}")
        insert_at = [*dup, bad_date]
        extra_day = [*block.row_day[dup], cal.impossible_day]
        extra_status = [*block.row_status[dup], block.row_status[bad_date]]
        rows_after = list(insert_at)
        extra_stu = list(block.row_stu[insert_at])
        extra_span = list(block.row_span[insert_at])
        # Two days after a student left the district: no enrollment covers them.
        last = roster.last_span
        ends = roster.span_end[last]
        left = last[(roster.span_reason[last] == TRANSFER) & (ends <= cal.n_days - 4)]
        in_block = np.flatnonzero(np.isin(block.row_span, left))
        n_after = 0
        if len(in_block):
            row = in_block[-1]
            span = block.row_span[row]
            rows = np.flatnonzero(block.row_span == span)
            for k in (2, 3):
                rows_after.append(rows[-1])
                extra_stu.append(block.row_stu[row])
                extra_span.append(span)
                extra_day.append(roster.span_end[span] + k)
                extra_status.append(UNEXCUSED)
            n_after = 2
            leaver = sid[block.row_stu[row]]
        order = np.argsort(np.concatenate([np.arange(n), rows_after]), kind="stable")
        for name, extra in (("row_stu", extra_stu), ("row_span", extra_span),
                            ("row_day", extra_day), ("row_status", extra_status)):
            full = np.concatenate([getattr(block, name), np.asarray(extra, np.int64)])
            setattr(block, name, full[order])  # fmt: skip
        self._note("duplicate_row", "attendance", 5,
                   f"5 rows of {self.school_year} repeated verbatim")
        self._note("impossible_date", "attendance", 1,
                   f"date '{cal.iso[cal.impossible_day]}'")
        if n_after:
            self._note("date_outside_enrollment", "attendance", n_after,
                       f"{leaver} absent after leaving the district")  # fmt: skip

    def marks(self, block: MarkBlock, sid: pa.Array) -> None:
        """A mark 'E', a numeric mark 105 and a negative credits_earned."""
        rng = self._rng
        final = ~np.isnan(block.earned) & (block.mark != W)
        letters = np.flatnonzero(final & (block.mark < 13))
        numbers = np.flatnonzero(final & (block.mark >= NUMBER0))
        earners = np.flatnonzero(block.earned == 0.5)
        if not (len(letters) and len(earners)):
            return
        e_row = rng.choice(letters)
        block.mark[e_row] = E
        self._note("invalid_mark", "course_marks", 1,
                   f"mark 'E' for {sid[block.row_stu[e_row]]}")
        pool = numbers if len(numbers) else letters[letters != e_row]
        big = rng.choice(pool)
        block.mark[big] = NUMBER0 + 105
        self._note("mark_out_of_range", "course_marks", 1,
                   f"mark '105' for {sid[block.row_stu[big]]}")
        earners = earners[(earners != e_row) & (earners != big)]
        if not len(earners):
            return
        neg = rng.choice(earners)
        block.earned[neg] = -0.5
        self._note("negative_credits", "course_marks", 1,
                   f"credits_earned -0.5 for {sid[block.row_stu[neg]]}")  # fmt: skip

    def enrollments(self, table: pa.Table, roster: YearRoster) -> pa.Table:
        """Add one enrollment whose exit_date is a week before its entry_date."""
        rng, cal = self._rng, roster.cal
        whole = np.flatnonzero(
            (roster.span_start == 0) & (roster.span_reason == COMPLETED)
        )
        if not len(whole):
            return table
        row = int(rng.choice(whole))
        entry = int(rng.integers(60, cal.n_days - 30))
        bad = table.slice(row, 1).to_pylist()[0]
        bad.update(entry_date=cal.date(entry), exit_date=cal.date(entry - 5),
                   exit_reason="transfer")  # fmt: skip
        self._note("exit_before_entry", "enrollments", 1,
                   f"student {bad['student_id']} exits {bad['exit_date']}, "
                   f"enters {bad['entry_date']}")  # fmt: skip
        return _insert_after(table, row, bad)

    def students(self, table: pa.Table) -> pa.Table:
        """Repeat one student's row with a different gender."""
        k = int(self._rng.integers(table.num_rows))
        original = table.slice(k, 1).to_pylist()[0]
        twin = dict(original, gender={"F": "M", "M": "F"}.get(original["gender"], "F"))
        self._note("conflicting_duplicate", "students", 1,
                   f"student {twin['student_id']} listed as {original['gender']} "
                   f"and {twin['gender']}")  # fmt: skip
        table = _insert_after(table, k, twin)
        return self._blank_names(table)

    def _blank_names(self, table: pa.Table) -> pa.Table:
        """Leave a few names empty (not an error: names are optional, so not listed)."""
        n = table.num_rows
        rows = self._rng.choice(n, min(3, n), replace=False)
        for column, picks in (("first_name", rows[:1]), ("last_name", rows[1:])):
            values = table.column(column).to_pylist()
            for r in picks:
                values[int(r)] = None
            at = table.schema.get_field_index(column)
            table = table.set_column(at, column, pa.array(values, pa.string()))
        return table


def _insert_after(table: pa.Table, row: int, values: dict) -> pa.Table:
    """``table`` with one row (given as a dict) inserted after position ``row``."""
    extra = pa.Table.from_pylist([values], schema=table.schema)
    return pa.concat_tables(
        [table.slice(0, row + 1), extra, table.slice(row + 1)]
    ).combine_chunks()
