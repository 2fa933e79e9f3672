"""Course marks: quarter progress marks and credit-bearing finals.

Each student takes six courses a year (ELA, math, science, social science, PE and an
elective). A latent mark on the grade-point scale is drawn per course and quarter:

    2.85 + 0.6 * achievement + 0.35 * (engagement - 0.8 * mid-year decline so far)
    + 3 * (quarter attendance rate - 0.93) + school grading + grade + course + noise

plus the lift of any support the student gets (``support``); a final is the mean of its
quarters plus noise. Marks without the lift are cut from the same draws, so the marks a
served student would have had without support are known too. Middle schools post Q1-Q4
progress marks and S1/S2 finals; high schools post Q1/Q3 progress marks and S1/S2
finals worth 0.5 credit; the 6-12 academy posts Q1-Q4 and a full-year final (term Y,
1.0 credit in grades 9-12). One high school reports numbers 0-100, one grades PE
pass/no pass. A student who transfers out mid-term gets W for that term's finals at the
old school.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ontrack.synth.attendance import AttendanceBlock
from ontrack.synth.roster import OTHER, TRANSFER, YearRoster
from ontrack.synth.world import Schools

SUBJECTS = ("ela", "math", "science", "social_science", "other", "other")
_SUBJECT_EFFECT = np.array([0.0, -0.2, -0.05, 0.05, 0.6, 0.4])
_GRADE_EFFECT = np.array([0.1, 0.0, -0.05, -0.05, 0.0, 0.0, 0.1])
LETTERS = ("F", "D-", "D", "D+", "C-", "C", "C+", "B-", "B", "B+", "A-", "A", "A+")
_LETTER_CUTS = np.array(
    [0.6, 0.85, 1.15, 1.5, 1.85, 2.15, 2.5, 2.85, 3.15, 3.5, 3.85, 4.6]
)
_LETTER_POINTS = np.array([0, 0.7, 1, 1.3, 1.7, 2, 2.3, 2.7, 3, 3.3, 3.7, 4, 4])
P, NP, W, INC, E = range(13, 18)
NUMBER0 = 18  # code of the mark "0"; "k" is NUMBER0 + k, up to "105"
MARKS = LETTERS + ("P", "NP", "W", "I", "E") + tuple(str(k) for k in range(106))
# Terms in calendar order: (name, quarter or final index, is_final, first q, last q)
TERMS = (
    ("Q1", 0, False, 0, 0),
    ("Q2", 1, False, 1, 1),
    ("S1", 0, True, 0, 1),
    ("Q3", 2, False, 2, 2),
    ("Q4", 3, False, 3, 3),
    ("S2", 1, True, 2, 3),
    ("Y", 2, True, 0, 3),
)
_SYSTEMS = np.array(
    [
        [1, 1, 1, 1, 1, 1, 0],  # middle school semesters
        [1, 0, 1, 1, 0, 1, 0],  # high school semesters
        [1, 1, 0, 1, 1, 0, 1],  # full-year courses (the academy)
    ],
    bool,
)


def _catalog() -> tuple[list[tuple[str, str, str]], dict[tuple[str, int], int]]:
    """The course catalog and a lookup by (slot, grade) or (ladder/elective, k)."""
    rows: list[tuple[str, str, str]] = []
    key: dict[tuple[str, int], int] = {}

    def add(k: tuple[str, int], cid: str, name: str, subject: str) -> None:
        key[k] = len(rows)
        rows.append((cid, name, subject))

    ms_hist = ("Ancient Civilizations", "Medieval World History", "U.S. History 8")
    hs_sci = ("Biology", "Chemistry", "Physics", "Environmental Science")
    hs_hist = ("Ethnic Studies", "World History", "U.S. History", "Government")
    for g in range(6, 13):
        hs = g >= 9
        english = f"English {g}" if hs else f"English Language Arts {g}"
        add(("ela", g), f"ENG{g:02d}", english, "ela")
        science = hs_sci[g - 9] if hs else f"Science {g}"
        add(("science", g), f"SCI{g:02d}", science, "science")
        hist = hs_hist[g - 9] if hs else ms_hist[g - 6]
        add(("social_science", g), f"HSS{g:02d}", hist, "social_science")
        add(("pe", g), f"PED{g:02d}", f"Physical Education {g}", "other")
        if not hs:
            add(("math", g), f"MTH{g:02d}", f"Math {g}", "math")
    ladder = ("Algebra 1", "Geometry", "Algebra 2", "Precalculus", "Calculus")
    for k, name in enumerate(ladder):
        add(("ladder", k), f"MTH{name[:3].upper()}{k + 1}", name, "math")
    electives = ("Visual Art", "Music", "Spanish", "Computer Science", "Theater",
                 "Robotics")
    for k, name in enumerate(electives):
        add(("elective", k), f"ELE{name[:3].upper()}{k + 1}", name, "other")
    return rows, key  # fmt: skip


CATALOG, _KEY = _catalog()


@dataclass
class MarkBlock:
    """Course-mark rows of one block, as codes and numbers.

    ``plain_mark`` and ``plain_earned`` are the marks the rows would have had without
    any support (the same random draws, no lift); ``served`` marks the rows of students
    whose marks the support changed this year.
    """

    row_stu: np.ndarray  # local student index
    row_span: np.ndarray  # global span index
    term: np.ndarray  # index into TERMS
    course: np.ndarray  # index into CATALOG
    mark: np.ndarray  # index into MARKS
    attempted: np.ndarray  # float, NaN = null
    earned: np.ndarray  # float, NaN = null
    plain_mark: np.ndarray
    plain_earned: np.ndarray
    served: np.ndarray  # bool per row


@dataclass
class _Rows:
    """Which (span, term, course slot) rows a block posts, and what each row is."""

    s_idx: np.ndarray  # span (block-local)
    t_idx: np.ndarray  # index into TERMS
    slot: np.ndarray  # course slot 0-5
    who: np.ndarray  # block-local student
    school: np.ndarray  # school of the row
    withdrawn: np.ndarray  # bool: a W final after leaving mid-term

    @property
    def final(self) -> np.ndarray:
        return np.array([t[2] for t in TERMS])[self.t_idx]

    @property
    def position(self) -> np.ndarray:
        return np.array([t[1] for t in TERMS])[self.t_idx]


def _courses(grade: np.ndarray, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each student's six catalog courses (math follows an achievement-based ladder)."""
    n = len(grade)
    fixed = {s: np.array([_KEY.get((s, g), -1) for g in range(6, 13)]) for s in
             ("ela", "math", "science", "social_science", "pe")}  # fmt: skip
    g = grade - 6
    ladder = np.clip(grade - 9 + (a > 0.9) - (a < -0.9), 0, 4)
    ladder = np.where(grade == 8, np.where(a > 0.9, 0, -1), ladder)
    ladder_ids = np.array([_KEY[("ladder", k)] for k in range(5)])
    math = np.where(ladder >= 0, ladder_ids[np.maximum(ladder, 0)], fixed["math"][g])
    math = np.where(grade < 8, fixed["math"][g], math)
    electives = np.array([_KEY[("elective", k)] for k in range(6)])
    elective = electives[rng.integers(0, 6, n)]
    cols = [fixed["ela"][g], math, fixed["science"][g], fixed["social_science"][g],
            fixed["pe"][g], elective]  # fmt: skip
    return np.stack(cols, axis=1)


