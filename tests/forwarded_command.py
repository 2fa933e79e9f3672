"""An ``ontrack`` command on PATH that hands its arguments to the test process.

MLproject entry points run a shell command that ends in ``ontrack ...``. A test that
runs an entry point for real needs that command to work, but a fresh ``ontrack``
process spends ~3 s importing pandas, scikit-learn, LightGBM and MLflow before it does
anything. The stand-in here is a few lines of standard-library Python: it sends its
arguments, working directory and MLflow environment (the project run's id, the tracking
URI) over a Unix socket to the test, which runs ontrack's own ``main`` on them in its
already warm process, under that directory and environment, and sends back the exit
code and output. Everything up to ``ontrack`` (MLflow rendering the command, its
quoting, bash, ``cd ..``) is the real thing; so is everything ontrack then does. The
console script itself is started for real by tests/test_project.py.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

STAND_IN = """#!{python} -S
import json, os, socket, sys
with socket.socket(socket.AF_UNIX) as server:
    server.connect(os.environ["ONTRACK_TEST_FORWARD"])
    env = {{k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}}
    server.sendall(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": env}}).encode() + b"\\n")
    reply = json.loads(server.makefile(encoding="utf-8").readline())
sys.stdout.write(reply["out"])
sys.stderr.write(reply["err"])
sys.exit(reply["code"])
"""


@contextmanager
def forwarded_ontrack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., dict]]:
    """Put the stand-in ``ontrack`` first on PATH; yields ``serve(alive, capfd)``, which
    answers the one call the running command makes (``alive()`` says whether the command
    still runs: a command that fails before calling ontrack ends the wait) and returns
    ``{"argv", "code", "out", "err"}`` (None when ontrack was never called)."""
    folder = Path(tempfile.mkdtemp(prefix="ontrack-fwd-"))  # short: a socket path has ~100 bytes
    try:
        (folder / "ontrack").write_text(STAND_IN.format(python=sys.executable), encoding="utf-8")
        (folder / "ontrack").chmod(0o755)
        address = str(folder / "socket")
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(address)
            server.listen(1)
            monkeypatch.setenv("ONTRACK_TEST_FORWARD", address)
            monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
            yield lambda alive, capfd: _serve_one(server, alive, capfd, monkeypatch)
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def _serve_one(server: socket.socket, alive: Callable[[], bool], capfd: pytest.CaptureFixture,
               monkeypatch: pytest.MonkeyPatch, timeout: float = 120.0) -> dict | None:
    waited = 0.0
    while not select.select([server], [], [], 0.2)[0]:
        waited += 0.2
        if not alive() or waited > timeout:
            return None
    connection, _ = server.accept()
    with connection:
        request = json.loads(connection.makefile(encoding="utf-8").readline())
        code, out, err = _run_here(request, capfd, monkeypatch)
        reply = {"code": code, "out": out, "err": err}
        connection.sendall(json.dumps(reply).encode() + b"\n")
    return {"argv": request["argv"], **reply}


def _run_here(request: dict, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """ontrack's ``main`` on the forwarded arguments, in the command's directory and with
    its MLflow variables (and no others of the test's own)."""
    from ontrack.cli import main

    capfd.readouterr()
    with monkeypatch.context() as scoped:
        scoped.chdir(request["cwd"])
        for name in [k for k in os.environ if k.startswith("MLFLOW_")]:
            scoped.delenv(name)
        for name, value in request["env"].items():
            scoped.setenv(name, value)
        # what a fresh ontrack process reads from its environment when it imports tracking
        scoped.setattr("ontrack.modeling.tracking._USER_TRACKING_URI", request["env"].get("MLFLOW_TRACKING_URI"))
        code = main(request["argv"])
    out, err = capfd.readouterr()
    return code, out, err
