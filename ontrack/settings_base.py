"""The frozen base shared by every section of the district config.

It sits alone so that the modules declaring config sections (pipeline settings, model
declarations, district rules, support settings, resources) can all build on it without
importing one another or :mod:`ontrack.config`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
