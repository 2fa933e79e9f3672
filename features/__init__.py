"""The ontrack feature set: ``FEATURES`` lists every feature, in dictionary order.

Each module holds one group (attendance, coursework, behavior, assessment, enrollment,
history, indicators); see README.md and docs/features.md.
"""

from __future__ import annotations

from features import (
    assessment,
    attendance,
    behavior,
    coursework,
    enrollment,
    history,
    indicators,
)
from ontrack.featurize import FeatureSet

FEATURES = FeatureSet.from_modules(
    attendance, coursework, behavior, assessment, enrollment, history, indicators
)

__all__ = ["FEATURES"]
