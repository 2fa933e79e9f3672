"""A killed `ontrack report` leaves the previous report whole (issue 20, item 5).

The report is rendered into ``OUT/.report.<pid>.tmp`` and exchanged with ``OUT/report``
in one step. A run is SIGKILLed at two points (its staging folder still empty; pages half
written) and each time the published report must be the previous one, byte for byte.
The next run removes what the killed runs left behind.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ontrack.cli import main
from tests.forked_command import ForkedCommand

pytestmark = pytest.mark.slow  # killed report processes


def _pages(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "report").rglob("*"))
            if p.is_file()}


def _staged(out: Path) -> list[Path]:
    return sorted(out.glob(".report.*.tmp"))


def _staging_exists(out: Path) -> bool:
    return bool(_staged(out))


def _pages_written(out: Path) -> bool:
    return any(any(folder.rglob("*.html")) for folder in _staged(out))


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from ontrack.synth import generate_district

    root = tmp_path_factory.mktemp("report_kill")
    generate_district(root / "data", n_students=250, n_years=3, seed=3)
    assert main(["report", str(root / "data"), "--out", str(root / "out"), "--quiet"]) == 0
    return {"data": root / "data", "out": root / "out", "pages": _pages(root / "out")}


def test_a_killed_report_leaves_the_previous_report_whole(reported: dict) -> None:
    out = reported["out"]
    command = ["report", str(reported["data"]), "--out", str(out), "--reuse-indicators", "--quiet"]
    for when in (_staging_exists, _pages_written):
        run = ForkedCommand(command)
        deadline = time.monotonic() + 60
        while not when(out) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert run.poll() is None, f"the run ended before it could be killed ({when.__name__})"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        assert _pages(out) == reported["pages"], when.__name__
    # The next run renders again and clears what the killed ones left.
    assert _staged(out)
    assert main(["report", str(reported["data"]), "--out", str(out), "--reuse-indicators",
                 "--quiet"]) == 0
    assert not _staged(out) and _pages(out) == reported["pages"]
