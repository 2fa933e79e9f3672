"""Fit the booster with ``lightgbm.dask`` on a Dask cluster (the scale-out path).

The booster's rounds are still chosen locally by early stopping (``EarlyWarningModel``);
only the final refit on every training year, the expensive part on a large district,
runs on the cluster. The result is an ordinary ``lightgbm.Booster``, saved and loaded
exactly like a locally fitted one. ``address`` is a scheduler (``tcp://host:8786``) or
``"local"`` for a throw-away cluster of two single-threaded worker processes.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import lightgbm as lgb
import numpy as np
import pandas as pd


@contextmanager
def dask_client(address: str, n_workers: int = 2) -> Iterator[object]:
    """A distributed Client on ``address`` (or on a local cluster for ``"local"``)."""
    from distributed import Client, LocalCluster

    if address == "local":
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
    else:
        with Client(address) as client:
            yield client


def fit_booster_on_dask(native: dict, X: pd.DataFrame, y: np.ndarray, rounds: int, address: str) -> lgb.Booster:
    """Train ``rounds`` boosting rounds with LightGBM's Dask estimator; return the booster."""
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMClassifier

    with dask_client(address) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        frame = X.reset_index(drop=True)
        dX = dd.from_pandas(frame, npartitions=workers)
        dy = dd.from_pandas(pd.Series(np.asarray(y, dtype="float64"), name="y"), npartitions=workers)
        params = {k: v for k, v in native.items() if k not in ("num_threads", "verbosity")}
        model = DaskLGBMClassifier(client=client, n_estimators=rounds, verbose=-1, **params)
        model.fit(dX, dy)
        return model.booster_
