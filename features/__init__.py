"""The ontrack feature set: ``FEATURES`` lists every feature, in dictionary order.

Each module holds one group (attendance, coursework, behavior, assessment, enrollment,
history, indicators), except momentum: changes against earlier this year and last
year, in the groups they measure. See README.md and docs/features.md.
"""

from __future__ import annotations

from ontrack.features import (
    assessment,
    attendance,
    behavior,
    coursework,
    enrollment,
    history,
    indicators,
    momentum,
)
from ontrack.dataset.featurize import FeatureSet

FEATURES = FeatureSet.from_modules(
    attendance, coursework, behavior, assessment, enrollment, history, indicators,
    momentum,
)

__all__ = ["FEATURES"]
