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


def test_duckdb_gets_its_share_and_the_rest_is_left_to_the_process(tmp_path) -> None:
    """The limit is the process's: every DuckDB connection gets DUCKDB_SHARE of it, and
    what is left (for pandas, Arrow and the interpreter) is the remainder."""
    import duckdb

    from ontrack.resources import (
        DUCKDB_SHARE,
        connect,
        duckdb_limit_bytes,
        outside_duckdb_bytes,
    )
    from ontrack.validation.store import connect as validation_connect

    config = Config.model_validate({"resources": {"memory_limit": "4GB"}})
    assert 0 < DUCKDB_SHARE < 1
    assert duckdb_limit_bytes(config) == int(4_000_000_000 * DUCKDB_SHARE)
    assert duckdb_limit_bytes(config) + outside_duckdb_bytes(config) == 4_000_000_000
    reference = duckdb.connect()
    reference.execute(f"SET memory_limit = '{duckdb_limit_bytes(config) >> 20}MiB'")
    expected = reference.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    for con in (connect(config, tmp_path), validation_connect(config, tmp_path / "v")):
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == expected
    reference.execute("SET memory_limit = '4GB'")
    assert expected != reference.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_a_tiny_limit_still_leaves_duckdb_enough_to_run() -> None:
    from ontrack.resources import DUCKDB_FLOOR, duckdb_limit_bytes

    small = Config.model_validate({"resources": {"memory_limit": "80MB"}})
    assert duckdb_limit_bytes(small) == DUCKDB_FLOOR  # 60% would be 48 MB
    tiny = Config.model_validate({"resources": {"memory_limit": "10MB"}})
    assert duckdb_limit_bytes(tiny) == 10_000_000  # never more than the whole limit


def test_small_reads_keep_to_the_memory_limit_and_spill_under_out(tmp_path) -> None:
    """The connections for small reads (school years, a student's history, the report's
    criteria) get DuckDB's share of resources.memory_limit like every other one, not
    DuckDB's own default of 80% of RAM, and spill under OUT/.tmp."""
    from ontrack.config import config_from_dict, load_config
    from ontrack.resources import connect, spilling_under

    def settings(con) -> tuple[str, str]:
        try:
            return tuple(con.execute("SELECT current_setting('memory_limit'), "
                                     "current_setting('temp_directory')").fetchall()[0])
        finally:
            con.close()

    small = config_from_dict({"resources": {"memory_limit": "1GB"}})
    limit, spill = settings(spilling_under(tmp_path / "out", small))
    assert limit == settings(connect(small, tmp_path / "elsewhere"))[0]
    assert spill == str(tmp_path / "out" / ".tmp")
    assert settings(spilling_under(tmp_path / "out"))[0] == settings(connect(load_config(None)))[0]
    assert limit != settings(connect(load_config(None)))[0]