def _quarter_rates(att: AttendanceBlock) -> np.ndarray:
    """(students, 4) attendance rate per quarter (the year's rate where not enrolled)."""
    enrolled = np.maximum(att.quarter_enrolled.sum(1), 1)
    year_rate = 1 - att.quarter_absent.sum(1) / enrolled
    return np.where(
        att.quarter_enrolled > 0,
        1 - att.quarter_absent / np.maximum(att.quarter_enrolled, 1),
        year_rate[:, None],
    )


def _latent(
    roster: YearRoster,
    stu: slice,
    first_school: np.ndarray,
    schools: Schools,
    rate: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Latent quarter marks (n, 6, 4) and finals (n, 6, 3: S1, S2, Y), no support."""
    n = stu.stop - stu.start
    a, e, grade = roster.a[stu], roster.e[stu], roster.grade[stu]
    bounds = roster.cal.quarter_bounds()
    shock_day, shock = roster.shock_day[stu], roster.shock[stu]
    after = np.clip(bounds[None, :, 1] + 1 - shock_day[:, None], 0, None)
    frac = np.minimum(after / (bounds[:, 1] - bounds[:, 0] + 1)[None, :], 1.0)
    base = (
        2.85
        + 0.6 * a[:, None]
        + 0.35 * (e[:, None] - 0.8 * shock[:, None] * frac)
        + 3.0 * (rate - 0.93)
        + (schools.grading[first_school] + _GRADE_EFFECT[grade - 6])[:, None]
    )  # (n, 4)
    course_eff = rng.normal(0, 0.35, (n, 6)) + _SUBJECT_EFFECT[None, :]
    quarter = base[:, None, :] + course_eff[:, :, None] + rng.normal(0, 0.3, (n, 6, 4))
    halves = [quarter[..., :2].mean(-1), quarter[..., 2:].mean(-1), quarter.mean(-1)]
    final = np.stack(halves, axis=-1) + rng.normal(0, 0.2, (n, 6, 3))
    return quarter, final


def _posted_rows(
    roster: YearRoster, stu: slice, spans: slice, schools: Schools
) -> _Rows:
    """The (span, term) pairs that get marks, six course rows each.

    A span gets a term's marks if it covers the term's last day, or if the student left
    mid-term (transfer/other exit): then the old school posts W finals.
    """
    bounds = roster.cal.quarter_bounds()
    local = roster.span_stu[spans] - stu.start
    school = roster.span_school[spans]
    span_grade = roster.grade[stu][local]
    system = np.where(schools.year_long[school], 2, (span_grade >= 9).astype(int))
    t_first = bounds[[t[3] for t in TERMS], 0]
    t_last = bounds[[t[4] for t in TERMS], 1]
    is_final = np.array([t[2] for t in TERMS])
    start, end = roster.span_start[spans], roster.span_end[spans]
    reason = roster.span_reason[spans]
    covers = (start[:, None] <= t_last) & (end[:, None] >= t_last)
    left = (end[:, None] >= t_first) & (end[:, None] < t_last) & is_final[None, :]
    left &= np.isin(reason, (TRANSFER, OTHER))[:, None]
    use = _SYSTEMS[system] & (covers | left)
    s_idx, t_idx = np.nonzero(use)
    withdrawn = left[s_idx, t_idx] & ~covers[s_idx, t_idx]
    k = len(s_idx)
    s_idx, t_idx, withdrawn = (np.repeat(x, 6) for x in (s_idx, t_idx, withdrawn))
    return _Rows(
        s_idx=s_idx,
        t_idx=t_idx,
        slot=np.tile(np.arange(6), k),
        who=local[s_idx],
        school=school[s_idx],
        withdrawn=withdrawn,
    )


@dataclass
class _Graded:
    """Marks cut from latent values, with what they count for."""

    mark: np.ndarray
    attempted: np.ndarray
    earned: np.ndarray
    is_f: np.ndarray
    points: np.ndarray
    graded: np.ndarray
    weight: np.ndarray


def _grade(
    value: np.ndarray,
    rows: _Rows,
    grade: np.ndarray,
    low_attendance: np.ndarray,
    draws: tuple[np.ndarray, np.ndarray],
    schools: Schools,
) -> _Graded:
    """Cut latent values into marks; ``draws`` are the numeric and incomplete noise."""
    noise, u = draws
    sch, slot, fin, withdrawn = rows.school, rows.slot, rows.final, rows.withdrawn
    hs = grade[rows.who] >= 9
    letter = np.searchsorted(_LETTER_CUTS, value, side="right")
    numeric = np.clip(np.round(54.6 + 9 * value + noise), 0, 100)
    points = np.where(
        schools.numeric_marks[sch],
        np.clip((numeric - 50) // 10, 0, 4),
        _LETTER_POINTS[letter],
    )
    as_number = NUMBER0 + numeric.astype(np.int64)
    mark = np.where(schools.numeric_marks[sch], as_number, letter)
    failed = points == 0
    pass_fail = schools.pass_fail_pe[sch] & (slot == 4) & hs
    mark = np.where(pass_fail, np.where(failed, NP, P), mark)
    incomplete = fin & hs & (u < 0.01) & low_attendance[rows.who]
    mark = np.where(incomplete, INC, mark)
    mark = np.where(withdrawn, W, mark)
    graded = fin & ~withdrawn & ~incomplete & ~pass_fail
    is_f = graded & failed
    weight = np.where(rows.t_idx == 6, 2.0, 1.0)  # a full-year final is two semesters
    attempted = np.where(fin & hs, 0.5 * weight, np.nan)
    attempted = np.where(withdrawn & hs, 0.0, attempted)
    passed = ~is_f & ~withdrawn & ~incomplete & ~(pass_fail & failed)
    earned = np.where(passed, attempted, np.where(np.isnan(attempted), np.nan, 0.0))
    return _Graded(mark, attempted, earned, is_f, points, graded, weight)


def _row_values(
    quarter: np.ndarray, final: np.ndarray, lift: np.ndarray, rows: _Rows
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's latent value without support, and the support's lift of it."""
    pos, fin = rows.position, rows.final
    value = np.where(
        fin,
        final[rows.who, rows.slot, np.minimum(pos, 2)],
        quarter[rows.who, rows.slot, np.minimum(pos, 3)],
    )
    halves = np.stack([lift[:, :2].mean(1), lift[:, 2:].mean(1), lift.mean(1)], axis=1)
    shift = np.where(
        fin, halves[rows.who, np.minimum(pos, 2)], lift[rows.who, np.minimum(pos, 3)]
    )
    return value, shift


def simulate_marks(
    roster: YearRoster,
    stu: slice,
    spans: slice,
    schools: Schools,
    att: AttendanceBlock,
    rng: np.random.Generator,
) -> MarkBlock:
    """Draw the block's marks and add finals to the roster's credit/F/GPA totals.

    Marks with and without support come from the same random draws (common random
    numbers); the totals count the marks with support, as posted.
    """
    n = stu.stop - stu.start
    local = roster.span_stu[spans] - stu.start
    first_school = roster.span_school[spans][np.searchsorted(local, np.arange(n))]
    rate = _quarter_rates(att)
    quarter, final = _latent(roster, stu, first_school, schools, rate, rng)
    courses = _courses(roster.grade[stu], roster.a[stu], rng)
    rows = _posted_rows(roster, stu, spans, schools)
    lift = roster.lift[stu]
    value, shift = _row_values(quarter, final, lift, rows)
    draws = (rng.normal(0, 1.5, len(value)), rng.random(len(value)))
    grade, low = roster.grade[stu], rate[:, 3] < 0.85
    got = _grade(value + shift, rows, grade, low, draws, schools)
    served = lift.any(axis=1)[rows.who]
    plain = _grade(value, rows, grade, low, draws, schools) if served.any() else got

    w, wt = rows.who, got.weight
    st = roster.stats
    st["credits"][stu] = np.bincount(w, np.nan_to_num(got.earned), minlength=n)
    st["n_f"][stu] = np.bincount(w, got.is_f * wt, minlength=n)
    st["n_f_core"][stu] = np.bincount(w, got.is_f * wt * (rows.slot < 4), minlength=n)
    st["gp_sum"][stu] = np.bincount(w, got.graded * got.points * wt, minlength=n)
    st["gp_weight"][stu] = np.bincount(w, got.graded * wt, minlength=n)
    return MarkBlock(
        row_stu=w,
        row_span=spans.start + rows.s_idx,
        term=rows.t_idx,
        course=courses[w, rows.slot],
        mark=got.mark,
        attempted=got.attempted,
        earned=got.earned,
        plain_mark=plain.mark.copy(),
        plain_earned=plain.earned.copy(),
        served=served,
    )


def _floats(values: np.ndarray) -> pa.Array:
    """A float column with NaN as null."""
    return pa.array(values, pa.float64(), from_pandas=True)


def marks_table(
    block: MarkBlock,
    sid: pa.Array,
    roster: YearRoster,
    schools: Schools,
    *,
    without_support: bool = False,
) -> pa.Table:
    """The block's rows as the ``course_marks`` table.

    With ``without_support`` only the served students' rows, with the marks they would
    have had without support (the synthetic district's hidden truth).
    """
    keep = block.served if without_support else np.ones(len(block.mark), bool)
    mark = block.plain_mark if without_support else block.mark
    earned = block.plain_earned if without_support else block.earned
    bounds = roster.cal.quarter_bounds()
    term_end = pa.array(
        [roster.cal.date(int(bounds[t[4], 1])) for t in TERMS], pa.string()
    )
    course = pa.array(block.course[keep], pa.int64())
    term = pa.array(block.term[keep], pa.int64())
    return pa.table(
        {
            "student_id": sid.take(pa.array(block.row_stu[keep], pa.int64())),
            "school_id": pa.array(schools.school_id, pa.string()).take(
                pa.array(roster.span_school[block.row_span[keep]], pa.int64())
            ),
            "school_year": pa.array(np.full(int(keep.sum()), roster.year), pa.int32()),
            "term": pa.array([t[0] for t in TERMS], pa.string()).take(term),
            "course_id": pa.array([c[0] for c in CATALOG], pa.string()).take(course),
            "subject": pa.array([c[2] for c in CATALOG], pa.string()).take(course),
            "mark": pa.array(MARKS, pa.string()).take(pa.array(mark[keep], pa.int64())),
            "is_final": pa.array([t[2] for t in TERMS], pa.bool_()).take(term),
            "course_name": pa.array([c[1] for c in CATALOG], pa.string()).take(course),
            "term_end_date": term_end.take(term),
            "credits_attempted": _floats(block.attempted[keep]),
            "credits_earned": _floats(earned[keep]),
        }
    )
