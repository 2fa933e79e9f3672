"""Validation within resources.memory_limit (issue 17, item 6): the limit is the process's,
so validation jobs run as tasks in one process (a flow's thread-pool task runner) must not
open a DuckDB database each with DuckDB's whole share at the same time."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ontrack.config import load_config
from ontrack.validation import run as validation_run
from ontrack.validation import validate_directory


def _outputs(out: Path) -> dict:
    report = json.loads((out / "validation" / "report.json").read_text(encoding="utf-8"))
    counts = {t: (r["rows_in"], r["rows_accepted"], r["rows_quarantined"], r["errors"])
              for t, r in report["tables"].items()}
    quarantine = {p.name: p.read_bytes() for p in (out / "validation" / "quarantine").glob("*.csv")}
    return {"counts": counts, "quarantine": quarantine,
            "validated": sorted(p.name for p in (out / "validated").glob("*.parquet"))}


def test_jobs_run_as_tasks_in_one_process_take_turns(tiny_district: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config()
    validate_directory(tiny_district, tmp_path / "here", config)
    running, most = [0], [0]
    guard = threading.Lock()
    real = validation_run._run

    def counted(*args, **kwargs):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.02)  # long enough for a second thread to enter if it could
            return real(*args, **kwargs)
        finally:
            with guard:
                running[0] -= 1

    monkeypatch.setattr(validation_run, "_run", counted)
    out = tmp_path / "tasks"
    with ThreadPoolExecutor(max_workers=8) as pool:  # as Prefect's default task runner
        def wave(jobs: list) -> list:
            return list(pool.map(
                lambda job: validation_run.run_job(tiny_district, out, config, job), jobs))
        validate_directory(tiny_district, out, config, run_wave=wave)
    assert most[0] == 1  # a wave of 9 tables' checks never held two DuckDB databases
    assert _outputs(out) == _outputs(tmp_path / "here")



def _validated_rows(out: Path) -> dict:
    """Each validated table's rows in a fixed order (a partition's row order is the
    threads' business: docs/validation.md)."""
    import pandas as pd

    tables = {}
    for path in sorted((out / "validated").glob("*.parquet")):
        frame = pd.read_parquet(path)
        tables[path.name] = frame.sort_values(list(frame.columns), ignore_index=True)
    return tables


def test_small_tables_are_checked_in_memory_with_the_same_outputs_as_on_file(
        tiny_district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table well within DuckDB's share is typed once into memory and checked there;
    the outputs are those of a large table's way, typed again by each pass from its
    file."""
    from pandas.testing import assert_frame_equal

    from ontrack.validation import partition, row_checks

    config = load_config()
    kinds: list[bool] = []
    real_build = row_checks.build_checked

    def noted(*args, in_memory: bool = False, **kwargs):
        kinds.append(in_memory)
        return real_build(*args, in_memory=in_memory, **kwargs)

    monkeypatch.setattr(partition, "build_checked", noted)
    validate_directory(tiny_district, tmp_path / "memory", config)
    assert kinds and all(kinds)
    assert not row_checks.small_enough_for_memory(10**9, 10, config)
    kinds.clear()
    monkeypatch.setattr(partition, "small_enough_for_memory", lambda *_args: False)
    validate_directory(tiny_district, tmp_path / "file", config)
    assert kinds and not any(kinds)
    assert _outputs(tmp_path / "memory") == _outputs(tmp_path / "file")
    memory, file = _validated_rows(tmp_path / "memory"), _validated_rows(tmp_path / "file")
    assert sorted(memory) == sorted(file)
    for name in memory:
        assert_frame_equal(memory[name], file[name])



@pytest.fixture(scope="module")
def repeated_keys_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth district whose attendance also holds an exact copy of a row, a second
    version of a row's key (another status) and a student's day at a second school
    (another key: not a duplicate, though the student has that day twice)."""
    import duckdb

    from ontrack.cli import main

    data = tmp_path_factory.mktemp("repeats") / "d"
    assert main(["synth", str(data), "--students", "300", "--quiet"]) == 0
    path, staged = data / "attendance.parquet", data / "attendance.staged.parquet"
    con = duckdb.connect()
    con.execute(  # one row of each of three students
        "CREATE TABLE picked AS SELECT *, row_number() OVER (ORDER BY student_id) AS n "
        f"FROM (FROM '{path}' QUALIFY row_number() OVER (PARTITION BY student_id "
        "ORDER BY date) = 1); "
        f"COPY (SELECT * FROM '{path}' "
        "UNION ALL SELECT * EXCLUDE (n) FROM picked WHERE n = 1 "
        "UNION ALL SELECT * EXCLUDE (n) REPLACE (CASE WHEN status = 'tardy' THEN 'present' "
        "ELSE 'tardy' END AS status) FROM picked WHERE n = 2 "
        "UNION ALL SELECT * EXCLUDE (n) REPLACE ('x' || school_id AS school_id) FROM picked "
        f"WHERE n = 3) TO '{staged}' (FORMAT parquet)")
    con.close()
    staged.replace(path)
    return data


@pytest.mark.parametrize("inline", [True, False])
def test_large_tables_read_from_their_file_give_the_same_outputs(
        repeated_keys_district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        inline: bool) -> None:
    """A table too large for memory is typed by each pass from its file (no typed
    copy), its keys tested cheaply first (students with a day twice; a hash of other
    keys): the same report, quarantine files and validated rows as in memory with every
    key hashed, whether the repeated students are written into the SQL or read from a
    table."""
    from pandas.testing import assert_frame_equal

    from ontrack.validation import partition, row_checks

    config = load_config()
    monkeypatch.setattr(row_checks, "DAY_BITMAPS", False)  # every key hashed, in memory
    validate_directory(repeated_keys_district, tmp_path / "memory", config)
    monkeypatch.setattr(row_checks, "DAY_BITMAPS", True)
    monkeypatch.setattr(partition, "small_enough_for_memory", lambda *_args: False)
    if not inline:
        monkeypatch.setattr(row_checks, "INLINE_REPEATS", 0)
    validate_directory(repeated_keys_district, tmp_path / "file", config)
    memory, file = _outputs(tmp_path / "memory"), _outputs(tmp_path / "file")
    assert memory == file
    errors = memory["counts"]["attendance"][3]
    assert errors.get("duplicate_row", 0) >= 1 and errors.get("duplicate_key", 0) >= 2
    assert memory["counts"]["students"][3].get("duplicate_key", 0) >= 1  # a hashed key
    rows_m, rows_f = _validated_rows(tmp_path / "memory"), _validated_rows(tmp_path / "file")
    assert sorted(rows_m) == sorted(rows_f)
    for name in rows_m:
        assert_frame_equal(rows_m[name], rows_f[name])
