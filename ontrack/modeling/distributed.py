"""Fit the booster with ``lightgbm.dask`` on a Dask cluster (the scale-out path).

What stays the same as the single-process fit (``EarlyWarningModel``):

- **parameters**: the very dict ``native_params`` gives ``lgb.train`` (objective, seeds,
  ``deterministic``, leaves, depth, ``min_data_in_leaf``, bagging, monotone constraints).
  Only ``num_threads`` differs: ``lightgbm.dask`` sets it to each worker's thread count;
- **rounds**: early stopping is done locally by the same probe as the single-process fit
  (``lightgbm.dask`` has no early stopping: each worker would judge its own share of the
  stopping rows and stop at a different round); the cluster refits that many rounds;
- **calibration**: fitted by the estimator on the booster this returns, as locally.

Rows are cut into one contiguous block per worker, each block holding the features *and*
the label, so a row's label travels with it (X and y are never partitioned apart), and
each block is placed on its own worker (sorted by address), so a refit is repeatable.

On a cluster whose workers all run on this machine (``"local"``, or a scheduler whose
workers have loopback addresses) the LightGBM network is set up over 127.0.0.1 only:
ports are found by binding 127.0.0.1 on each worker and ``machines`` lists
``127.0.0.1:port`` entries, so no peer address outside the machine is ever dialled or
advertised. (LightGBM's own listener binds the wildcard address while the workers link
up, which no parameter changes; see docs/models.md.)
"""

from __future__ import annotations

import ipaddress
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import lightgbm as lgb
import numpy as np
import pandas as pd

LABEL = "__ontrack_label__"
LOOPBACK = "127.0.0.1"
# Minutes LightGBM's sockets wait for a peer (its own default is 120).
NETWORK_TIMEOUT_MINUTES = 10


@contextmanager
def dask_client(address: str, n_workers: int = 2) -> Iterator[object]:
    """A distributed Client on ``address`` (or on a loopback-only local cluster for ``"local"``)."""
    from distributed import Client, LocalCluster

    if address == "local":
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          host=LOOPBACK, dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
    else:
        with Client(address) as client:
            yield client


def is_loopback(worker_address: str) -> bool:
    """True when a Dask worker address (``tcp://127.0.0.1:40123``) is on this machine only."""
    host = urlparse(worker_address).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 of the worker this runs on (probed, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def network_params(client: object, workers: list[str]) -> dict:
    """LightGBM network settings for ``workers``: loopback ``machines`` when every
    worker is local, else nothing (``lightgbm.dask`` finds ports on the workers' hosts)."""
    if not workers or not all(is_loopback(w) for w in workers):
        return {"time_out": NETWORK_TIMEOUT_MINUTES}
    futures = [client.submit(free_loopback_port, workers=[w], allow_other_workers=False, pure=False)
               for w in workers]
    ports = client.gather(futures)
    if len(set(ports)) != len(ports):
        raise RuntimeError(
            f"free loopback ports for the LightGBM workers must be distinct. Got {ports} instead."
        )
    return {
        "machines": ",".join(f"{LOOPBACK}:{port}" for port in ports),
        "time_out": NETWORK_TIMEOUT_MINUTES,
    }


def place_blocks(client: object, X: pd.DataFrame, y: np.ndarray) -> tuple[object, object, list[str]]:
    """``X`` with its label as one dask DataFrame, one contiguous block of rows per
    worker, each block on its own worker; returns (features, label, workers used)."""
    import dask.dataframe as dd

    workers = sorted(client.scheduler_info().get("workers", {}))
    if not workers:
        raise RuntimeError("the Dask cluster must have at least one worker. Got none instead.")
    frame = X.reset_index(drop=True).assign(**{LABEL: np.asarray(y, dtype="float64")})
    if LABEL in X.columns:
        raise ValueError(f"feature names must not include {LABEL}. Got it as a column instead.")
    bounds = np.linspace(0, len(frame), min(len(workers), len(frame)) + 1).astype(int)
    blocks = [frame.iloc[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    used = workers[: len(blocks)]
    futures = [client.scatter(block, workers=[w], direct=True) for block, w in zip(blocks, used)]
    whole = dd.from_delayed(futures, meta=frame.iloc[:0], verify_meta=False)
    return whole[list(X.columns)], whole[LABEL], used


def fit_booster_on_dask(native: dict, X: pd.DataFrame, y: np.ndarray, rounds: int, address: str) -> lgb.Booster:
    """Train ``rounds`` boosting rounds with LightGBM's Dask estimator and the same
    parameters as ``lgb.train`` gets in-process; return the booster."""
    from lightgbm.dask import DaskLGBMClassifier

    with dask_client(address) as client:
        dX, dy, workers = place_blocks(client, X, y)
        params = {k: v for k, v in native.items() if k != "num_threads"}
        params.update(network_params(client, workers))
        model = DaskLGBMClassifier(client=client, n_estimators=rounds, **params)
        with warnings.catch_warnings():
            # Its own n_jobs=None default: the thread count is the worker's, as documented.
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            model.fit(dX, dy)
        return model.booster_
