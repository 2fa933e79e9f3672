"""Synthetic district generator: realistic, messy, deterministic data (CONTRACT §1).

``generate_district(out_dir, n_students=..., n_years=..., seed=...)`` writes one file
per table; docs/synthetic-district.md describes the generative model and the mess.
"""

from __future__ import annotations

from ontrack.synth.generate import MARKER, SynthSummary, generate_district
from ontrack.synth.mess import MessItem
from ontrack.synth.sink import SCHEMAS, TABLES

__all__ = [
    "MARKER",
    "SCHEMAS",
    "TABLES",
    "MessItem",
    "SynthSummary",
    "generate_district",
]
