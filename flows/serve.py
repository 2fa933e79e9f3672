"""Schedules: serve the refresh and train flows on the config's crons.

``ontrack serve DATA --out OUT --config FILE`` builds two deployments with Prefect's own
``serve`` mechanism and runs them until stopped: ``refresh`` (weekly during the school
year by default) and ``train`` (yearly in August). By default Prefect runs in its
ephemeral local mode; to use a Prefect server instead, start one (``prefect server
start``) or point ``PREFECT_API_URL`` at an existing one before ``ontrack serve`` (see
docs/flows.md).

In ephemeral mode Prefect starts its API as a child process (``SubprocessASGIServer``:
uvicorn on 127.0.0.1, no authentication) and stops it only from an ``atexit`` hook, which
a SIGKILL skips: the API would keep serving. :func:`children_die_with_parent` makes
that child start in its own session and receive SIGTERM from the kernel when the process
that started it dies (Linux ``prctl(PR_SET_PDEATHSIG)``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ontrack.flows.pipeline import refresh_flow, train_flow
from prefect import serve
from prefect.client.schemas.schedules import CronSchedule

from ontrack import pipeline
from ontrack.config import Config
from ontrack.storage import is_url


def deployments(data_dir: Path, out_dir: Path, config_path: Path | None, config: Config) -> list:
    """The refresh and train deployments with their cron schedules."""
    def where(path: Path | str) -> str:  # a URL (s3://, ...) stays as given: each run copies it anew
        return str(path) if is_url(path) else str(Path(path).resolve())

    parameters = {"data_dir": where(data_dir), "out_dir": str(Path(out_dir).resolve()),
                  "config_path": where(config_path) if config_path else None}
    timezone = config.schedule.timezone
    return [
        refresh_flow.to_deployment(
            name="ontrack-refresh", parameters=parameters,
            schedules=[CronSchedule(cron=config.schedule.refresh_cron, timezone=timezone)],
            description="Weekly: " + ", ".join(pipeline.names("weekly")),
        ),
        train_flow.to_deployment(
            name="ontrack-train", parameters=parameters,
            schedules=[CronSchedule(cron=config.schedule.train_cron, timezone=timezone)],
            description="Yearly: " + ", ".join(pipeline.names("yearly")) + " (retrain, calibrate, evaluate, audit and register every model)",
        ),
    ]


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _exit_with(parent: int) -> Callable[[], None]:
    """What the child runs between fork and exec: ask the kernel for SIGTERM when its
    parent dies, and exit at once if the parent is already gone (the fork raced it)."""
    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    return arm


class _PopenDyingWithParent(subprocess.Popen):
    """A child in its own session that dies with the process that started it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if sys.platform.startswith("linux"):
            kwargs.setdefault("preexec_fn", _exit_with(os.getpid()))
        kwargs.setdefault("start_new_session", True)
        super().__init__(*args, **kwargs)


class _SubprocessDyingWithParent:
    """``subprocess`` as Prefect's server module sees it: ``Popen`` children die with
    this process; everything else is ``subprocess`` itself."""

    Popen = _PopenDyingWithParent

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)


def children_die_with_parent() -> None:
    """Make the ephemeral Prefect API server that this process may start exit when this
    process dies, however it dies (issue: it kept serving after a SIGKILL)."""
    from prefect.server.api import server

    server.subprocess = _SubprocessDyingWithParent()


def serve_forever(data_dir: Path, out_dir: Path, config_path: Path | None, config: Config) -> None:
    """Serve both deployments until interrupted; an ephemeral API server dies with us."""
    children_die_with_parent()
    serve(*deployments(data_dir, out_dir, config_path, config))
