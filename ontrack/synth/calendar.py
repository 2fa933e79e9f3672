"""The synthetic district's instructional calendar for one school year.

School year ``Y`` runs Jul 1 of ``Y - 1`` to Jun 30 of ``Y``. Instruction starts on the
first Wednesday on or after Aug 15 and runs on weekdays, minus the usual US holidays and
breaks, until 180 instructional days have been held (early to mid June). Quarters are
45 days each, so semester 1 ends mid-January and the Oct 31 checkpoint sees Q1 marks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

N_DAYS = 180
QUARTER_STARTS = (0, 45, 90, 135)


@dataclass(frozen=True)
class SchoolCalendar:
    """Instructional days of one school year and per-day absence effects.

    ``iso`` holds the ISO date strings of the instructional days followed by two extra
    entries used only for deliberate mess: an impossible date (Feb 30) and a summer date
    on which nobody is enrolled.
    """

    school_year: int
    days: np.ndarray  # datetime64[D], instructional days in order
    iso: pa.Array  # string: len(days) + 2 entries (see class docstring)
    week: np.ndarray  # int16 week number of each day (0 = first week)
    day_effect: np.ndarray  # float32 shift of the absence log-odds on each day

    @property
    def n_days(self) -> int:
        """Number of instructional days."""
        return len(self.days)

    @property
    def n_weeks(self) -> int:
        """Number of calendar weeks that hold instructional days."""
        return int(self.week[-1]) + 1

    @property
    def impossible_day(self) -> int:
        """Index into ``iso`` of the impossible date string (mess only)."""
        return self.n_days

    @property
    def summer_day(self) -> int:
        """Index into ``iso`` of a mid-July date (mess only)."""
        return self.n_days + 1

    def quarter_bounds(self) -> np.ndarray:
        """``(4, 2)`` array of [first, last] day index of each quarter."""
        starts = np.array(QUARTER_STARTS)
        ends = np.append(starts[1:] - 1, self.n_days - 1)
        return np.stack([starts, ends], axis=1)

    def date(self, index: int) -> str:
        """ISO string of the instructional day ``index``."""
        return str(self.iso[index])


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th given weekday (Mon = 0) of a month; n = -1 gives the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _weekdays_from(monday: dt.date, n_weeks: int) -> list[dt.date]:
    return [
        monday + dt.timedelta(days=7 * w + d) for w in range(n_weeks) for d in range(5)
    ]


def _days_off(school_year: int) -> set[dt.date]:
    """Holidays and breaks on which no instruction is held."""
    fall, spring = school_year - 1, school_year
    off = {
        _nth_weekday(fall, 9, 0, 1),  # Labor Day
        _nth_weekday(spring, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(spring, 2, 0, 3),  # Presidents' Day
        _nth_weekday(spring, 5, 0, -1),  # Memorial Day
    }
    veterans = dt.date(fall, 11, 11)
    shift = {5: -1, 6: 1}.get(veterans.weekday(), 0)
    off.add(veterans + dt.timedelta(days=shift))
    thanksgiving = _nth_weekday(fall, 11, 3, 4)
    off.update(_weekdays_from(thanksgiving - dt.timedelta(days=3), 1))
    dec22 = dt.date(fall, 12, 22)
    off.update(_weekdays_from(dec22 - dt.timedelta(days=dec22.weekday()), 2))
    off.update(_weekdays_from(_nth_weekday(spring, 3, 0, -1), 1))  # spring break
    return off


def build_calendar(school_year: int, n_days: int = N_DAYS) -> SchoolCalendar:
    """Build the instructional calendar of ``school_year`` (the year it ends in)."""
    start = dt.date(school_year - 1, 8, 15)
    start += dt.timedelta(days=(2 - start.weekday()) % 7)  # first Wednesday
    off = _days_off(school_year)
    days: list[dt.date] = []
    day = start
    while len(days) < n_days:
        if day.weekday() < 5 and day not in off:
            days.append(day)
        day += dt.timedelta(days=1)
    arr = np.array(days, dtype="datetime64[D]")
    first_monday = start - dt.timedelta(days=start.weekday())
    week = ((arr - np.datetime64(first_monday)).astype(np.int64) // 7).astype(np.int16)
    iso = [d.isoformat() for d in days]
    iso += [f"{school_year}-02-30", f"{school_year - 1}-07-15"]
    return SchoolCalendar(
        school_year=school_year,
        days=arr,
        iso=pa.array(iso, type=pa.string()),
        week=week,
        day_effect=_day_effects(arr),
    )


def _day_effects(days: np.ndarray) -> np.ndarray:
    """Absence log-odds shifts: Mondays, Fridays, days next to breaks, start/end."""
    n = len(days)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    effect = np.zeros(n, dtype=np.float32)
    effect[weekday == 0] += 0.10
    effect[weekday == 4] += 0.18
    gaps = np.diff(days.astype(np.int64))
    before_break = np.append(gaps > 3, False)
    after_break = np.insert(gaps > 3, 0, False)
    effect[before_break] += 0.35
    effect[after_break] += 0.15
    effect[:10] -= 0.30  # the first two weeks: everyone shows up
    effect[-10:] += 0.30  # the last two weeks: many do not
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    effect[(month == 12) | (month == 2)] += 0.10  # winter illness
    return effect
