"""Assessment features: ELA and math scale scores and levels, and their change.

A subject counts as ELA when it reads ``ela``, ``english``, ``english language arts``,
``reading`` or ``literacy`` (any case, spaces or underscores), and as math when it
reads ``math`` or ``mathematics``; other subjects are not used. Per subject and school
year the latest result known at the as-of date counts (``test_date``, else the end of
the school year; ties: the higher score). A student without a result is missing.
"""

from __future__ import annotations

from ontrack.dataset.featurize import feature, source

ELA_NAMES = ("ela", "english", "english_language_arts", "reading", "literacy")
MATH_NAMES = ("math", "mathematics")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


@source(tables=("assessments",))
def assessment_results() -> str:
    """The latest ELA and math result per student, as-of date and school year (this
    year and the two before) known at the as-of date."""
    subject = "replace(lower(trim(subject)), ' ', '_')"
    return f"""
        SELECT student_id, as_of_date, year_offset, scale_score, performance_level,
               CASE WHEN {subject} IN ({_names(ELA_NAMES)}) THEN 'ela'
                    WHEN {subject} IN ({_names(MATH_NAMES)}) THEN 'math' END AS subj
        FROM assessments
        WHERE subj IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY student_id, as_of_date, year_offset, subj
            ORDER BY known_date DESC, scale_score DESC) = 1
    """


def result(subject: str, year_offset: int, column: str = "scale_score") -> str:
    """SQL: one subject's result column in one school year."""
    where = f"subj = '{subject}' AND year_offset = {year_offset}"
    return f"max({column}) FILTER (WHERE {where})"


@feature(
    group="assessment",
    source="assessment_results",
    reason="Last year's ELA scale score was {value:.0f}",
    malleable=False,
)
def ela_scale_score_prior_year() -> str:
    """ELA scale score of last school year (the latest result known)."""
    return result("ela", 1)


@feature(
    group="assessment",
    source="assessment_results",
    reason="Last year's math scale score was {value:.0f}",
    malleable=False,
)
def math_scale_score_prior_year() -> str:
    """Math scale score of last school year (the latest result known)."""
    return result("math", 1)


@feature(
    group="assessment",
    source="assessment_results",
    reason="Last year's ELA level was {value:.0f} of 4",
    malleable=False,
    risk_when="low",
    healthy=3.0,
    valid_range=(1.0, 4.0),
)
def ela_level_prior_year() -> str:
    """ELA performance level (1-4, 4 = exceeded) of last school year."""
    return result("ela", 1, "performance_level")


@feature(
    group="assessment",
    source="assessment_results",
    reason="Last year's math level was {value:.0f} of 4",
    malleable=False,
    risk_when="low",
    healthy=3.0,
    valid_range=(1.0, 4.0),
)
def math_level_prior_year() -> str:
    """Math performance level (1-4, 4 = exceeded) of last school year."""
    return result("math", 1, "performance_level")


@feature(
    group="assessment",
    source="assessment_results",
    reason="ELA scale score fell {size:.0f} points the year before",
    malleable=False,
    risk_when="low",
    healthy=0.0,
)
def ela_scale_score_change() -> str:
    """Last school year's ELA scale score minus the year before's. Missing unless both
    are known."""
    return f"{result('ela', 1)} - {result('ela', 2)}"


@feature(
    group="assessment",
    source="assessment_results",
    reason="Math scale score fell {size:.0f} points the year before",
    malleable=False,
    risk_when="low",
    healthy=0.0,
)
def math_scale_score_change() -> str:
    """Last school year's math scale score minus the year before's. Missing unless
    both are known."""
    return f"{result('math', 1)} - {result('math', 2)}"


@feature(
    group="assessment",
    source="assessment_results",
    reason="This year's ELA scale score is {value:.0f}",
    malleable=False,
)
def ela_scale_score_ytd() -> str:
    """This school year's ELA scale score, once a result is known (an undated result
    only at the end of the school year). Missing before."""
    return result("ela", 0)


@feature(
    group="assessment",
    source="assessment_results",
    reason="This year's math scale score is {value:.0f}",
    malleable=False,
)
def math_scale_score_ytd() -> str:
    """This school year's math scale score, once a result is known. Missing before."""
    return result("math", 0)
