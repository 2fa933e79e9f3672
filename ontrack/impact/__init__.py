"""Did the support help? Impact estimates from the district's own data (CONTRACT §4).

``data`` gathers who was served, what was known before the start and how 9th grade
ended; ``matching`` compares served and comparable not-served students (weighting);
``discontinuity`` estimates the effect at an assignment cutoff; ``run`` writes
``OUT/impact/impact.json``. docs/impact.md says what each number can and cannot say.
"""

from __future__ import annotations

from ontrack.impact.run import IMPACT_FILE, impact_summary, run_impact

__all__ = ["IMPACT_FILE", "impact_summary", "run_impact"]
