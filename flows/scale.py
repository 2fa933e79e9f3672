"""Where a flow's tasks run: a Dask cluster through prefect-dask's task runner.

``--dask ADDRESS`` uses an existing scheduler (``tcp://host:8786``); ``--dask local``
or ``local:N`` starts a throw-away cluster on this machine of N single-threaded worker
processes (default 2), bound to 127.0.0.1, without a dashboard. The stages that declare
parts (``ontrack.pipeline.Parts``) send each part to the cluster as a task; the workers
read and write OUT, which on a real cluster is storage every worker shares (docs/flows.md).
"""

from __future__ import annotations

import re

from prefect_dask import DaskTaskRunner

from ontrack.errors import ConfigError

LOCAL = re.compile(r"local(?::(\d+))?")
DEFAULT_WORKERS = 2


def local_workers(address: str) -> int | None:
    """N for ``local`` / ``local:N`` (None for a scheduler's address)."""
    found = LOCAL.fullmatch(address.strip())
    if found is None:
        return None
    workers = int(found.group(1) or DEFAULT_WORKERS)
    if not 1 <= workers <= 256:
        raise ConfigError(f"--dask local:N must have N between 1 and 256. Got {address!r} instead.")
    return workers


def dask_runner(address: str) -> DaskTaskRunner:
    """Prefect's Dask task runner for an existing scheduler or a local cluster."""
    workers = local_workers(address)
    if workers is not None:
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None, "host": "127.0.0.1"})
    if "://" not in address:
        raise ConfigError("--dask must be a scheduler's address (tcp://host:8786) or local[:N]. "
                          f"Got {address!r} instead.")
    return DaskTaskRunner(address=address)
