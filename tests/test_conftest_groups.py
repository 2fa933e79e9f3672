"""The suite's own scheduling: tests of one group run on one xdist worker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.xdist_groups import SuiteGroupScheduling, write_worker_groups


class _Config:
    def __init__(self, folder: Path, workerid: str) -> None:
        self.workerinput = {"ontrack_xdist_groups": str(folder), "workerid": workerid}


def test_the_scheduler_groups_what_the_workers_wrote(tmp_path: Path) -> None:
    write_worker_groups(_Config(tmp_path, "gw0"), {"tests/test_a.py::test_x": "prefect",
                                                   "tests/test_b.py::test_y[1]": "prefect"})
    write_worker_groups(_Config(tmp_path, "gw1"), {"tests/test_c.py::test_z": "tests/test_c.py"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gw0.json", "gw1.json"]
    scheduler = SuiteGroupScheduling.__new__(SuiteGroupScheduling)
    scheduler._folder, scheduler._groups = tmp_path, None
    scopes = {nodeid: scheduler._split_scope(nodeid) for nodeid in
              ["tests/test_a.py::test_x", "tests/test_b.py::test_y[1]", "tests/test_c.py::test_z",
               "tests/test_d.py::test_w@legacy", "tests/test_e.py::test_v"]}
    assert scopes["tests/test_a.py::test_x"] == scopes["tests/test_b.py::test_y[1]"] == "group:prefect"
    assert scopes["tests/test_c.py::test_z"] == "group:tests/test_c.py"
    assert scopes["tests/test_d.py::test_w@legacy"] == "legacy"
    assert scopes["tests/test_e.py::test_v"] == "tests/test_e.py::test_v"
    assert json.loads((tmp_path / "gw1.json").read_text()) == {"tests/test_c.py::test_z": "tests/test_c.py"}
