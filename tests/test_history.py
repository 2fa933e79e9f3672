"""The risk history: re-scoring a run replaces it, a new version or as-of adds rows,
concurrent writers lose nothing, and the previous run is the latest earlier one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ontrack.scoring.history import HISTORY_COLUMNS, append_run, history_path, previous_run, read_history

T0 = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)


def run(model: str = "grade8", version: str = "3", as_of: str = "2026-01-31", *, n: int = 4,
        scored_at: datetime = T0, risk: float = 0.2) -> pd.DataFrame:
    """One run's history rows for students 000..n-1."""
    return pd.DataFrame({
        "student_id": [f"{i:03d}" for i in range(n)], "school_id": "001", "model": model,
        "model_version": version, "as_of_date": as_of, "scored_at": scored_at, "ranked_by": "model",
        "risk": risk, "risk_tier": "check in", "tier_level": 1.0, "rule_status": "met", "school_year": 2026,
        "failing_core": 0.0, "suspensions": 0.0, "absence_alert": False, "recent_absence_rate": 0.05,
    })[list(HISTORY_COLUMNS)]


def test_same_version_and_as_of_replaces_its_rows(tmp_path: Path) -> None:
    assert append_run(tmp_path, run()) == 4
    assert append_run(tmp_path, run(scored_at=T0 + timedelta(hours=1), risk=0.3)) == 4
    stored = read_history(tmp_path)
    assert len(stored) == 4 and (stored["risk"] == 0.3).all()
    assert (stored["scored_at"] == pd.Timestamp(T0 + timedelta(hours=1))).all()


def test_a_new_version_a_new_as_of_or_another_model_adds_rows(tmp_path: Path) -> None:
    append_run(tmp_path, run())
    assert append_run(tmp_path, run(version="4")) == 8
    assert append_run(tmp_path, run(as_of="2026-03-31")) == 12
    assert append_run(tmp_path, run(model="grade9", n=2)) == 14
    assert len(read_history(tmp_path, "grade9")) == 2
    assert not list(history_path(tmp_path).parent.glob("*.tmp"))  # atomic: no leftovers


def test_rows_must_be_one_run_with_every_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows must hold one run"):
        append_run(tmp_path, pd.concat([run(), run(version="4")]))
    with pytest.raises(ValueError, match="Got none for risk instead"):
        append_run(tmp_path, run().drop(columns="risk"))


def test_concurrent_appends_lose_no_rows(tmp_path: Path) -> None:
    """Eight writers at once, three runs each: every run's rows are kept."""
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        start.wait()
        try:
            for j in range(3):
                append_run(tmp_path, run(as_of=f"2026-0{j + 1}-1{k}", n=50))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    stored = read_history(tmp_path)
    assert len(stored) == 8 * 3 * 50
    assert stored.groupby(["as_of_date"]).size().eq(50).all()


def test_previous_run_is_the_latest_earlier_other_run(tmp_path: Path) -> None:
    append_run(tmp_path, run(as_of="2025-10-31", scored_at=T0 - timedelta(days=90)))
    append_run(tmp_path, run(as_of="2026-01-31", version="3", scored_at=T0))
    append_run(tmp_path, run(as_of="2026-01-31", version="4", scored_at=T0 + timedelta(hours=2)))
    append_run(tmp_path, run(as_of="2026-03-31", scored_at=T0 + timedelta(days=60)))
    append_run(tmp_path, run(model="grade9", as_of="2026-01-30", scored_at=T0 + timedelta(days=1)))
    history = read_history(tmp_path)

    def previous(as_of: str, version: str) -> tuple[str, str] | None:
        rows = previous_run(history, "grade8", as_of, version)
        return None if rows is None else (rows["as_of_date"].iloc[0], rows["model_version"].iloc[0])

    assert previous("2026-01-31", "4") == ("2026-01-31", "3")  # same day, other version
    assert previous("2026-01-31", "3") == ("2026-01-31", "4")  # latest scored of that day
    assert previous("2026-03-31", "3") == ("2026-01-31", "4")
    assert previous("2025-10-31", "3") is None  # re-scoring the first run: still the first
    assert previous("2026-02-15", "5") == ("2026-01-31", "4")  # later runs never count
    assert previous_run(history, "other", "2026-01-31", "3") is None
