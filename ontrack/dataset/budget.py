"""How many cohort rows the features stage holds in memory at once.

DuckDB keeps within its own share of ``resources.memory_limit`` and spills beyond it;
what it hands back (pandas frames of a feature part, the labels, the equity attributes)
is held by the interpreter outside that share. So the stage sizes those frames from the
limit: a feature part holds at most :func:`part_rows` cohort rows and labels and
attributes are built :func:`chunk_rows` rows at a time, each from a measured number of
bytes per row (``benchmarks/results.md``, the V2 rows). Sizes change how a run uses
memory, never what it writes: a matrix built in many small parts is the same file.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ontrack.config import Config
from ontrack.resources import outside_duckdb_bytes

# The share of what the process may hold besides DuckDB's share of the limit that the
# frames of one feature part or one chunk may take: the rest is what DuckDB holds beyond
# its own count (allocator caches, Parquet buffers) and the interpreter with its
# libraries and the whole cohort's index.
FRAMES_SHARE = 0.4
# Bytes a feature part holds per cohort row beyond the interpreter (its cohort rows, the
# rule indicators' rows for them, each source's result, the matrix): about 2 KB measured
# at 200k students (V2 rows of benchmarks/results.md: a 110k-row part's frames took
# ~0.22 GB above the 0.43 GB before it), doubled for headroom.
PART_ROW_BYTES = 4_000
# The same for a chunk of labels or equity attributes (the enrollments, rule indicators
# and outcomes of its students, the label columns): fewer, narrower frames.
CHUNK_ROW_BYTES = 2_000
MIN_ROWS = 100  # below this a part's fixed cost (views, sources) dominates its work


def frames_bytes(config: Config) -> int:
    """Bytes the frames of one part or chunk may hold under ``resources.memory_limit``."""
    return int(outside_duckdb_bytes(config) * FRAMES_SHARE)


def part_rows(config: Config) -> int:
    """Cohort rows per feature part: ``resources.feature_part_rows``, fewer when the
    memory limit cannot hold that many.

    >>> from ontrack.config import config_from_dict
    >>> part_rows(config_from_dict({"resources": {"memory_limit": "4GB"}}))
    160000
    >>> part_rows(config_from_dict({"resources": {"memory_limit": "64GB"}}))
    200000
    """
    fits = max(MIN_ROWS, frames_bytes(config) // PART_ROW_BYTES)
    return int(min(config.resources.feature_part_rows, fits))


def chunk_rows(config: Config) -> int:
    """Cohort rows per chunk of labels or equity attributes under the memory limit.

    >>> from ontrack.config import config_from_dict
    >>> chunk_rows(config_from_dict({"resources": {"memory_limit": "4GB"}}))
    320000
    """
    return int(max(MIN_ROWS, frames_bytes(config) // CHUNK_ROW_BYTES))


def in_chunks(cohort: pd.DataFrame, size: int,
              build: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """``build`` of ``size`` cohort rows at a time (for row-wise lookups, whose result for
    a row never depends on the others), the results concatenated in cohort order; one
    chunk's result is returned as it is."""
    parts = [build(cohort.iloc[start:start + size]) for start in range(0, max(len(cohort), 1), size)]
    return parts[0] if len(parts) == 1 else pd.concat(parts)
