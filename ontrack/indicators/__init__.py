"""Rule-based indicators (CONTRACT §2): per student-year, as rates, as of any date.

The public surface is small; the rules themselves live next to their SQL in the private
modules (``checkpoints``: population and as-of clipping, ``attendance``, ``marks``,
``discipline``, ``rules``: the four indicators, ``definitions``: the rules in words,
``rates`` and ``suppression``: the published aggregates, ``run``: the command's work).
docs/indicators.md explains every interpretation in words.
"""

from __future__ import annotations

from ontrack.indicators.attendance import (
    ABSENT_STATUSES,
    ATTENDED_STATUSES,
    daily_flags_sql,
)
from ontrack.indicators.checkpoints import checkpoint_dates, school_year_of
from ontrack.indicators.definitions import (
    criterion_bar,
    criterion_words,
    rule_definition,
    rule_summary,
)
from ontrack.indicators.discipline import SUSPENSION_ACTIONS, discipline_counts
from ontrack.indicators.rates import (
    GROUP_FLAGS,
    indicator_rates,
    lowest_groups,
    student_groups,
)
from ontrack.indicators.rules import (
    FLAG_COLUMNS,
    INDICATOR_GRADES,
    INDICATORS,
    MET_IS_GOOD,
    OUTPUT_COLUMNS,
    indicators_as_of,
    student_indicators,
)
from ontrack.indicators.run import IndicatorsResult, run_indicators

__all__ = [
    "ABSENT_STATUSES",
    "ATTENDED_STATUSES",
    "FLAG_COLUMNS",
    "GROUP_FLAGS",
    "INDICATORS",
    "INDICATOR_GRADES",
    "MET_IS_GOOD",
    "OUTPUT_COLUMNS",
    "SUSPENSION_ACTIONS",
    "IndicatorsResult",
    "checkpoint_dates",
    "criterion_bar",
    "criterion_words",
    "daily_flags_sql",
    "discipline_counts",
    "indicator_rates",
    "indicators_as_of",
    "lowest_groups",
    "rule_definition",
    "rule_summary",
    "run_indicators",
    "school_year_of",
    "student_groups",
    "student_indicators",
]
