"""Daily attendance for a block of students, fully vectorised over students x days.

The log-odds of missing day ``d`` for student ``i`` is

    base(grade) - 1.1 * engagement_i - school effect
    + drift_i * (d / n_days - 0.5)          # most miss more as the year goes on
    + shock_i * [d >= shock_day_i]          # a mid-year decline for a few
    + week noise_{i, week(d)}               # illness and family episodes come in spells
    + day effect_d                          # Mondays, Fridays, days next to breaks

An absence is unexcused more often for disengaged students; a present day is a tardy
with a personal propensity. Out-of-school suspension days come from the discipline
records, so the two tables agree. Absent days for rates are excused + unexcused +
suspended (tardy counts as present).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ontrack.synth.events import OSS, Incidents
from ontrack.synth.roster import YearRoster
from ontrack.synth.world import Schools

STATUSES = (
    "present",
    "tardy",
    "absent_excused",
    "absent_unexcused",
    "suspended",
    "holiday",
)
PRESENT, TARDY, EXCUSED, UNEXCUSED, SUSPENDED, HOLIDAY = range(6)
# Base log-odds of an absence in grades 6..12, before student, week and day effects.
_BASE = np.array([-4.12, -4.02, -3.92, -3.63, -3.53, -3.48, -3.38])


@dataclass
class AttendanceBlock:
    """Attendance rows of one block (as dictionary codes) and per-quarter totals."""

    row_stu: np.ndarray  # local student index
    row_span: np.ndarray  # global span index
    row_day: np.ndarray  # index into SchoolCalendar.iso
    row_status: np.ndarray  # index into STATUSES
    quarter_enrolled: np.ndarray  # (students, 4)
    quarter_absent: np.ndarray  # (students, 4)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate_attendance(
    roster: YearRoster,
    stu: slice,
    spans: slice,
    schools: Schools,
    tardy: np.ndarray,
    incidents: Incidents,
    rng: np.random.Generator,
) -> AttendanceBlock:
    """Draw every enrolled day of the block's students; update span absence totals."""
    status = _daily_status(roster, stu, spans, schools, tardy, rng)
    _mark_suspensions(status, incidents)
    return _enrolled_rows(roster, stu, spans, status)


def _daily_status(
    roster: YearRoster,
    stu: slice,
    spans: slice,
    schools: Schools,
    tardy: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """(students, days) status codes from the model in the module docstring, drawn for
    every school day whether or not the student is enrolled on it."""
    cal = roster.cal
    n, n_days = stu.stop - stu.start, cal.n_days
    e, grade = roster.e[stu], roster.grade[stu]
    local = roster.span_stu[spans] - stu.start
    first = np.searchsorted(local, np.arange(n))
    school = roster.span_school[spans][first]
    base = _BASE[grade - 6] - 1.1 * e - schools.eng_effect[school]
    sed = roster.flags["socioeconomically_disadvantaged"][stu]
    t = np.arange(n_days, dtype=np.float32) / n_days - 0.5
    logit = rng.normal(0.0, 0.55, (n, cal.n_weeks)).astype(np.float32)[:, cal.week]
    logit += (base[:, None] + cal.day_effect[None, :]).astype(np.float32)
    logit += roster.drift[stu][:, None] * t[None, :]
    late = np.arange(n_days)[None, :] >= roster.shock_day[stu][:, None]
    logit += late * roster.shock[stu][:, None]
    p = 1.0 / (1.0 + np.exp(-logit))
    u = rng.random((n, n_days), dtype=np.float32)
    p_unexcused = _sigmoid(-0.3 - 0.9 * e + 0.3 * sed).astype(np.float32)
    p_tardy = _sigmoid(-3.0 + tardy - 0.4 * e).astype(np.float32)
    return np.where(
        u < p,
        np.where(u < p * p_unexcused[:, None], UNEXCUSED, EXCUSED),
        np.where(u > 1 - (1 - p) * p_tardy[:, None], TARDY, PRESENT),
    ).astype(np.uint8)


def _mark_suspensions(status: np.ndarray, incidents: Incidents) -> None:
    """Overwrite the days of every out-of-school suspension, so the two tables agree."""
    oss = incidents.action == OSS
    reps = incidents.days[oss]
    s_stu = np.repeat(incidents.stu[oss], reps)
    offset = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    status[s_stu, np.repeat(incidents.day[oss], reps) + offset] = SUSPENDED


def _enrolled_rows(
    roster: YearRoster, stu: slice, spans: slice, status: np.ndarray
) -> AttendanceBlock:
    """Keep the days inside each enrollment span as rows; total absences per span,
    per student and per quarter."""
    cal = roster.cal
    n, n_days = status.shape
    local = roster.span_stu[spans] - stu.start
    start, end = roster.span_start[spans], roster.span_end[spans]
    days = np.arange(n_days)
    mask = (days[None, :] >= start[:, None]) & (days[None, :] <= end[:, None])
    r, d = np.nonzero(mask)
    row_stu = local[r]
    row_status = status[row_stu, d]
    absent = (status >= EXCUSED) & (status <= SUSPENDED)
    cum = np.zeros((n, n_days + 1), np.int32)
    np.cumsum(absent, axis=1, out=cum[:, 1:])
    roster.span_absent[spans] = cum[local, end + 1] - cum[local, start]
    enrolled = np.zeros((n, n_days), bool)
    enrolled[row_stu, d] = True
    q_starts = cal.quarter_bounds()[:, 0]
    q_enrolled = np.add.reduceat(enrolled, q_starts, axis=1)
    q_absent = np.add.reduceat(enrolled & absent, q_starts, axis=1)
    span_days = end - start + 1
    roster.stats["days_enrolled"][stu] = np.bincount(local, span_days, minlength=n)
    roster.stats["days_absent"][stu] = np.bincount(
        local, roster.span_absent[spans], minlength=n
    )
    return AttendanceBlock(
        row_stu=row_stu,
        row_span=spans.start + r,
        row_day=d,
        row_status=row_status,
        quarter_enrolled=q_enrolled,
        quarter_absent=q_absent,
    )


def attendance_table(
    block: AttendanceBlock, sid: pa.Array, roster: YearRoster, schools: Schools
) -> pa.Table:
    """The block's rows as the ``attendance`` table."""
    school_ids = pa.array(schools.school_id, pa.string())
    return pa.table(
        {
            "student_id": sid.take(pa.array(block.row_stu)),
            "school_id": school_ids.take(pa.array(roster.span_school[block.row_span])),
            "date": roster.cal.iso.take(pa.array(block.row_day)),
            "status": pa.array(STATUSES, pa.string()).take(pa.array(block.row_status)),
        }
    )
