"""One school year of enrollment: who enters, who moves and who leaves during it.

``plan_year`` is run at the start of a year: it brings in new students, moves every
continuing student's latent traits one step along their random walk, and lays out the
enrollment spans (in instructional-day indices) including mid-year transfers, exits and
dropouts. The end of the year (graduation, promotion, summer moves) is
:func:`ontrack.synth.year_end.close_year`, run once the year's marks are known.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ontrack.synth.calendar import SchoolCalendar
from ontrack.synth.world import (
    GRADES,
    Population,
    Schools,
    new_students,
    other_school,
    pick_school,
)

REASONS = ("completed", "transfer", "dropout", "graduated", "other")
COMPLETED, TRANSFER, DROPOUT, GRADUATED, OTHER = range(5)
OUTCOMES = (
    "",
    "graduated",
    "dropped_out",
    "transferred_out",
    "still_enrolled",
    "other",
)
STAT_FIELDS = (
    "credits",
    "n_f",
    "n_f_core",
    "gp_sum",
    "gp_weight",
    "n_susp",
    "days_enrolled",
    "days_absent",
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class YearRoster:
    """Everyone enrolled in one school year, with their spans and the year's outcomes.

    Spans are sorted by student, then start day; ``span_stu`` indexes ``stu``.
    """

    year: int
    cal: SchoolCalendar
    stu: np.ndarray
    grade: np.ndarray
    a: np.ndarray
    e: np.ndarray
    shock_day: np.ndarray
    shock: np.ndarray
    drift: np.ndarray
    flags: dict[str, np.ndarray]
    span_stu: np.ndarray
    span_school: np.ndarray
    span_start: np.ndarray
    span_end: np.ndarray
    span_reason: np.ndarray
    span_absent: np.ndarray = field(init=False)
    stats: dict[str, np.ndarray] = field(init=False)
    lift: np.ndarray = field(init=False)  # (students, 4) support's shift of marks

    def __post_init__(self) -> None:
        self.span_absent = np.zeros(len(self.span_stu), np.int32)
        self.lift = np.zeros((len(self.stu), 4), np.float64)
        self.stats = {k: np.zeros(len(self.stu), np.float64) for k in STAT_FIELDS}

    @property
    def last_span(self) -> np.ndarray:
        """Index of each student's last span of the year."""
        return np.append(np.flatnonzero(np.diff(self.span_stu)), len(self.span_stu) - 1)

    def chunks(self, size: int) -> Iterator[tuple[slice, slice]]:
        """Consecutive (students, spans) slices of at most ``size`` students."""
        cuts = np.arange(0, len(self.stu) + size, size)
        bounds = np.searchsorted(self.span_stu, cuts)
        for k, lo in enumerate(range(0, len(self.stu), size)):
            hi = min(lo + size, len(self.stu))
            yield slice(lo, hi), slice(int(bounds[k]), int(bounds[k + 1]))


def initial_population(
    pop: Population,
    schools: Schools,
    targets: np.ndarray,
    year: int,
    rng: np.random.Generator,
) -> None:
    """Fill grades 6-12 of the first simulated year (before any output year)."""
    grade = np.repeat(GRADES, rng.poisson(targets))
    new_students(pop, grade, pick_school(schools, grade, rng), year, rng, migrant=False)
    pop["fresh"][:] = False


