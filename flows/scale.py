"""Where a flow's tasks run: a Dask cluster through prefect-dask's task runner.

``--dask ADDRESS`` uses an existing scheduler (``tcp://host:8786``); ``--dask local``
or ``local:N`` starts a throw-away cluster on this machine of N single-threaded worker
processes (default 2), bound to 127.0.0.1, without a dashboard. The stages that declare
parts (``ontrack.pipeline.Parts``) send each part to the cluster as a task; the workers
read and write OUT, which on a real cluster is storage every worker shares (docs/flows.md).
"""

from __future__ import annotations

from prefect_dask import DaskTaskRunner

from ontrack.errors import ConfigError
from ontrack.resources import dask_local_workers


def local_workers(address: str) -> int | None:
    """N for ``local`` / ``local:N`` (None for a scheduler's address)."""
    try:
        return dask_local_workers(address)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def dask_runner(address: str) -> DaskTaskRunner:
    """Prefect's Dask task runner for an existing scheduler or a local cluster."""
    workers = local_workers(address)
    if workers is not None:
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None, "host": "127.0.0.1"})
    return DaskTaskRunner(address=address)
