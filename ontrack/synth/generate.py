"""``generate_district``: write a whole synthetic district data directory.

The simulation starts three years before the first output year (a burn-in, so that
seniors in the first year have a real high-school history), then steps one school year
at a time: plan the year, simulate blocks of students (discipline -> daily attendance ->
marks -> tests), close the year (graduation, retention, moves). Output years are written
as they are simulated; memory holds one block of students x instructional days.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ontrack.errors import OnTrackError
from ontrack.synth.attendance import attendance_table, simulate_attendance
from ontrack.synth.calendar import build_calendar
from ontrack.synth.events import (
    Counselors,
    assessments_table,
    discipline_table,
    simulate_discipline,
    spring_test_days,
)
from ontrack.synth.marks import marks_table, simulate_marks
from ontrack.synth.mess import Mess, MessItem
from ontrack.synth.roster import YearRoster, initial_population, plan_year
from ontrack.synth.sink import FORMATS, TABLES, TRUTH, TableSink
from ontrack.synth.support import Support, interventions_table, support_spec
from ontrack.synth.tables import (
    attendance_summary_table,
    enrollments_table,
    outcomes_table,
    student_years_table,
    students_table,
)
from ontrack.synth.world import (
    Population,
    Schools,
    build_schools,
    grade_targets,
    student_id_strings,
)
from ontrack.synth.year_end import close_year

MARKER = "_synth.json"
BURN_IN_YEARS = 3
BLOCK_STUDENTS = 20_000
MIN_STUDENTS = 50


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate_district`` wrote.

    ``rows`` counts the rows written per table (mess included); ``mess`` lists every
    deliberate error as (kind, table, count, detail).
    """

    out_dir: Path
    seed: int
    school_years: tuple[int, ...]
    daily_attendance_years: tuple[int, ...]
    fmt: str
    rows: dict[str, int]
    mess: tuple[MessItem, ...]


def _check_args(n_students: int, n_years: int, fmt: str) -> None:
    if n_students < MIN_STUDENTS:
        raise OnTrackError(
            f"--students must be at least {MIN_STUDENTS}. Got {n_students} instead."
        )
    if n_years < 1:
        raise OnTrackError(f"--years must be at least 1. Got {n_years} instead.")
    if fmt not in FORMATS:
        raise OnTrackError(
            f"--format must be one of {', '.join(FORMATS)}. Got {fmt!r} instead."
        )


