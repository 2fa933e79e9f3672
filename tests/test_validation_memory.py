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
