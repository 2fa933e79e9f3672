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


def sized_groups(items: list, sizes: list[int], max_size: int) -> list[list]:
    """``items`` in consecutive groups whose ``sizes`` add up to at most ``max_size``
    (an item larger than that makes a group of its own; no items: one empty group).

    >>> sized_groups(["a", "b", "c", "d"], [2, 2, 5, 1], 4)
    [['a', 'b'], ['c'], ['d']]
    """
    groups: list[list] = [[]]
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if groups[-1] and total + size > max_size:
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += size
    return groups


def shelf_bytes(config: Config) -> int:
    """Bytes the impact study's kept values may hold (each date's values computed so far,
    so a cutoff asking a date again computes nothing twice): half the share one chunk's
    frames get, so the kept values and the chunk being computed stay within it."""
    return frames_bytes(config) // 2


class BoundedFrames:
    """Frames kept by key within ``max_bytes`` of their memory, the least recently used
    dropped first (the newest is always kept): a cache that a stage refills on a miss,
    never a store it relies on: what a run keeps stays within the memory limit however
    many dates it reads."""

    def __init__(self, max_bytes: int) -> None:
        if not (isinstance(max_bytes, int) and max_bytes >= 0):
            raise ValueError(f"max_bytes must be a whole number >= 0. Got {max_bytes!r} instead.")
        self.max_bytes = max_bytes
        self._frames: dict[object, tuple[pd.DataFrame, int]] = {}
        self.held_bytes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._frames

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, key: object) -> pd.DataFrame:
        frame, size = self._frames.pop(key)  # KeyError when absent, as a dict
        self._frames[key] = (frame, size)  # now the most recently used
        return frame

    def __setitem__(self, key: object, frame: pd.DataFrame) -> None:
        if key in self._frames:
            self.held_bytes -= self._frames.pop(key)[1]
        size = int(frame.memory_usage(index=True, deep=True).sum())
        self._frames[key] = (frame, size)
        self.held_bytes += size
        while self.held_bytes > self.max_bytes and len(self._frames) > 1:
            oldest = next(iter(self._frames))
            self.held_bytes -= self._frames.pop(oldest)[1]