def _prepare(out_dir: Path, params: dict) -> None:
    """Create ``out_dir``; refuse a non-empty directory that synth did not write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OnTrackError(f"{out_dir} is a file, not a directory. Choose a directory.")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise OnTrackError(
            f"{out_dir} is not empty and was not written by `ontrack synth` "
            f"(no {MARKER}). Choose an empty or new directory so no data of yours "
            "is overwritten."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        for ext in FORMATS:
            (out_dir / f"{name}.{ext}").unlink(missing_ok=True)
    (out_dir / TRUTH).unlink(missing_ok=True)
    _write_marker(out_dir, {**params, "complete": False})


def _write_marker(out_dir: Path, content: dict) -> None:
    text = json.dumps(content, indent=2, sort_keys=True) + "\n"
    (out_dir / MARKER).write_text(text, encoding="utf-8")


@dataclass
class _Run:
    """The state of one generation: the population and where its rows go."""

    pop: Population
    schools: Schools
    targets: np.ndarray
    rng: np.random.Generator
    sink: TableSink
    mess: Mess | None
    counselors: Counselors
    support: Support
    seed: int
    years: tuple[int, ...]
    daily: tuple[int, ...]
    supported: list[dict] = field(default_factory=list)

    def simulate(self, progress: Callable[[str], None]) -> None:
        """Burn-in years, then every output year, then students and outcomes."""
        first = self.years[0] - BURN_IN_YEARS
        initial_population(self.pop, self.schools, self.targets, first, self.rng)
        calendar = build_calendar(first)
        for year in range(first, self.years[-1] + 1):
            cal, calendar = calendar, build_calendar(year + 1)
            roster = plan_year(self.pop, self.schools, self.targets, cal, self.rng)
            if year in self.years:
                self.supported = self.support.plan(self.pop, roster)
            sid = student_id_strings(self.pop["sid"][roster.stu])
            test_day = spring_test_days(len(self.schools), cal.n_days, self.rng)
            for k, (stu, spans) in enumerate(roster.chunks(BLOCK_STUDENTS)):
                self._block(roster, stu, spans, sid, test_day, first_block=k == 0)
            last = year == self.years[-1]
            next_day = None if last else calendar.days[0]
            close_year(
                self.pop, self.schools, roster, self.rng, next_first_day=next_day
            )
            if year in self.years:
                self._write_year(roster, sid)
                rows = self.sink.rows["attendance"]
                daily = f", {rows:,} attendance rows so far" * (year in self.daily)
                progress(f"{year - 1}-{year % 100:02d}: {len(sid):,} students{daily}")
        students = students_table(self.pop, self.seed)
        if self.mess is not None:
            students = self.mess.students(students)
        self.sink.write("students", students)
        self.sink.write("outcomes", outcomes_table(self.pop, cal.days[-1]))

    def _block(
        self,
        roster: YearRoster,
        stu: slice,
        spans: slice,
        sid: pa.Array,
        test_day: np.ndarray,
        *,
        first_block: bool,
    ) -> None:
        """Simulate one block of students; write its rows in an output year."""
        rng, schools, who = self.rng, self.schools, roster.stu[stu]
        conduct, tardy = self.pop["conduct"][who], self.pop["tardy"][who]
        inc = simulate_discipline(roster, stu, spans, schools, conduct, rng)
        att = simulate_attendance(roster, stu, spans, schools, tardy, inc, rng)
        if roster.year in self.years:
            self.supported += self.support.block(self.pop, roster, stu, att)
        marks = simulate_marks(roster, stu, spans, schools, att, rng)
        if roster.year not in self.years:
            return
        bsid = sid.slice(stu.start, stu.stop - stu.start)
        tests = assessments_table(roster, stu, spans, bsid, test_day, rng)
        self.sink.write("assessments", tests)
        self.sink.write("discipline", discipline_table(inc, bsid, roster, schools))
        messy = self.mess is not None and roster.year == self.mess.school_year
        if first_block and messy and self.mess is not None:
            self.mess.attendance(att, roster, bsid)
            self.mess.marks(marks, bsid)
        if roster.year in self.daily:
            self.sink.write("attendance", attendance_table(att, bsid, roster, schools))
        self.sink.write("course_marks", marks_table(marks, bsid, roster, schools))
        plain = marks_table(marks, bsid, roster, schools, without_support=True)
        self.sink.write_truth(plain)

    def _write_year(self, roster: YearRoster, sid: pa.Array) -> None:
        """Year-level tables; mark who appears in the output (and in high school)."""
        self.pop["in_output"][roster.stu] = True
        self.pop["hs_output"][roster.stu[roster.grade >= 9]] = True
        enrollments = enrollments_table(roster, sid, self.schools)
        if self.mess is not None and roster.year == self.mess.school_year:
            enrollments = self.mess.enrollments(enrollments, roster)
        self.sink.write("enrollments", enrollments)
        self.sink.write("student_years", student_years_table(roster, sid, self.schools))
        summary = attendance_summary_table(roster, sid, self.schools)
        self.sink.write("attendance_summary", summary)
        self.sink.write("caseloads", self.counselors.table(roster, sid))
        supported = interventions_table(self.supported, sid, roster, self.schools)
        self.sink.write("interventions", supported)


# long: 45 of its lines are the numpydoc docstring; the body is 19 (_new_run, _finish).
def generate_district(
    out_dir: Path,
    *,
    n_students: int = 2000,
    n_years: int = 6,
    seed: int = 0,
    last_school_year: int = 2025,
    fmt: str = "parquet",
    mess: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Write a synthetic urban district (CONTRACT §1 tables) to ``out_dir``.

    Demos, tests and benchmarks need district data that look real, exercise every
    table and edge case (mobility, retention, dropouts, mixed mark scales) and contain
    no real student. The same arguments always give byte-identical files. The marks
    served students would have had without support go to
    ``_truth/course_marks_without_support.parquet``; ``_synth.json`` says how each
    support was assigned and what it does.

    Parameters
    ----------
    out_dir : Path
        A new or empty directory, or the output of a previous run (it holds
        ``_synth.json``); the old table files are replaced.
    n_students : int
        Approximate enrollment in grades 6-12 in any one year (at least 50).
    n_years : int
        How many school years to write, ending with ``last_school_year``.
        With four or more, the oldest year has only ``attendance_summary`` (no daily
        rows), as if the district had adopted daily exports a year later.
    seed : int
        Random seed.
    last_school_year : int
        The last school year, named by the calendar year it ends in (2025 = 2024-25).
    fmt : str
        ``"parquet"`` or ``"csv"``.
    mess : bool
        Add a few deliberately bad rows for validation to catch (listed in the summary).
    progress : callable, optional
        Called with one line of text per simulated school year.

    Returns
    -------
    SynthSummary
        Rows written per table, the years, and the mess injected.

    Raises
    ------
    OnTrackError
        On bad arguments, or if ``out_dir`` is a non-empty directory without the
        ``_synth.json`` marker of a previous run.
    """
    _check_args(n_students, n_years, fmt)
    out_dir = Path(out_dir)
    params = {
        "generator": "ontrack synth",
        "n_students": n_students,
        "n_years": n_years,
        "seed": seed,
        "last_school_year": last_school_year,
        "format": fmt,
        "mess": mess,
    }
    _prepare(out_dir, params)
    say = progress or (lambda _msg: None)
    run = _new_run(out_dir, params, say)
    try:
        run.sink.write("schools", run.schools.table())
        run.simulate(progress=say)
    finally:
        run.sink.close()
    return _finish(out_dir, params, run, say)


