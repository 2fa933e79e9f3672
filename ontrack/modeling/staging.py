"""A training run's outputs are published only once its model version is registered.

``train`` writes everything for ``OUT/models/<model>/`` (bundle, plots, datasheet, model
card, evaluation.json) into a staging folder ``OUT/models/<model>/.staging-<pid>/``,
registers the version in MLflow from there, and only then moves each output into place,
``evaluation.json`` last. A run killed before that leaves the previous run's outputs as
they were (the staging folder is removed by the next training); one killed while moving
leaves at worst newer plots, bundle or card beside the previous evaluation.json, and the
card's title names its version, as ``evaluation.json``'s ``model_version`` does.

Staging under OUT (never /tmp) keeps the moves on one file system, so each is a rename.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ontrack.paths import remove_left_by_dead_runs

STAGING_PREFIX = ".staging-"
# In this order: evaluation.json, what the report and readers trust, comes last.
PUBLISHED = ("bundle", "plots", "datasheet.md", "model_card.md", "evaluation.json")


def fresh_stage(folder: Path) -> Path:
    """An empty staging folder for this process under ``folder``; the staging folders
    of runs whose process is gone (killed) are removed first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_left_by_dead_runs(folder, re.escape(STAGING_PREFIX) + r"(?P<pid>\d+)")
    stage = folder / f"{STAGING_PREFIX}{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)  # this process's own, from an earlier call
    stage.mkdir()
    return stage


def move_into_place(source: Path, target: Path) -> None:
    """Rename ``source`` onto ``target``: a file atomically; a folder by moving the old
    one aside into the staging folder first (a rename cannot replace a full folder)."""
    if source.is_dir() and target.exists():
        aside = source.with_name(f"{source.name}.previous")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(target, aside)
    os.replace(source, target)


def publish(stage: Path, folder: Path) -> None:
    """Move the staged outputs into ``folder`` (``evaluation.json`` last), then remove
    the staging folder."""
    for name in PUBLISHED:
        if (stage / name).exists():
            move_into_place(stage / name, Path(folder) / name)
    shutil.rmtree(stage, ignore_errors=True)
