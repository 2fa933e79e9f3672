"""``ontrack ARGV`` in a forked copy of the (warm) test process: a real process that a
test can SIGKILL at any point, without the 2–3 s a fresh interpreter spends importing
pandas, DuckDB and matplotlib first.

Only for commands that never fit or score a model: LightGBM's OpenMP runtime is not
safe to use in a child forked after the parent used it (the child can hang). Tests of
killed ``train`` and ``score`` runs start a fresh interpreter instead.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence


class ForkedCommand:
    """The subset of ``subprocess.Popen`` the kill tests use: ``pid``, ``poll``,
    ``wait``, ``send_signal``, ``returncode``; ``stderr_text()`` for a failure's message."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.returncode: int | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (read after the child ends)
        self.pid = os.fork()
        if self.pid == 0:
            self._child(list(argv), env or {})

    def _child(self, argv: list[str], env: dict[str, str]) -> None:
        code = 70
        try:
            os.setpgid(0, 0)  # a group of its own, like a started command: never the test's signals
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 1)
            os.dup2(self._stderr.fileno(), 2)
            # the test's captured streams stay the test's: the child writes to its own fds
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.environ.update(env)
            from ontrack.cli import main

            code = main(argv)
        except BaseException:  # noqa: BLE001 (a child must never return into the test runner)
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)

    def poll(self) -> int | None:
        """The exit code (negative: the signal that ended it), or None while it runs."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the forked ontrack {self.pid} must end within {timeout} s. It still runs.")
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")
