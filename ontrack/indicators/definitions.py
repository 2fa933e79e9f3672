"""The rules in words, rendered once from a district's config (CONTRACT §2).

Every place that states a rule, a criterion or its bar (the indicators' criteria, the
reasons on a roster, the rule-ranked rosters, the district report's tables and
definitions) takes its words from here, with the numbers of the district's own
:class:`~ontrack.config.DistrictRules` (``Config.rules_for(district_id)``). No threshold
is typed anywhere else: a district that asks a GPA of 2.7 reads 2.7 everywhere.

Criteria are named as in ``unknown_criteria`` of ``indicators/students.csv``; each has
the flag column (``*_ok``) that says whether it is met.

Examples
--------
>>> from ontrack.config import DistrictRules
>>> criterion_words(DistrictRules(), "attendance")
'attendance of 96% or higher'
>>> criterion_bar(DistrictRules(), "gpa")
'readiness needs 2.5'
>>> rule_summary(DistrictRules(), "chronic_absence")
'Chronically absent: attendance of 90% or lower in the school year.'
"""

from __future__ import annotations

from ontrack.config import DistrictRules, OnTrackRule, ReadinessRule

# The criteria behind each indicator that has several, in the order they are reported.
CRITERIA: dict[str, tuple[str, ...]] = {
    "hs_readiness_8": ("gpa", "attendance", "df_ela_math", "suspensions"),
    "on_track_9": ("credits", "core_semester_fs"),
}
# criterion -> its flag column in students.csv (TRUE met, FALSE not met, NULL unknown)
FLAGS: dict[str, str] = {
    "gpa": "gpa_ok",
    "attendance": "attendance_ok",
    "df_ela_math": "df_ok",
    "suspensions": "suspension_ok",
    "credits": "credits_ok",
    "core_semester_fs": "fs_ok",
}
# criterion -> the indicator it belongs to
INDICATOR_OF: dict[str, str] = {c: ind for ind, crit in CRITERIA.items() for c in crit}
NAMES: dict[str, str] = {
    "hs_readiness_8": "Ready for high school",
    "on_track_9": "On track",
    "chronic_absence": "Chronically absent",
    "suspension": "Suspended at least once",
}
# How a bar names its rule: "readiness needs 96%", "on-track allows at most 1".
_RULE_WORD = {"hs_readiness_8": "readiness", "on_track_9": "on-track"}
_COUNT_WORDS = {1: "one"}


def flag_of(criterion: str) -> str:
    """The students.csv flag column of a criterion ("gpa" -> "gpa_ok")."""
    _check(criterion)
    return FLAGS[criterion]


def percent(rate: float) -> str:
    """A rate threshold as a percentage: 0.96 -> "96%", 0.935 -> "93.5%".

    >>> percent(0.9), percent(0.935)
    ('90%', '93.5%')
    """
    return f"{round(rate * 100, 2):g}%"


def number(value: float) -> str:
    """A threshold as written by people: 2.5 -> "2.5", 5.0 -> "5"."""
    return f"{value:g}"


def criterion_words(rules: DistrictRules, criterion: str) -> str:
    """The criterion as a condition to meet, with the district's numbers.

    Used as a table's row header ("attendance of 96% or higher").
    """
    _check(criterion)
    readiness, on_track = rules.readiness, rules.on_track
    if criterion == "gpa":
        return f"GPA of {number(readiness.gpa_min)} or higher"
    if criterion == "attendance":
        return f"attendance of {percent(readiness.attendance_min)} or higher"
    if criterion == "df_ela_math":
        most = readiness.max_d_or_f_ela_math
        return (
            "no D or F in ELA or math" if most == 0
            else f"at most {_count(most)} D or F {_plural(most, 'mark')} in ELA or math"
        )
    if criterion == "suspensions":
        most = readiness.max_suspensions
        return (
            "no suspension" if most == 0
            else f"at most {_count(most)} {_plural(most, 'suspension')}"
        )
    if criterion == "credits":
        courses = on_track.full_year_courses_required
        credits = (
            "" if rules.credit_unit == 1
            else f", {number(courses * rules.credit_unit)} credits"
        )
        return f"enough credits ({number(courses)} full-year {_plural(courses, 'course')}{credits})"
    most = on_track.max_core_semester_fs
    if most == 0:
        return "no semester F in a core subject"
    return f"at most {_count(most)} semester {_plural(most, 'F')} in a core subject"


def criterion_bar(rules: DistrictRules, criterion: str) -> str:
    """The rule's bar for one criterion, shown beside a student's value.

    E.g. "Attended 88% of school days this year (readiness needs 96%)".
    """
    _check(criterion)
    rule = _RULE_WORD[INDICATOR_OF[criterion]]
    readiness, on_track = rules.readiness, rules.on_track
    if criterion == "gpa":
        return f"{rule} needs {number(readiness.gpa_min)}"
    if criterion == "attendance":
        return f"{rule} needs {percent(readiness.attendance_min)}"
    if criterion == "credits":
        return (
            f"{rule} needs {number(on_track.full_year_courses_required)} by the end of "
            "9th grade"
        )
    most = {
        "df_ela_math": readiness.max_d_or_f_ela_math,
        "suspensions": readiness.max_suspensions,
        "core_semester_fs": on_track.max_core_semester_fs,
    }[criterion]
    if most == 0:
        return f"{rule} needs {'no suspension' if criterion == 'suspensions' else 'none'}"
    return f"{rule} allows at most {most}"


def rule_definition(rules: DistrictRules, indicator: str) -> str:
    """What ``met`` means for an indicator, in one sentence with the district's numbers."""
    if indicator == "hs_readiness_8":
        source = " (CORE)" if rules.readiness == ReadinessRule() else ""
        return f"in grade 8, {_and(rules, CRITERIA[indicator])}{source}."
    if indicator == "on_track_9":
        source = " (Chicago Freshman On-Track)" if rules.on_track == OnTrackRule() else ""
        return f"by the end of grade 9, {_and(rules, CRITERIA[indicator])}{source}."
    if indicator == "chronic_absence":
        return (
            f"attendance of {percent(rules.chronic_absence_max_rate)} or lower in the "
            "school year."
        )
    if indicator == "suspension":
        return "suspended or expelled at least once in the school year."
    raise ValueError(
        f"indicator must be one of {', '.join(NAMES)}. Got {indicator!r} instead."
    )


def rule_summary(rules: DistrictRules, indicator: str) -> str:
    """The whole rule of an indicator in one sentence: its name, then its definition."""
    definition = rule_definition(rules, indicator)
    return f"{NAMES[indicator]}: {definition}"


def _and(rules: DistrictRules, criteria: tuple[str, ...]) -> str:
    words = [criterion_words(rules, c) for c in criteria]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _plural(n: float, word: str) -> str:
    return word if n == 1 else f"{word}s"


def _count(n: int) -> str:
    return _COUNT_WORDS.get(n, str(n))


def _check(criterion: str) -> None:
    if criterion not in FLAGS:
        raise ValueError(
            f"criterion must be one of {', '.join(FLAGS)}. Got {criterion!r} instead."
        )
