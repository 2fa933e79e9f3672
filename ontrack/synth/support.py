"""Supports the synthetic district gives its students, and what they do.

Three programmes, assigned in three different ways so that each impact estimate has a
case it should get right:

- ``mentoring`` **by a cutoff**: every 8th grader whose attendance rate through Jan 31
  was below 0.92 (days attended, tardy included, over days enrolled, on the daily rows
  dated on or before Jan 31) and who is still enrolled on the first instructional day
  on or after Feb 1 is mentored from that day to the end of the year. Only years with
  daily attendance rows run the programme (the district decides from its daily data).
- ``tutoring`` **at random**: 15% of the 9th graders enrolled in mid-October.
- ``attendance_plan`` **by need**: 8th and 9th graders, more likely the worse their
  attendance through November; no effect on marks (a naive comparison makes it look
  harmful, a fair one should not).

Mentoring lifts the latent mark of every course in all four quarters of the student's
first 9th-grade year by ``MENTOR_LIFT`` grade points; tutoring lifts quarters 2-4 of
the 9th-grade year it is given in by ``TUTOR_LIFT``. Every draw here comes from the
support's own random stream, so the rest of the district keeps its random numbers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ontrack.synth.attendance import EXCUSED, SUSPENDED, AttendanceBlock
from ontrack.synth.roster import YearRoster
from ontrack.synth.world import Population, Schools

MENTOR_CUTOFF = 0.92
MENTOR_LIFT = 0.75
TUTOR_SHARE = 0.15
TUTOR_LIFT = 0.4
TUTOR_OPEN_SHARE = 0.25
_ABSENT = (EXCUSED, SUSPENDED)


def support_spec() -> dict:
    """How each support is assigned and what it does (recorded in ``_synth.json``)."""
    return {
        "mentoring": {
            "assigned": "cutoff",
            "cutoff": {
                "intervention_type": "mentoring",
                "variable": "readiness.attendance",
                "as_of": "01-31",
                "threshold": MENTOR_CUTOFF,
                "treated": "below",
                "outcome": "on_track_9",
            },
            "grade": 8,
            "start": "first instructional day on or after Feb 1",
            "effect": {
                "mark_lift": MENTOR_LIFT,
                "acts_on": "latent mark of every course, Q1-Q4 of the first 9th-grade year",
            },
        },
        "tutoring": {
            "assigned": "random",
            "share": TUTOR_SHARE,
            "grade": 9,
            "start": "first instructional day on or after Oct 15",
            "effect": {
                "mark_lift": TUTOR_LIFT,
                "acts_on": "latent mark of every course, Q2-Q4 of that 9th-grade year",
            },
        },
        "attendance_plan": {
            "assigned": "need",
            "need": "attendance rate through Nov 30 (more likely the lower)",
            "grades": [8, 9],
            "effect": {"mark_lift": 0.0, "acts_on": "nothing"},
        },
        "truth": "_truth/course_marks_without_support.parquet",
        "truth_rows": (
            "every course_marks row, in the school year the support acts on marks, of "
            "each student whose marks it changed: the marks without any support"
        ),
    }


def _first_day_on_or_after(roster: YearRoster, month: int, day: int) -> int:
    """Index of the first instructional day on or after ``month``/``day`` of the year."""
    year = roster.year if month < 7 else roster.year - 1
    when = np.datetime64(f"{year}-{month:02d}-{day:02d}")
    return int(np.searchsorted(roster.cal.days, when, side="left"))


def _span_on(roster: YearRoster, day: int) -> np.ndarray:
    """Per student of the roster, the span enrolled on ``day`` (-1 if none)."""
    covers = (roster.span_start <= day) & (roster.span_end >= day)
    out = np.full(len(roster.stu), -1, np.int64)
    idx = np.flatnonzero(covers)
    out[roster.span_stu[idx]] = idx
    return out


def _span_covering(roster: YearRoster, stu: slice, day: np.ndarray) -> np.ndarray:
    """Per student of the block ``stu``, the span enrolled on its own ``day`` (or -1)."""
    wanted = np.full(len(roster.stu), -1, np.int64)
    wanted[stu] = day
    d = wanted[roster.span_stu]
    idx = np.flatnonzero((d >= 0) & (roster.span_start <= d) & (roster.span_end >= d))
    out = np.full(len(roster.stu), -1, np.int64)
    out[roster.span_stu[idx]] = idx
    return out[stu]


def _last_day(roster: YearRoster) -> np.ndarray:
    """Per student of the roster, the last instructional day enrolled in the year."""
    return roster.span_end[roster.last_span]


def _rates_before(
    att: AttendanceBlock, n: int, day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Days enrolled and days absent per block student on the days before ``day``."""
    keep = att.row_day < day
    stu = att.row_stu[keep]
    absent = (att.row_status[keep] >= _ABSENT[0]) & (att.row_status[keep] <= _ABSENT[1])
    return np.bincount(stu, minlength=n), np.bincount(stu, absent, minlength=n)


