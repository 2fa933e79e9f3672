"""Year-level and final tables built from the roster and the population."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ontrack.synth.names import student_names
from ontrack.synth.roster import OUTCOMES, REASONS, YearRoster
from ontrack.synth.world import GENDERS, RACES, Population, Schools, student_id_strings


def _take(values: tuple[str, ...] | list[str], idx: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(idx, pa.int64()))


def _iso(days: np.ndarray) -> pa.Array:
    """ISO strings of day numbers (days since 1970-01-01)."""
    return pa.array(np.asarray(days, np.int64).astype("datetime64[D]").astype(str))


def _year(n: int, year: int) -> pa.Array:
    return pa.array(np.full(n, year), pa.int32())


def enrollments_table(roster: YearRoster, sid: pa.Array, schools: Schools) -> pa.Table:
    """One row per enrollment span (a mid-year mover has two)."""
    who = pa.array(roster.span_stu, pa.int64())
    cal = roster.cal
    return pa.table(
        {
            "student_id": sid.take(who),
            "school_id": _take(schools.school_id, roster.span_school),
            "school_year": _year(len(roster.span_stu), roster.year),
            "grade_level": pa.array(roster.grade[roster.span_stu], pa.int32()),
            "entry_date": cal.iso.take(pa.array(roster.span_start, pa.int64())),
            "exit_date": cal.iso.take(pa.array(roster.span_end, pa.int64())),
            "exit_reason": _take(REASONS, roster.span_reason),
        }
    )


def attendance_summary_table(
    roster: YearRoster, sid: pa.Array, schools: Schools
) -> pa.Table:
    """State-style annual totals per student and school (suspended = absent)."""
    n = len(roster.span_stu)
    return pa.table(
        {
            "student_id": sid.take(pa.array(roster.span_stu, pa.int64())),
            "school_id": _take(schools.school_id, roster.span_school),
            "school_year": _year(n, roster.year),
            "days_enrolled": pa.array(
                roster.span_end - roster.span_start + 1, pa.int32()
            ),
            "days_absent": pa.array(roster.span_absent, pa.int32()),
            "period_end_date": roster.cal.iso.take(
                pa.array(roster.span_end, pa.int64())
            ),
        }
    )


def student_years_table(
    roster: YearRoster, sid: pa.Array, schools: Schools
) -> pa.Table:
    """Subgroup flags per student-year; official GPA only from schools that send one."""
    st = roster.stats
    school = roster.span_school[roster.last_span]
    gpa = np.round(st["gp_sum"] / np.maximum(st["gp_weight"], 1e-9), 2)
    known = (roster.grade >= 9) & schools.reports_gpa[school] & (st["gp_weight"] > 0)
    cols = {"student_id": sid, "school_year": _year(len(roster.stu), roster.year)}
    cols.update({k: pa.array(v, pa.bool_()) for k, v in roster.flags.items()})
    cols["gpa"] = pa.array(gpa, pa.float64(), mask=~known)
    return pa.table(cols)


def students_table(pop: Population, seed: int) -> pa.Table:
    """Everyone who appears in an output year, in student-number order, with names."""
    idx = np.flatnonzero(pop["in_output"])
    first, last = student_names(seed, pop["sid"][idx])
    return pa.table(
        {
            "student_id": student_id_strings(pop["sid"][idx]),
            "first_name": first,
            "last_name": last,
            "gender": _take(GENDERS, pop["gender"][idx]),
            "race_ethnicity": _take(RACES, pop["race"][idx]),
            "birth_date": _iso(pop["birth"][idx]),
        }
    )


def outcomes_table(pop: Population, data_end: np.datetime64) -> pa.Table:
    """Outcome of everyone enrolled in grades 9-12 in an output year.

    Students still enrolled when the data end are ``still_enrolled`` as of the last
    instructional day. ``cohort_year`` is the year they first started 9th grade + 3.
    """
    idx = np.flatnonzero(pop["hs_output"])
    code = pop["outcome"][idx].copy()
    day = pop["outcome_day"][idx].astype(np.int64)
    open_ = code == 0
    code[open_] = OUTCOMES.index("still_enrolled")
    day[open_] = data_end.astype(np.int64)
    return pa.table(
        {
            "student_id": student_id_strings(pop["sid"][idx]),
            "outcome": _take(OUTCOMES, code),
            "outcome_date": _iso(day),
            "cohort_year": pa.array(pop["first9"][idx] + 3, pa.int32()),
        }
    )
