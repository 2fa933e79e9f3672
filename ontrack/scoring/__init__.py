"""Scoring the current cohort: calibrated risk, tiers, reasons, alerts, rosters.

The public surface: :func:`score_model` (the whole run) and the pieces it is made of,
each testable alone: :func:`explain` (and :func:`top_reasons`), :func:`assign_tiers`,
:func:`population_stability`, :func:`model_inputs`.
"""

from __future__ import annotations

from ontrack.scoring.cohort import model_inputs
from ontrack.scoring.drift import population_stability
from ontrack.scoring.reasons import explain, top_reasons
from ontrack.scoring.run import ScoreResult, score_model
from ontrack.scoring.tiers import assign_tiers

__all__ = ["ScoreResult", "assign_tiers", "explain", "model_inputs", "population_stability", "score_model", "top_reasons"]
