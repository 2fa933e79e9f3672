"""``ontrack serve``'s ephemeral Prefect API server dies with it (issue 20, item 10):
Prefect stops that child only from an atexit hook, so after a SIGKILL of ``serve`` the
unauthenticated API kept serving on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import write_district

ROOT = Path(__file__).resolve().parents[1]
ONTRACK = Path(sys.executable).with_name("ontrack")


def _api_child(parent: psutil.Process, deadline: float) -> psutil.Process:
    """The uvicorn process of Prefect's ephemeral API, once it has been started."""
    while time.monotonic() < deadline:
        assert parent.is_running() and parent.status() != psutil.STATUS_ZOMBIE, "serve exited early"
        for child in parent.children(recursive=True):
            try:
                if "prefect.server.api.server:create_app" in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise AssertionError("ontrack serve must start Prefect's API server. Got no such child instead.")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_the_api_server_child_dies_with_a_killed_serve(tmp_path: Path) -> None:
    data = write_district(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    serve = subprocess.Popen([str(ONTRACK), "serve", str(data), "--out", str(tmp_path / "out")],
                             cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    try:
        child = _api_child(psutil.Process(serve.pid), time.monotonic() + 150)
        assert os.getpgid(child.pid) != os.getpgid(serve.pid), "the API server must have its own process group"
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
        gone, alive = psutil.wait_procs([child], timeout=10)
        assert not alive, f"the API server (pid {child.pid}) must exit with serve. Got it still running instead."
    finally:
        serve.kill()
        if child is not None and child.is_running():
            child.kill()  # the server this test's serve started, by its pid
