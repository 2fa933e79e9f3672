"""The ``resources:`` section read as a number: what stages size their batches from."""

from __future__ import annotations

import pytest

from ontrack.config import Config
from ontrack.resources import machine_memory, memory_limit_bytes


@pytest.mark.parametrize(("limit", "expected"), [
    ("4GB", 4_000_000_000), ("512MiB", 512 * 2**20), ("1.5 GiB", int(1.5 * 2**30)), ("800 MB", 800_000_000),
])
def test_a_size_reads_as_bytes(limit: str, expected: int) -> None:
    assert memory_limit_bytes(Config.model_validate({"resources": {"memory_limit": limit}})) == expected


def test_a_share_is_a_share_of_the_machine() -> None:
    half = memory_limit_bytes(Config.model_validate({"resources": {"memory_limit": "50%"}}))
    assert abs(half - machine_memory() / 2) <= 2**20  # rounded down to whole MiB
