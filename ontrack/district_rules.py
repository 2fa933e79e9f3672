"""The district rules of a config: mark scale, credit unit, readiness and on-track
bars, checkpoints and the school-year calendar (the ``rules:`` section and each
``districts.<district_id>`` override).

Split out of :mod:`ontrack.config`, which re-exports every name here, so
``from ontrack.config import DistrictRules`` keeps working.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator, model_validator

from ontrack.settings_base import _Frozen


def _default_letter_points() -> dict[str, float]:
    """A=4, B=3, C=2, D=1, F=0; + or - moves 0.3, with A+ capped at 4.0."""
    points: dict[str, float] = {}
    for letter, base in (("A", 4.0), ("B", 3.0), ("C", 2.0), ("D", 1.0)):
        points[f"{letter}+"] = min(4.0, base + 0.3)
        points[letter] = base
        points[f"{letter}-"] = round(base - 0.3, 1)
    points["F"] = 0.0
    return points


class MarkScale(_Frozen):
    """How marks turn into grade points and which marks count as D/F or pass."""

    letter_points: dict[str, float] = Field(
        default_factory=_default_letter_points,
        description="Grade points per letter mark (0-4 scale).",
    )
    numeric_cutoffs: dict[str, float] = Field(
        default_factory=lambda: {"A": 90.0, "B": 80.0, "C": 70.0, "D": 60.0},
        description="Lowest numeric mark (0-100) for each letter; below the lowest is F.",
    )
    d_or_f_letters: tuple[str, ...] = Field(
        default=("D", "F"),
        description="Base letters that count as a D or F (readiness criterion).",
    )
    failing_letters: tuple[str, ...] = Field(
        default=("F",), description="Base letters that count as a failing mark."
    )
    pass_marks: tuple[str, ...] = Field(
        default=("P",), description="Marks meaning pass without grade points."
    )
    no_pass_marks: tuple[str, ...] = Field(
        default=("NP",), description="Marks meaning no pass (failing, no grade points)."
    )
    non_grade_marks: tuple[str, ...] = Field(
        default=("I", "W"), description="Incomplete / withdrawn: no points, not failing."
    )

    @field_validator("letter_points")
    @classmethod
    def _points_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for letter, pts in value.items():
            if not 0.0 <= pts <= 5.0:
                raise ValueError(
                    f"grade points must be between 0 and 5. Got {letter}={pts} instead."
                )
        return value

    @model_validator(mode="after")
    def _cutoffs_ordered(self) -> MarkScale:
        """Numeric cutoffs are marks out of 100, a better letter needing a higher mark
        (A above B above C above D): out of order, a 95 would read as a lower letter."""
        for letter, cutoff in self.numeric_cutoffs.items():
            if not 0 <= cutoff <= 100:
                raise ValueError(f"numeric_cutoffs must be between 0 and 100. Got {letter}={cutoff} instead.")
        ranked = sorted(self.numeric_cutoffs.items(), key=lambda kv: -self.letter_points.get(kv[0], 0.0))
        marks = [cutoff for _, cutoff in ranked]
        if any(better <= worse for better, worse in zip(marks, marks[1:])):
            shown = ", ".join(f"{letter}={cutoff:g}" for letter, cutoff in ranked)
            raise ValueError("numeric_cutoffs must decrease from the best letter to the worst. "
                             f"Got {shown} instead.")
        return self

    def all_marks(self) -> set[str]:
        """Every non-numeric mark this scale accepts (upper case)."""
        return {
            m.upper()
            for m in (
                *self.letter_points,
                *self.pass_marks,
                *self.no_pass_marks,
                *self.non_grade_marks,
            )
        }


class ReadinessRule(_Frozen):
    """CORE 8th-grade high-school readiness thresholds (CONTRACT §2)."""

    gpa_min: float = Field(2.5, description="Ready needs 8th-grade GPA at or above this "
                           "(0 to the mark scale's highest grade point).")

    @field_validator("gpa_min")
    @classmethod
    def _gpa_scale(cls, value: float) -> float:
        if not 0 <= value <= 5:
            raise ValueError(f"gpa_min must be a GPA between 0 and 5. Got {value} instead.")
        return value
    attendance_min: float = Field(
        0.96, gt=0, le=1, description="Ready needs an attendance rate at or above this."
    )
    max_d_or_f_ela_math: int = Field(
        0, ge=0, description="Most D/F final marks in ELA or math allowed."
    )
    max_suspensions: int = Field(0, ge=0, description="Most suspensions allowed.")


class OnTrackRule(_Frozen):
    """9th-grade on-track thresholds (default: Chicago Freshman On-Track)."""

    full_year_courses_required: float = Field(
        5.0, ge=0, description="Credits needed by end of 9th grade, in full-year courses."
    )
    max_core_semester_fs: int = Field(
        1, ge=0, description="Most semester Fs in core subjects allowed."
    )
    core_subjects: tuple[str, ...] = ("ela", "math", "science", "social_science")


class DistrictRules(_Frozen):
    """Everything that can differ between districts in one data directory."""

    mark_scale: MarkScale = Field(default_factory=MarkScale)
    credit_unit: float = Field(
        1.0,
        gt=0,
        description="Credits per full-year course (1.0; 10 for California semester "
        "credits).",
    )
    school_year_start: str = Field(
        "07-01",
        description="Month-day on which a school year starts; a dated record belongs "
        "to the year running from here.",
    )
    checkpoints: tuple[str, ...] = Field(
        ("10-31", "01-31", "06-30"),
        description="As-of month-days at which cohorts are scored each school year.",
    )
    readiness: ReadinessRule = Field(default_factory=ReadinessRule)
    on_track: OnTrackRule = Field(default_factory=OnTrackRule)
    chronic_absence_max_rate: float = Field(
        0.90,
        gt=0,
        le=1,
        description="Chronically absent when the attendance rate is at or below this.",
    )

    @field_validator("school_year_start")
    @classmethod
    def _month_day(cls, value: str) -> str:
        parse_month_day(value)
        return value

    @field_validator("checkpoints")
    @classmethod
    def _checkpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("checkpoints must list at least one month-day. Got none.")
        for item in value:
            parse_month_day(item)
        return value

    @model_validator(mode="after")
    def _in_year_order(self) -> DistrictRules:
        """Checkpoints once each, in the order a school year meets them from
        ``school_year_start``; the GPA bar within the mark scale's grade points."""
        start = date(2000, *parse_month_day(self.school_year_start))  # 2000: a leap year
        order = [(date(2000, *parse_month_day(item)) - start).days % 366 for item in self.checkpoints]
        if len(set(self.checkpoints)) != len(self.checkpoints):
            raise ValueError(f"checkpoints must not repeat. Got {list(self.checkpoints)} instead.")
        if order != sorted(order):
            raise ValueError(f"checkpoints must be in school-year order from {self.school_year_start}. "
                             f"Got {list(self.checkpoints)} instead.")
        top = max(self.mark_scale.letter_points.values(), default=4.0)
        if self.readiness.gpa_min > top:
            raise ValueError(f"readiness.gpa_min must be at most {top:g}, the highest grade point "
                             f"of the mark scale. Got {self.readiness.gpa_min} instead.")
        return self

    def year_start(self, school_year: int) -> date:
        """First day of ``school_year`` (the year in which it ends)."""
        month, day = parse_month_day(self.school_year_start)
        start_year = school_year - 1 if (month, day) > (1, 1) else school_year
        return date(start_year, month, day)

    def year_end(self, school_year: int) -> date:
        """Last day of ``school_year``: the day before the next year starts."""
        return date.fromordinal(self.year_start(school_year + 1).toordinal() - 1)


def parse_month_day(value: str) -> tuple[int, int]:
    try:
        month_text, day_text = value.split("-")
        month, day = int(month_text), int(day_text)
        date(2000, month, day)  # 2000 is a leap year, so 02-29 is allowed
    except ValueError:
        raise ValueError(
            f"a month-day must look like 'MM-DD'. Got {value!r} instead."
        ) from None
    return month, day