def _admit(
    pop: Population,
    schools: Schools,
    targets: np.ndarray,
    year: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """New students for ``year``: start-of-year and late (mid-year) entrants."""
    active = pop["grade"][pop["active"]].astype(np.int64)
    continuing = np.bincount(active - 6, minlength=7)[:7]
    floor = targets * np.where(GRADES == 9, 0.08, 0.03)
    n_new = rng.poisson(np.maximum(floor, targets - continuing))
    sixth = np.repeat(6, n_new[0])
    other = np.repeat(GRADES[1:], n_new[1:])
    late = np.repeat(GRADES, rng.poisson(targets * 0.025))
    ids = [
        new_students(pop, g, pick_school(schools, g, rng), year, rng, migrant=m)
        if len(g)
        else np.array([], np.int64)
        for g, m in ((sixth, False), (other, True), (late, True))
    ]
    return np.concatenate(ids[:2]), ids[2]


def _step_latents(
    pop: Population, idx: np.ndarray, year: int, rng: np.random.Generator
) -> None:
    """Move achievement and engagement one year along each student's random walk."""
    n = len(idx)
    fresh = pop["fresh"][idx]
    e, a = pop["e"][idx], pop["a"][idx]
    e_new = (
        0.85 * e
        + 0.15 * pop["e0"][idx]
        + pop["slope_e"][idx]
        + rng.normal(0, 0.22, n)
        - 0.4 * pop["carry"][idx]
        - 0.15 * pop["susp_last"][idx]
    )
    a_new = 0.9 * a + 0.1 * pop["a0"][idx] + pop["slope_a"][idx] + 0.06 * e
    a_new += rng.normal(0, 0.12, n)
    e_new = np.where(fresh, e, e_new)
    a_new = np.where(fresh, a, a_new)
    # Ninth-grade shock: the move to high school hits some students hard.
    first9 = (pop["grade"][idx] == 9) & (pop["first9"][idx] == year)
    e_new = e_new + first9 * rng.normal(-0.15, 0.35, n)
    pop["e"][idx] = e_new.astype(np.float32)
    pop["a"][idx] = a_new.astype(np.float32)
    pop["fresh"][idx] = False


def _year_flags(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> dict:
    """Subgroup flags for the year; EL students are reclassified as they progress."""
    n = len(idx)
    el = pop["el"][idx]
    reclass = el & (rng.random(n) < _sigmoid(-2.2 + 1.2 * pop["a"][idx]))
    pop["el"][idx] = el & ~reclass
    swd = pop["swd"][idx]
    swd = np.where(swd, rng.random(n) > 0.03, rng.random(n) < 0.006)
    pop["swd"][idx] = swd
    return {
        "english_learner": pop["el"][idx].copy(),
        "students_with_disabilities": swd,
        "socioeconomically_disadvantaged": pop["sed"][idx] ^ (rng.random(n) < 0.04),
        "foster_youth": pop["foster_risk"][idx] & (rng.random(n) < 0.5),
        "homeless": pop["housing_risk"][idx] & (rng.random(n) < 0.5),
    }


def plan_year(
    pop: Population,
    schools: Schools,
    targets: np.ndarray,
    cal: SchoolCalendar,
    rng: np.random.Generator,
) -> YearRoster:
    """Enroll the year: entrants, latent steps, mid-year moves, exits and dropouts."""
    year, n_days = cal.school_year, cal.n_days
    continuing = np.flatnonzero(pop["active"])
    start_new, late = _admit(pop, schools, targets, year, rng)
    stu = np.concatenate([continuing, start_new, late]).astype(np.int64)
    n = len(stu)
    grade = pop["grade"][stu].astype(np.int64)
    _step_latents(pop, stu, year, rng)
    flags = _year_flags(pop, stu, rng)
    e, a = pop["e"][stu].copy(), pop["a"][stu].copy()
    start = np.zeros(n, np.int64)
    is_late = np.zeros(n, bool)
    is_late[n - len(late) :] = True
    start[is_late] = rng.integers(5, n_days - 40, is_late.sum())
    event, day = _mid_year_events(pop, stu, grade, flags, is_late, year, n_days, rng)
    spans = _spans(pop, schools, stu, grade, start, event, day, n_days, rng)
    shock_on = rng.random(n) < _sigmoid(-2.9 - 0.5 * e)
    return YearRoster(
        year=year,
        cal=cal,
        stu=stu,
        grade=grade,
        a=a,
        e=e,
        shock_day=np.where(shock_on, rng.integers(30, n_days - 40, n), n_days),
        shock=(shock_on * np.abs(rng.normal(0.9, 0.35, n))).astype(np.float32),
        drift=rng.normal(0.3 + 0.15 * (grade >= 9), 0.45).astype(np.float32),
        flags=flags,
        **spans,
    )


def _mid_year_events(
    pop: Population,
    stu: np.ndarray,
    grade: np.ndarray,
    flags: dict[str, np.ndarray],
    is_late: np.ndarray,
    year: int,
    n_days: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each student's mid-year event and its day.

    Events are mutually exclusive: 0 none, 1 move within the district, 2 leave it,
    3 other exit (health, incarceration, adult school), 4 drop out (high school only).
    Late entrants have none.
    """
    n = len(stu)
    e, a = pop["e"][stu], pop["a"][stu]
    mobile = np.exp(0.6 * pop["mobility"][stu] - 0.25 * e)
    unstable = flags["homeless"] | flags["foster_youth"]
    p_move = 0.04 * mobile * (1 + unstable)
    p_leave = 0.02 * mobile * (1 + 0.5 * unstable)
    p_other = np.full(n, 0.002)
    hs = grade >= 9
    behind = np.maximum(0.0, 6.0 * (year - pop["first9"][stu]) - pop["credits"][stu])
    drop_logit = (
        -5.8
        - 0.9 * e
        - 0.35 * a
        + 0.3 * behind
        + np.select([grade == 9, grade == 10], [-0.6, -0.2], 0.1)
        + 0.9 * (pop["years12"][stu] > 0)
    )
    p_drop = hs * _sigmoid(drop_logit)
    cum = np.cumsum(np.stack([p_move, p_leave, p_other, p_drop]), axis=0)
    u = rng.random(n)
    event = np.where(is_late, 0, 1 + (u[None, :] >= cum).sum(axis=0))
    event[event == 5] = 0
    day = np.select(
        [event == 1, event == 4],
        [rng.integers(15, n_days - 25, n), rng.integers(25, n_days - 5, n)],
        rng.integers(10, n_days - 10, n),
    )
    return event, day


def _spans(
    pop: Population,
    schools: Schools,
    stu: np.ndarray,
    grade: np.ndarray,
    start: np.ndarray,
    event: np.ndarray,
    day: np.ndarray,
    n_days: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The year's enrollment spans (``YearRoster``'s ``span_*`` fields): one per
    student, ended by its event; a mover's second span starts at another school a few
    days later (and the mover's school changes in ``pop``)."""
    n = len(stu)
    end = np.where(event == 0, n_days - 1, day)
    reason = np.select(
        [event == 0, event <= 2, event == 3], [COMPLETED, TRANSFER, OTHER], DROPOUT
    )
    school = pop["school"][stu].copy()
    movers = np.flatnonzero(event == 1)
    new_school = other_school(schools, grade[movers], school[movers], rng)
    pop["school"][stu[movers]] = new_school
    span_stu = np.concatenate([np.arange(n), movers])
    order = np.argsort(span_stu, kind="stable")
    second_start = day[movers] + rng.integers(1, 5, len(movers))
    return {
        "span_stu": span_stu[order].astype(np.int64),
        "span_school": np.concatenate([school, new_school])[order].astype(np.int64),
        "span_start": np.concatenate([start, second_start])[order].astype(np.int64),
        "span_end": np.concatenate([end, np.full(len(movers), n_days - 1)])[order],
        "span_reason": np.concatenate([reason, np.zeros(len(movers), int)])[order],
    }
