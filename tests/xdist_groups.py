"""Hand the suite's test groups to pytest-xdist's scheduler without touching node IDs.

xdist's ``--dist loadgroup`` learns a test's group from an ``@group`` suffix its worker
appends to the test's node ID. From pytest 9.2 on, node IDs are structured and that
suffix is silently dropped (pytest-dev/pytest-xdist#1386), so every test was scheduled
alone: the Prefect test server started on both workers and module fixtures were built
twice. Here each worker writes the groups it collected (``nodeid -> group``) to a file
the controller named, before it reports its collection; the controller's scheduler,
which only schedules once every worker has reported, reads them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadGroupScheduling

_FOLDER_KEY = "ontrack_xdist_groups"
_folder_stash = pytest.StashKey[Path]()


def groups_folder(config: pytest.Config) -> Path:
    """The controller's folder for the workers' group files, made on first use."""
    if _folder_stash not in config.stash:
        config.stash[_folder_stash] = Path(tempfile.mkdtemp(prefix="ontrack-xdist-groups-"))
    return config.stash[_folder_stash]


def remove_groups_folder(config: pytest.Config) -> None:
    """Remove the controller's folder at the end of the run, if there is one."""
    folder = config.stash.get(_folder_stash, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def tell_worker_where(node, config: pytest.Config) -> None:
    """Name the folder in the worker's input (``pytest_configure_node``)."""
    node.workerinput[_FOLDER_KEY] = str(groups_folder(config))


def write_worker_groups(config: pytest.Config, groups: dict[str, str]) -> None:
    """On an xdist worker, publish this worker's ``nodeid -> group`` map atomically."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or _FOLDER_KEY not in workerinput:
        return
    folder = Path(workerinput[_FOLDER_KEY])
    target = folder / f"{workerinput['workerid']}.json"
    partial = folder / f".{workerinput['workerid']}.json.partial"
    partial.write_text(json.dumps(groups), encoding="utf-8")
    os.replace(partial, target)


class SuiteGroupScheduling(LoadGroupScheduling):
    """``loadgroup`` scheduling whose groups come from the workers' files; a test no file
    names keeps xdist's own rule (its ``@group`` suffix, or the test alone)."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        super().__init__(config, log)
        self._folder = groups_folder(config)
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            self._groups = {}
            for path in sorted(self._folder.glob("*.json")):
                self._groups.update(json.loads(path.read_text(encoding="utf-8")))
        group = self._groups.get(nodeid)
        return f"group:{group}" if group is not None else super()._split_scope(nodeid)
