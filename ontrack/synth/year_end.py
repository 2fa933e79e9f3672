"""The end of one school year: who graduates, who moves up, who leaves over the summer.

``close_year`` is run once the year's marks are known (after
:func:`ontrack.synth.roster.plan_year` and the marks and attendance drawn for its
roster): it graduates seniors with enough credits, records every exit as an outcome,
recovers some failed credits over the summer, retains or promotes, lets some families
move away and assigns next year's schools.
"""

from __future__ import annotations

import numpy as np

from ontrack.synth.roster import (
    COMPLETED,
    DROPOUT,
    GRADUATED,
    OTHER,
    TRANSFER,
    YearRoster,
    _sigmoid,
)
from ontrack.synth.world import Population, Schools, pick_school

GRADUATION_CREDITS = 21.5
# Credits needed (after summer recovery) to be placed in grades 10, 11, 12.
PLACEMENT_CREDITS = np.array([3.5, 9.0, 14.5])


def close_year(
    pop: Population,
    schools: Schools,
    roster: YearRoster,
    rng: np.random.Generator,
    *,
    next_first_day: np.datetime64 | None,
) -> None:
    """Graduate, retain or promote, apply summer moves; record exits as outcomes.

    ``next_first_day`` is the first instructional day of the next simulated year, or
    None after the last year (nobody is moved on: the future is unknown).
    """
    credits, stay, exit_day = _graduate_and_exit(pop, roster)
    if next_first_day is None:
        pop["credits"][roster.stu] = credits.astype(np.float32)
        return
    keep, g_next = _summer(pop, roster, credits, stay, exit_day, next_first_day, rng)
    _next_schools(pop, schools, roster, keep, g_next, rng)
    pop["carry"][roster.stu] = 0.5 * roster.shock
    pop["susp_last"][roster.stu] = roster.stats["n_susp"] > 0


def _graduate_and_exit(
    pop: Population, roster: YearRoster
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graduate seniors with enough credits; record every exit of the year as an
    outcome. Returns the credits to date, who finished the year without graduating,
    and each student's last day (days since the epoch)."""
    stu, grade, st = roster.stu, roster.grade, roster.stats
    last = roster.last_span
    reason = roster.span_reason[last]
    finished = reason == COMPLETED
    hs = grade >= 9
    credits = pop["credits"][stu] + np.where(hs, st["credits"], 0.0)
    grad = finished & (grade == 12) & (credits >= GRADUATION_CREDITS)
    roster.span_reason[last[grad]] = GRADUATED
    exit_day = roster.cal.days[roster.span_end[last]].astype(np.int32)
    outcome = np.select(
        [grad, reason == DROPOUT, reason == TRANSFER, reason == OTHER], [1, 2, 3, 5], 0
    )
    done = outcome > 0
    pop["outcome"][stu[done]] = outcome[done]
    pop["outcome_day"][stu[done]] = exit_day[done]
    pop["active"][stu[done]] = False
    return credits, finished & ~grad, exit_day


def _summer(
    pop: Population,
    roster: YearRoster,
    credits: np.ndarray,
    stay: np.ndarray,
    exit_day: np.ndarray,
    next_first_day: np.datetime64,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Summer credit recovery, retention or promotion, fifth-year seniors ageing out and
    families moving away. Returns who continues next year and their next grades."""
    stu, grade, st = roster.stu, roster.grade, roster.stats
    n, hs = len(stu), grade >= 9
    e, a = roster.e, roster.a
    n_f = st["n_f"].astype(np.int64)
    recovered = rng.binomial(n_f, 0.45 * _sigmoid(0.3 + 0.8 * e)) * hs
    credits = credits + 0.5 * recovered
    pop["credits"][stu] = credits.astype(np.float32)
    ms_hold = rng.random(n) < _sigmoid(-6.0 - 0.8 * a - 0.5 * e + 0.35 * st["n_f_core"])
    # High-school grade follows credits: a student held back who recovers enough
    # credits catches up (at most one extra grade), nobody moves down.
    by_credits = 9 + (credits[:, None] >= PLACEMENT_CREDITS).sum(axis=1)
    hs_next = np.clip(by_credits, grade, np.minimum(grade + 2, 12))
    g_next = np.where(hs, hs_next, grade + ~ms_hold)
    # A fifth-year senior who still cannot graduate leaves for adult education.
    aged_out = stay & (grade == 12) & (pop["years12"][stu] >= 1)
    pop["outcome"][stu[aged_out]] = 5
    pop["outcome_day"][stu[aged_out]] = exit_day[aged_out]
    p_move = 0.035 * np.exp(0.5 * pop["mobility"][stu] - 0.2 * e)
    p_move *= np.where(grade == 8, 1.7, 1)  # charter and private high schools
    moved = stay & ~aged_out & (rng.random(n) < p_move)
    pop["outcome"][stu[moved]] = 3
    pop["outcome_day"][stu[moved]] = np.int32(next_first_day.astype(np.int64))
    pop["active"][stu[aged_out | moved]] = False
    keep = stay & ~aged_out & ~moved
    return keep, g_next.astype(np.int8)[keep]


def _next_schools(
    pop: Population,
    schools: Schools,
    roster: YearRoster,
    keep: np.ndarray,
    g_next: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Move continuing students up: their grade, and their school (the feeder high
    school after grade 8 for most, a chosen one for some, a few shuffles)."""
    idx = roster.stu[keep]
    pop["years12"][idx] += (roster.grade[keep] == 12).astype(np.int8)
    pop["grade"][idx] = g_next
    school = pop["school"][idx]
    to_hs = (g_next == 9) & (schools.level[school] == "middle")
    feeder = schools.feeder[school]
    choose = to_hs & (rng.random(len(idx)) > 0.75)
    shuffle = ~to_hs & (schools.level[school] != "span") & (rng.random(len(idx)) < 0.03)
    school = np.where(to_hs, feeder, school)
    redo = choose | shuffle
    school[redo] = pick_school(schools, g_next[redo], rng)
    pop["school"][idx] = school
    pop["first9"][idx] = np.where(
        (g_next == 9) & (pop["first9"][idx] == 0), roster.year + 1, pop["first9"][idx]
    )
