"""Runs that would corrupt each other's files do not overlap: a second ``train`` of a
model is refused at once, a second ``score`` waits for the first (issue: two trainings
wrote one bundle and registered a version that could not load)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ontrack import pipeline
from ontrack.config import Config
from ontrack.errors import OnTrackError
from ontrack.locks import exclusive


def test_a_second_training_of_a_model_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    lock = tmp_path / "out" / "models" / "grade8" / ".train.lock"
    with exclusive(lock, what="a training", wait=False):  # another run holds it
        ctx = pipeline.Context(tmp_path / "data", tmp_path / "out", Config())
        with pytest.raises(OnTrackError, match="must run one at a time. Got another one already running"):
            pipeline.run_stage(pipeline.stage("train"), ctx, "grade8")
        with exclusive(lock.with_name(".other.lock"), what="x", wait=False):
            pass  # another model's or stage's lock is free meanwhile
    assert not (tmp_path / "out" / "models" / "grade8" / "evaluation.json").exists()


def test_a_second_scoring_waits_for_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "rosters" / ".score.lock"
    order: list[str] = []
    said: list[str] = []

    def second() -> None:
        with exclusive(lock, what="`ontrack score`", wait=True, waiting=said.append):
            order.append("second")

    with exclusive(lock, what="`ontrack score`", wait=True):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        order.append("first")
    waiter.join(timeout=10)
    assert order == ["first", "second"]
    assert said == ["waiting for the other `ontrack score` to finish"]
