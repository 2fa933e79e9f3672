"""Names people read: student groups, indicators, file names of school pages."""

from __future__ import annotations

import hashlib
import re

from ontrack.reports.district.data import GROUP_TYPES, Cell

_GROUP_TYPE_NAMES = dict(GROUP_TYPES)
_GENDER = {"F": "Female", "M": "Male", "X": "Nonbinary (X)"}
_RACE = {
    "two_or_more": "Two or more races",
    "not_reported": "Not reported",
    "american_indian": "American Indian or Alaska Native",
    "pacific_islander": "Pacific Islander",
    "black": "Black or African American",
}
# Each flag's two sides in words: (students with the flag, students without it).
_FLAG_SIDES = {
    "english_learner": ("English learners", "Not English learners"),
    "students_with_disabilities": (
        "Students with disabilities",
        "Students without disabilities",
    ),
    "socioeconomically_disadvantaged": (
        "Socioeconomically disadvantaged",
        "Not socioeconomically disadvantaged",
    ),
    "foster_youth": ("Foster youth", "Not in foster care"),
    "homeless": ("Students experiencing homelessness", "Not experiencing homelessness"),
}


def group_name(group_type: str, group: str) -> str:
    """Words for a student group, e.g. 'English learners', 'Not English learners' or
    'Hispanic': each side of a flag is named for what it is."""
    if group_type == "all":
        return "All students"
    if group_type == "race_ethnicity":
        return _RACE.get(group, group.replace("_", " ").capitalize())
    if group_type == "gender":
        if group == "not_reported":
            return "Gender not reported"
        return _GENDER.get(group, f"Gender {group}")
    sides = _FLAG_SIDES.get(group_type)
    if sides is not None and group in ("yes", "no"):
        return sides[0] if group == "yes" else sides[1]
    return f"{group_type_name(group_type)}: {group.replace('_', ' ')}"


def is_flag_side(group_type: str, group: str) -> bool:
    """Whether ``group`` is one side (yes/no) of a yes/no flag, which ``group_name``
    names on its own ("Not English learners")."""
    return group_type in _FLAG_SIDES and group in ("yes", "no")


def group_type_name(group_type: str) -> str:
    """Words for a kind of group."""
    return _GROUP_TYPE_NAMES.get(group_type, group_type.replace("_", " ").capitalize())


def school_page(school_id: str) -> str:
    """File name of a school's page: ``school_<id>.html`` (unsafe characters replaced)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", school_id)
    if safe != school_id:
        safe += "-" + hashlib.sha256(school_id.encode()).hexdigest()[:6]
    return f"school_{safe}.html"


def year_name(year: int) -> str:
    """2025 -> '2024-25'."""
    return f"{year - 1}-{str(year)[2:]}"


def change_words(now: Cell | None, before: Cell | None, good_high: bool) -> str:
    """'up 3.2 points from last year' style text, or '' when either is withheld."""
    if now is None or before is None or now.rate is None or before.rate is None:
        return ""
    diff = now.rate - before.rate
    if abs(diff) < 0.0005:
        return "about the same as the year before"
    direction = "up" if diff > 0 else "down"
    better = (diff > 0) == good_high
    return f"{direction} {abs(diff) * 100:.1f} points from the year before ({'better' if better else 'worse'})"
