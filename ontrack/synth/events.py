"""Discipline incidents, spring state tests and counselor caseloads.

Referrals are Poisson with a rate that rises for disengaged students, students with a
conduct propensity, and grades 7-9. A suspension (in-school, out-of-school, or a rare
stayed expulsion) is a separate Bernoulli with the same drivers. Incidents are spread
over the student's enrolled days without overlapping, and out-of-school suspension days
never run past the end of the enrollment, so every OSS day shows in attendance.

State tests (ELA and math, grades 6-8 and 11) are a noisy function of achievement, a
little engagement, and any mid-year decline that began before the test window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ontrack.synth.roster import YearRoster
from ontrack.synth.world import Schools

ACTIONS = (
    "referral",
    "in_school_suspension",
    "out_of_school_suspension",
    "expulsion",
    "other",
)
REFERRAL, ISS, OSS, EXPULSION, OTHER_ACTION = range(5)
INCIDENT_TYPES = (
    "defiance",
    "disruption",
    "attendance",
    "harassment",
    "fighting",
    "substance",
    "property",
    "weapon",
    "other",
)
_REFERRAL_TYPES = np.array([0.38, 0.28, 0.10, 0.10, 0.0, 0.0, 0.04, 0.0, 0.10])
_SUSPENSION_TYPES = np.array([0.22, 0.05, 0.0, 0.12, 0.33, 0.14, 0.08, 0.04, 0.02])
_GRADE_REFERRAL = np.array([0.0, 0.15, 0.25, 0.25, 0.05, -0.15, -0.35])
_GRADE_SUSPENSION = np.array([-0.3, 0.1, 0.45, 0.5, 0.15, -0.25, -0.6])
_TESTED = (6, 7, 8, 11)
_TEST_MEAN = {"ela": (2500, 2525, 2550, 2590), "math": (2490, 2510, 2530, 2570)}
_TEST_CUTS = {"ela": (-40, 25, 105), "math": (-20, 45, 125)}
_FIRST = (
    "Alex", "Maria", "James", "Linh", "Fatima", "Diego", "Grace", "Omar",
    "Priya", "Samuel", "Ana", "Kevin", "Rosa", "Daniel", "Mei", "Tyrone",
)  # fmt: skip
_LAST = (
    "Garcia", "Nguyen", "Johnson", "Patel", "Lopez", "Kim", "Williams", "Hernandez",
    "Chen", "Brown", "Martinez", "Okafor", "Santos", "Rivera", "Lee", "Davis",
)  # fmt: skip


@dataclass
class Incidents:
    """Discipline incidents of one block of students."""

    stu: np.ndarray  # local student index
    span: np.ndarray  # global span index
    day: np.ndarray  # instructional day index
    action: np.ndarray  # index into ACTIONS
    kind: np.ndarray  # index into INCIDENT_TYPES
    days: np.ndarray  # suspension days; 0 for referrals, other and expulsions


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate_discipline(
    roster: YearRoster,
    stu: slice,
    spans: slice,
    schools: Schools,
    conduct: np.ndarray,
    rng: np.random.Generator,
) -> Incidents:
    """Draw the block's incidents; count suspensions into ``roster.stats``."""
    n = stu.stop - stu.start
    e, grade = roster.e[stu], roster.grade[stu] - 6
    local = roster.span_stu[spans] - stu.start
    start, end = roster.span_start[spans], roster.span_end[spans]
    length = end - start + 1
    enrolled = np.bincount(local, length, minlength=n).astype(np.int64)
    share = enrolled / roster.cal.n_days
    school = roster.span_school[spans][np.searchsorted(local, np.arange(n))]
    drive = -0.8 * e + 0.8 * conduct + schools.discipline[school]
    n_ref = rng.poisson(share * np.exp(-1.9 + drive + _GRADE_REFERRAL[grade]))
    p_susp = _sigmoid(
        -4.15 + 1.1 * drive + 0.3 * (n_ref > 0) + _GRADE_SUSPENSION[grade]
    )
    n_susp = (rng.random(n) < p_susp * share) * (1 + rng.poisson(0.35, n))
    roster.stats["n_susp"][stu] = n_susp
    susp_action = rng.choice([ISS, OSS, EXPULSION], n_susp.sum(), p=[0.44, 0.55, 0.01])
    ref_action = np.where(rng.random(n_ref.sum()) < 0.05, OTHER_ACTION, REFERRAL)
    everyone = np.arange(n)
    who = np.concatenate([np.repeat(everyone, n_ref), np.repeat(everyone, n_susp)])
    action = np.concatenate([ref_action, susp_action])
    order = np.lexsort((rng.random(len(who)), who))
    who, action = who[order], action[order]
    counts = np.bincount(who, minlength=n)
    rank = np.arange(len(who)) - np.repeat(np.cumsum(counts) - counts, counts)
    k, total = counts[who], enrolled[who]
    # Student i's r-th of k incidents falls in the r-th of k equal slices of its
    # enrolled days, so suspensions never overlap.
    offset = ((rank + rng.random(len(who))) * total / k).astype(np.int64)
    slice_end = ((rank + 1) * total // k).astype(np.int64) - 1
    stu_start = np.cumsum(enrolled) - enrolled
    span_start = np.cumsum(length) - length
    pos = stu_start[who] + offset
    span = np.searchsorted(span_start, pos, side="right") - 1
    day = start[span] + (pos - span_start[span])
    days = np.select(
        [action == OSS, action == ISS],
        [rng.choice(np.arange(1, 6), len(who), p=[0.35, 0.27, 0.18, 0.1, 0.1]),
         1 + (rng.random(len(who)) < 0.2)],
        0,
    )  # fmt: skip
    days = np.minimum(days, np.minimum(end[span] - day, slice_end - offset) + 1)
    days = np.where((action == OSS) | (action == ISS), np.maximum(days, 1), days)
    is_ref = (action == REFERRAL) | (action == OTHER_ACTION)
    kind = np.where(
        is_ref,
        rng.choice(len(INCIDENT_TYPES), len(who), p=_REFERRAL_TYPES),
        rng.choice(len(INCIDENT_TYPES), len(who), p=_SUSPENSION_TYPES),
    )
    weapon_or_drugs = np.where(rng.random(len(who)) < 0.5, 5, 7)
    kind = np.where(action == EXPULSION, weapon_or_drugs, kind)
    return Incidents(who, spans.start + span, day, action, kind, days)


def discipline_table(
    inc: Incidents, sid: pa.Array, roster: YearRoster, schools: Schools
) -> pa.Table:
    """The block's incidents as the ``discipline`` table."""
    return pa.table(
        {
            "student_id": sid.take(pa.array(inc.stu, pa.int64())),
            "school_id": pa.array(schools.school_id, pa.string()).take(
                pa.array(roster.span_school[inc.span], pa.int64())
            ),
            "incident_date": roster.cal.iso.take(pa.array(inc.day, pa.int64())),
            "action": pa.array(ACTIONS, pa.string()).take(
                pa.array(inc.action, pa.int64())
            ),
            "incident_type": pa.array(INCIDENT_TYPES, pa.string()).take(
                pa.array(inc.kind, pa.int64())
            ),
            "days": pa.array(inc.days, pa.int32(), mask=inc.days == 0),
        }
    )


def spring_test_days(
    n_schools: int, n_days: int, rng: np.random.Generator
) -> np.ndarray:
    """Each school's ELA test day in the spring window (math is the next day)."""
    return rng.integers(n_days - 35, n_days - 20, n_schools)


def assessments_table(
    roster: YearRoster,
    stu: slice,
    spans: slice,
    sid: pa.Array,
    ela_day: np.ndarray,
    rng: np.random.Generator,
) -> pa.Table:
    """Spring ELA and math scores for students enrolled on their school's test day."""
    parts = []
    local = roster.span_stu[spans] - stu.start
    start, end = roster.span_start[spans], roster.span_end[spans]
    school = roster.span_school[spans]
    for k, subject in enumerate(("ela", "math")):
        day = ela_day[school] + k
        took = np.flatnonzero((start <= day) & (end >= day))
        who, when = local[took], day[took]
        grade = roster.grade[stu][who]
        keep = np.isin(grade, _TESTED) & (rng.random(len(who)) > 0.03)
        who, when, grade = who[keep], when[keep], grade[keep]
        g = np.searchsorted(_TESTED, grade)
        gi = stu.start + who
        hit = (when >= roster.shock_day[gi]) * roster.shock[gi]
        w = 0.8 if subject == "ela" else 0.85
        z = w * roster.a[gi] + (1 - w) * roster.e[gi] - 0.15 * hit
        z = z + rng.normal(0, 0.45, len(who))
        mean = np.take(_TEST_MEAN[subject], g)
        score = np.round(mean + 85 * z).astype(np.int32)
        cuts = mean[:, None] + np.array(_TEST_CUTS[subject])
        level = 1 + (score[:, None] >= cuts).sum(1)
        title = "State Summative " + ("ELA" if subject == "ela" else "Mathematics")
        parts.append(
            pa.table(
                {
                    "student_id": sid.take(pa.array(who, pa.int64())),
                    "school_year": pa.array(np.full(len(who), roster.year), pa.int32()),
                    "subject": pa.array([subject] * len(who), pa.string()),
                    "scale_score": pa.array(score, pa.int32()),
                    "test_name": pa.array([title] * len(who), pa.string()),
                    "grade_level": pa.array(grade, pa.int32()),
                    "performance_level": pa.array(level, pa.int32()),
                    "test_date": roster.cal.iso.take(pa.array(when, pa.int64())),
                }
            )
        )
    return pa.concat_tables(parts)


class Counselors:
    """Counselors per school, kept from year to year with some turnover."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._staff: dict[int, list[tuple[str, str]]] = {}
        self._next = int(rng.integers(1000, 5000))

    def _hire(self) -> tuple[str, str]:
        self._next += int(self._rng.integers(1, 40))
        name = f"{self._rng.choice(_FIRST)} {self._rng.choice(_LAST)}"
        return f"{self._next:06d}", name

    def table(self, roster: YearRoster, sid: pa.Array) -> pa.Table:
        """Counselor assignments of the year's 8th and 9th graders at their last school.

        Each school needs one counselor per ~180 students in these grades; students are
        split among them by student number, as an alphabetical split would.
        """
        last = roster.last_span
        school = roster.span_school[last]
        pick = np.flatnonzero(np.isin(roster.grade, (8, 9)))
        staff_idx = np.zeros(len(pick), np.int64)
        ids: list[str] = []
        names: list[str] = []
        for s in np.unique(school[pick]):
            rows = np.flatnonzero(school[pick] == s)
            pool = [
                m if self._rng.random() > 0.12 else self._hire()
                for m in self._staff.get(int(s), [])
            ]
            need = max(1, round(len(rows) / 180))
            pool = (pool + [self._hire() for _ in range(need - len(pool))])[:need]
            self._staff[int(s)] = pool
            staff_idx[rows] = len(ids) + np.arange(len(rows)) * need // len(rows)
            ids += [m[0] for m in pool]
            names += [m[1] for m in pool]
        take = pa.array(staff_idx, pa.int64())
        return pa.table(
            {
                "student_id": sid.take(pa.array(pick, pa.int64())),
                "staff_id": pa.array(ids, pa.string()).take(take),
                "staff_name": pa.array(names, pa.string()).take(take),
                "role": pa.array(["counselor"] * len(pick), pa.string()),
                "school_year": pa.array(np.full(len(pick), roster.year), pa.int32()),
            }
        )