class Support:
    """Assigns the three supports year by year and keeps their rows."""

    def __init__(self, seed: int, daily_years: tuple[int, ...]) -> None:
        self._rng = np.random.default_rng([seed, 16])
        self._daily = daily_years
        self._next_id = 1

    def plan(self, pop: Population, roster: YearRoster) -> list[dict]:
        """Start of an output year: mentoring's lift for last year's mentees, tutoring."""
        grade9 = roster.grade == 9
        first9 = grade9 & (pop["first9"][roster.stu] == roster.year)
        mentored = first9 & (pop["mentored"][roster.stu] == roster.year - 1)
        roster.lift[mentored] += MENTOR_LIFT
        start = _first_day_on_or_after(roster, 10, 15)
        span = _span_on(roster, start)
        draw = self._rng.random(len(roster.stu))
        tutored = np.flatnonzero(grade9 & (span >= 0) & (draw < TUTOR_SHARE))
        roster.lift[tutored, 1:] += TUTOR_LIFT
        open_ = self._rng.random(len(tutored)) < TUTOR_OPEN_SHARE
        end = np.where(open_, -1, _last_day(roster)[tutored])
        return self._rows(roster, tutored, "tutoring", start, end, span, tier=2,
                          domain="coursework", staff_prefix="8")  # fmt: skip

    def block(
        self, pop: Population, roster: YearRoster, stu: slice, att: AttendanceBlock
    ) -> list[dict]:
        """After a block's attendance: mentoring by the cutoff, attendance plans by need."""
        grade = roster.grade[stu]
        last = _last_day(roster)[stu]
        plans = self._plans(roster, stu, att, grade, last)
        if roster.year not in self._daily:
            return plans
        n = stu.stop - stu.start
        start = _first_day_on_or_after(roster, 2, 1)
        span = _span_on(roster, start)[stu]
        days, absent = _rates_before(att, n, start)
        bar = round(
            MENTOR_CUTOFF * 100
        )  # integers: a rate of exactly 0.92 is not below
        below = (days > 0) & ((days - absent) * 100 < bar * days)
        mentees = np.flatnonzero((grade == 8) & below & (span >= 0))
        pop["mentored"][roster.stu[stu][mentees]] = roster.year
        mentoring = self._rows(roster, stu.start + mentees, "mentoring", start,
                               last[mentees], span[mentees], tier=2,
                               domain="attendance", staff_prefix="9")  # fmt: skip
        return mentoring + plans

    def _plans(
        self,
        roster: YearRoster,
        stu: slice,
        att: AttendanceBlock,
        grade: np.ndarray,
        last: np.ndarray,
    ) -> list[dict]:
        """Attendance plans: likelier the lower the attendance through Nov 30."""
        n = stu.stop - stu.start
        days, absent = _rates_before(att, n, _first_day_on_or_after(roster, 12, 1))
        rate = np.where(days > 0, 1 - absent / np.maximum(days, 1), 1.0)
        logit = -3.2 + 30 * (0.92 - rate) + self._rng.normal(0, 0.5, n)
        chosen = (np.isin(grade, (8, 9))) & (
            self._rng.random(n) < 1 / (1 + np.exp(-logit))
        )
        first = _first_day_on_or_after(roster, 12, 1)
        start = first + self._rng.integers(0, 45, n)
        span = _span_covering(roster, stu, start)
        who = np.flatnonzero(chosen & (span >= 0))
        end = np.minimum(start[who] + self._rng.integers(30, 80, len(who)), last[who])
        tier = 1 + (rate[who] < 0.88) + (rate[who] < 0.80)
        return self._rows(roster, stu.start + who, "attendance_plan", start[who], end,
                          span[who], tier=tier, domain="attendance", staff_prefix="")  # fmt: skip

    def _rows(
        self,
        roster: YearRoster,
        who: np.ndarray,
        kind: str,
        start: int | np.ndarray,
        end: np.ndarray,
        span: np.ndarray,
        *,
        tier: int | np.ndarray,
        domain: str,
        staff_prefix: str,
    ) -> list[dict]:
        """Intervention rows (roster indices ``who``); ``end`` -1 means still open."""
        k = len(who)
        starts = np.broadcast_to(np.asarray(start), (k,))
        tiers = np.broadcast_to(np.asarray(tier), (k,))
        rows = []
        for i in range(k):
            rows.append({
                "intervention_id": f"SUP{self._next_id + i:07d}",
                "stu": int(who[i]),
                "intervention_type": kind,
                "start": int(starts[i]),
                "end": int(end[i]),
                "span": int(span[i]),
                "tier": int(tiers[i]),
                "domain": domain,
                "staff_prefix": staff_prefix,
            })  # fmt: skip
        self._next_id += k
        return rows


def interventions_table(
    rows: list[dict], sid: pa.Array, roster: YearRoster, schools: Schools
) -> pa.Table:
    """The ``interventions`` table of one year from the rows ``Support`` made."""
    iso = roster.cal.iso
    school = [int(roster.span_school[r["span"]]) for r in rows]
    staff = [
        f"{r['staff_prefix']}{s:05d}" if r["staff_prefix"] else None
        for r, s in zip(rows, school, strict=True)
    ]
    return pa.table(
        {
            "intervention_id": pa.array(
                [r["intervention_id"] for r in rows], pa.string()
            ),
            "student_id": sid.take(pa.array([r["stu"] for r in rows], pa.int64())),
            "intervention_type": pa.array(
                [r["intervention_type"] for r in rows], pa.string()
            ),
            "start_date": pa.array([str(iso[r["start"]]) for r in rows], pa.string()),
            "end_date": pa.array(
                [str(iso[r["end"]]) if r["end"] >= 0 else None for r in rows],
                pa.string(),
            ),
            "school_id": pa.array([schools.school_id[s] for s in school], pa.string()),
            "staff_id": pa.array(staff, pa.string()),
            "tier": pa.array([r["tier"] for r in rows], pa.int32()),
            "domain": pa.array([r["domain"] for r in rows], pa.string()),
        }
    )