def _new_run(out_dir: Path, params: dict, say: Callable[[str], None]) -> _Run:
    """The schools and an empty population for ``generate_district``'s ``params``."""
    n_students, n_years, seed = params["n_students"], params["n_years"], params["seed"]
    last = params["last_school_year"]
    years = tuple(range(last - n_years + 1, last + 1))
    daily = years[1:] if n_years >= 4 else years
    rng = np.random.default_rng(seed)
    schools = build_schools(n_students, rng)
    say(
        f"{len(schools)} schools ({(schools.level == 'middle').sum()} middle, "
        f"{(schools.level == 'high').sum()} high, 1 grades 6-12), "
        f"school years {years[0]}-{years[-1]}"
    )
    mess = params["mess"]
    return _Run(
        pop=Population(),
        schools=schools,
        targets=grade_targets(n_students),
        rng=rng,
        sink=TableSink(out_dir, params["format"]),
        mess=Mess(seed, daily[-2] if len(daily) > 1 else daily[-1]) if mess else None,
        counselors=Counselors(np.random.default_rng([seed, 2])),
        support=Support(seed, daily),
        seed=seed,
        years=years,
        daily=daily,
    )


def _finish(
    out_dir: Path, params: dict, run: _Run, say: Callable[[str], None]
) -> SynthSummary:
    """Mark the run complete in ``_synth.json`` (rows, mess, supports) and sum it up."""
    rows = dict(run.sink.rows)
    items = tuple(run.mess.items) if run.mess is not None else ()
    _write_marker(
        out_dir,
        {
            **params,
            "complete": True,
            "rows": rows,
            "mess": [asdict(m) for m in items],
            "interventions": support_spec(),
            "truth_rows": run.sink.truth_rows,
        },
    )
    total = sum(rows.values())
    say(f"wrote {total:,} rows in {len(rows)} tables to {os.fspath(out_dir)}")
    return SynthSummary(
        out_dir=out_dir,
        seed=run.seed,
        school_years=run.years,
        daily_attendance_years=run.daily,
        fmt=params["format"],
        rows=rows,
        mess=items,
    )
