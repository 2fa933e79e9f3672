"""A killed ``train`` never leaves the evaluation of a model that was not registered
(issue 20, item 5): the run's outputs are staged under OUT/models/<model>/ and published
only after registration, evaluation.json last. A ``train`` is SIGKILLed at several
points in a subprocess; what OUT/models/<model>/ then holds is the complete previous
output, or (once publishing ended) the complete new one, never a mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ontrack.config import load_config
from ontrack.modeling import staging, tracking
from tests.shared_outputs import clone_output

# Runs one training of grade8 and kills itself (SIGKILL) at the point named by argv[1].
KILLER = """
import os, signal, sys
from pathlib import Path
from ontrack.config import load_config
from ontrack.modeling import train, tracking
try:
    from ontrack.modeling import staging
except ImportError:  # before staging existed
    staging = None
point, out, config_file = sys.argv[1:4]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
real_register = tracking.log_and_register
def register(*args, **kwargs):
    if point == "before-registering":
        die()
    registered = real_register(*args, **kwargs)
    if point == "after-registering":
        die()
    return registered
tracking.log_and_register = register
if staging is not None:
    real_move = staging.move_into_place
    def move(source, target):
        real_move(source, target)
        if point == "after-moving-" + source.name:
            die()
    staging.move_into_place = move
train.train_model(Path(out), load_config(config_file), model="grade8")
"""
PUBLISHED = ("evaluation.json", "model_card.md", "datasheet.md")


def _files(folder: Path) -> dict[str, bytes]:
    """Every published file of a model folder (staging folders aside) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.relative_to(folder).parts[0].startswith(".")}


def _kill_at(point: str, out: Path, config_file: Path) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("ONTRACK_HOME", "MLFLOW_TRACKING_URI")}
    done = subprocess.run([sys.executable, "-c", KILLER, point, str(out), str(config_file)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    return done.returncode


def _registered_and_consistent(out: Path, config_file: Path, evaluation: dict, card: str) -> None:
    """The published evaluation names a registered version that loads, and the card
    beside it is that version's."""
    client = tracking.connect(load_config(config_file), out, create=False)
    version = evaluation["model_version"]
    tracking.load_registered(client, "ontrack-grade8", version)
    assert card.splitlines()[0].endswith(f"version {version}")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before-registering", "after-registering"])
def test_a_train_killed_before_publishing_leaves_the_previous_output_whole(
        point: str, trained_grade8: dict, tmp_path: Path) -> None:
    out = clone_output(trained_grade8["out"], tmp_path / "out")
    folder = out / "models" / "grade8"
    before = _files(folder)
    _kill_at(point, out, trained_grade8["config_file"])
    after = _files(folder)
    for name in PUBLISHED:
        assert after[name] == before[name], f"killed {point}: {name} changed"
    assert after == before, f"killed {point}: {sorted(set(after) ^ set(before))} differ"
    evaluation = json.loads(after["evaluation.json"])
    _registered_and_consistent(out, trained_grade8["config_file"], evaluation, after["model_card.md"].decode())


def test_the_next_training_removes_a_killed_runs_staging_folder(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "models" / "grade8"
    (folder / f".staging-{dead.pid}" / "plots").mkdir(parents=True)
    (folder / f".staging-{dead.pid}" / "evaluation.json").write_text("{}", encoding="utf-8")
    alive = folder / f".staging-{os.getppid()}"  # a run still going keeps its own
    alive.mkdir()
    stage = staging.fresh_stage(folder)
    assert stage == folder / f".staging-{os.getpid()}" and not any(stage.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == sorted([stage.name, alive.name])


def test_publishing_replaces_folders_and_moves_the_evaluation_last(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "m"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "old.png").write_bytes(b"old")
    stage = staging.fresh_stage(folder)
    (stage / "plots").mkdir()
    (stage / "plots" / "new.png").write_bytes(b"new")
    for name in ("evaluation.json", "model_card.md"):
        (stage / name).write_text(name, encoding="utf-8")
    moved: list[str] = []
    real = staging.move_into_place
    try:
        staging.move_into_place = lambda s, t: (moved.append(s.name), real(s, t))
        staging.publish(stage, folder)
    finally:
        staging.move_into_place = real
    assert moved == ["plots", "model_card.md", "evaluation.json"]
    assert sorted(p.name for p in folder.iterdir()) == ["evaluation.json", "model_card.md", "plots"]
    assert [p.name for p in (folder / "plots").iterdir()] == ["new.png"]
