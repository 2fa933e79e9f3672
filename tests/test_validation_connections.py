"""Validation keeps what costs DuckDB statements between tables and runs (issue 18): the
parents a connection loaded, and idle connections. Neither may carry anything stale: a
parent file rewritten is read again, and a run on a kept connection writes what a run on
a new one writes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
from conftest import write_district

from ontrack.config import load_config
from ontrack.validation import store, validate_directory
from ontrack.validation.parents import load_parents
from ontrack.validation.row_checks import WORK


def _schools(folder: Path, district: str) -> None:
    """``folder/validated/schools.parquet`` with two schools of ``district``."""
    (folder / "validated").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    target = str(folder / "validated" / "schools.parquet").replace("'", "''")
    con.execute(f"COPY (SELECT * FROM (VALUES ('001', '{district}'), ('002', '{district}')) "
                f"t(school_id, district_id)) TO '{target}' (FORMAT parquet)")
    con.close()


def test_parents_are_read_again_when_their_file_changes(tmp_path: Path) -> None:
    config = load_config()
    con = store.connect(config, tmp_path / "spill")
    _schools(tmp_path, "0600001")
    assert load_parents(con, tmp_path, config, "students") == ["0600001"]
    assert load_parents(con, tmp_path, config, "enrollments") == ["0600001"]
    _schools(tmp_path, "0700002")  # the schools validated again, other districts
    assert load_parents(con, tmp_path, config, "enrollments") == ["0700002"]
    calendar = con.execute("SELECT DISTINCT district_id FROM school_calendar").fetchall()
    assert calendar == [("0700002",)]
    con.close()


def _outputs(out: Path) -> dict:
    """Validated rows (sorted: validation promises no order) and quarantine bytes."""
    found: dict = {}
    for path in sorted((out / "validated").glob("*.parquet")):
        frame = pd.read_parquet(path)
        found[path.name] = frame.sort_values(list(frame.columns), ignore_index=True)
    for path in sorted((out / "validation" / "quarantine").glob("*.csv")):
        found[path.name] = path.read_bytes()
    return found


def _empty_pool() -> None:
    while store._IDLE:
        store._IDLE.pop()[0].close()


def test_a_kept_connection_writes_what_a_new_one_writes(tmp_path: Path) -> None:
    config = load_config()
    first = write_district(tmp_path / "first")
    # Another district: a student and a school fewer, so other rows are quarantined.
    text = (first / "students.csv").read_text(encoding="utf-8").splitlines()
    schools = (first / "schools.csv").read_text(encoding="utf-8").splitlines()
    second = write_district(tmp_path / "second", students="\n".join(text[:-1]) + "\n",
                            schools="\n".join(schools[:-1]) + "\n")
    validate_directory(first, tmp_path / "out-first", config)
    assert store._IDLE  # the run's connection is kept for the next
    validate_directory(second, tmp_path / "kept", config)
    _empty_pool()
    validate_directory(second, tmp_path / "new", config)
    kept, new = _outputs(tmp_path / "kept"), _outputs(tmp_path / "new")
    assert kept.keys() == new.keys() and any(k.endswith(".csv") for k in new)
    for name, value in new.items():
        if isinstance(value, bytes):
            assert kept[name] == value, name
        else:
            pd.testing.assert_frame_equal(kept[name], value)


def test_a_kept_connection_holds_no_view_or_work_database_of_its_run(tmp_path: Path) -> None:
    config = load_config()
    _empty_pool()
    validate_directory(write_district(tmp_path / "data"), tmp_path / "out", config)
    with store.pooled(config, tmp_path / "spill") as con:
        views = {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        databases = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()")
                     .fetchall()}
        assert not views & {"raw_t", "ok_schools", "ok_students", "ok_enrollments"}
        assert WORK not in databases


def test_a_kept_connection_takes_the_settings_of_the_config_at_hand(tmp_path: Path) -> None:
    config = load_config()
    engine = config.engine.model_copy(update={"threads": 1})
    resources = config.resources.model_copy(update={"memory_limit": "1GB"})
    other = config.model_copy(update={"engine": engine, "resources": resources})
    _empty_pool()
    fresh = store.connect(config, tmp_path / "fresh")
    expected = fresh.execute("SELECT current_setting('threads'), current_setting('memory_limit'), "
                             "current_setting('temp_directory')").fetchall()[0]
    fresh.close()
    with store.pooled(other, tmp_path / "other") as con:
        assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
    with store.pooled(config, tmp_path / "fresh") as con:
        found = con.execute("SELECT current_setting('threads'), current_setting('memory_limit'), "
                            "current_setting('temp_directory')").fetchall()[0]
    assert found == expected
