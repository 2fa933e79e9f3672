"""The booster refitted with lightgbm.dask on a local 2-worker cluster: the same
parameters and rounds as the single-process fit, the same out-of-time AUC (within
0.005), labels that stay with their rows, and a LightGBM network on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

# A Dask cluster of two worker processes, shared by the module's tests: one xdist group
# (a slow test is otherwise a group of its own, and tests of this module spread over
# both workers started the cluster, and fitted both boosters, on each: ~18 s of CPU).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tests/test_lightgbm_dask.py")]

NETWORK_KEYS = {"machines", "local_listen_port", "num_machines", "tree_learner", "time_out", "num_threads"}


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local:
        yield local.scheduler_address


def cohort(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """One cohort year: absences, GPA, failures and a prior-year score (missing for
    some) carry the risk; four columns are noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "days_absent": rng.gamma(2.0, 4.0, n),
        "gpa": np.clip(rng.normal(2.8, 0.8, n), 0, 4),
        "failed_courses": rng.poisson(0.6, n).astype(float),
        "prior_score": np.where(rng.random(n) < 0.3, np.nan, rng.normal(0, 1, n)),
        **{f"noise{i}": rng.normal(size=n) for i in range(4)},
    })
    logit = (-2.0 + 0.12 * X.days_absent - 0.9 * (X.gpa - 2.8) + 0.5 * X.failed_courses
             - 0.4 * np.nan_to_num(X.prior_score) + 0.6 * ((X.days_absent > 15) & (X.gpa < 2)))
    return X, pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float))


def booster_params(booster) -> dict[str, str]:  # noqa: ANN001 - a lightgbm.Booster
    """The ``parameters:`` block LightGBM writes into the model text."""
    text = booster.model_to_string()
    block = text[text.index("\nparameters:\n"):].splitlines()
    return dict(line.strip("[]").split(": ", 1) for line in block if line.startswith("["))


@pytest.fixture(scope="module")
def fitted(cluster: str):
    from ontrack.modeling.estimator import EarlyWarningModel

    years = [cohort(1500, seed) for seed in (1, 2, 3)]
    X = pd.concat([x for x, _ in years], ignore_index=True)
    y = pd.concat([t for _, t in years], ignore_index=True)
    year = np.repeat([2019, 2020, 2021], 1500)
    Xc, yc = cohort(1500, 4)
    data = {"X": X, "y": y, "years": year, "X_calibrate": Xc, "y_calibrate": yc}
    local = EarlyWarningModel().fit(X, y, years=year, X_calibrate=Xc, y_calibrate=yc)
    remote = EarlyWarningModel(dask_address=cluster).fit(X, y, years=year, X_calibrate=Xc, y_calibrate=yc)
    return local, remote, data


def test_lightgbm_dask_fits_the_booster_on_the_cluster(fitted, tmp_path: Path) -> None:
    from ontrack.modeling.bundle import load_bundle, save_bundle

    local, remote, _ = fitted
    X_test, y_test = cohort(3000, 5)  # the out-of-time cohort
    auc_local = roc_auc_score(y_test, local.predict_risk(X_test))
    auc_dask = roc_auc_score(y_test, remote.predict_risk(X_test))
    assert auc_local > 0.7  # a problem with real signal, not a coin toss
    assert abs(auc_dask - auc_local) <= 0.005, (auc_dask, auc_local)
    assert remote.booster_.num_trees() == local.booster_.num_trees() == local.best_iteration_
    assert remote.calibration_on_ == local.calibration_on_ == "calibration cohort"
    assert booster_params(remote.booster_)["num_machines"] == "2"  # both workers trained
    save_bundle(tmp_path / "bundle", remote.booster_, remote.calibration_, {"features": remote.feature_names_})
    loaded = load_bundle(tmp_path / "bundle")
    assert np.allclose(loaded.predict_risk(X_test), remote.predict_risk(X_test))


def test_the_cluster_gets_every_single_process_parameter(fitted) -> None:
    local, remote, _ = fitted
    mine, theirs = booster_params(local.booster_), booster_params(remote.booster_)
    differ = {k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}
    assert differ <= NETWORK_KEYS, {k: (mine.get(k), theirs.get(k)) for k in differ - NETWORK_KEYS}
    assert theirs["tree_learner"] == "data" and theirs["min_data_in_leaf"] == mine["min_data_in_leaf"] == "40"


def test_lightgbm_network_stays_on_loopback_on_a_local_cluster(fitted) -> None:
    _, remote, _ = fitted
    params = booster_params(remote.booster_)
    machines = params["machines"].split(",")
    assert len(machines) == 2 and len(set(machines)) == 2
    assert all(m.split(":")[0] == "127.0.0.1" for m in machines), machines
    assert params["local_listen_port"] in {m.split(":")[1] for m in machines}
    assert params["time_out"] == "10"  # ours (minutes), not LightGBM's 120: the machines list is ours


def test_worker_ports_are_probed_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from ontrack.modeling import distributed

    bound: list[tuple] = []
    real_bind = socket.socket.bind

    class Spy(socket.socket):
        def bind(self, address):  # noqa: ANN001, ANN202
            bound.append(address)
            return real_bind(self, address)

    monkeypatch.setattr(distributed.socket, "socket", Spy)
    assert distributed.free_loopback_port() > 0
    assert bound == [("127.0.0.1", 0)]  # lightgbm.dask's own probe binds every interface ("")


def test_a_remote_cluster_keeps_lightgbm_s_own_port_finding() -> None:
    from ontrack.modeling.distributed import is_loopback, network_params

    assert is_loopback("tcp://127.0.0.1:40123") and is_loopback("tcp://localhost:1")
    assert not is_loopback("tcp://10.0.0.7:40123") and not is_loopback("tcp://node-3:8786")
    # Mixed or remote workers: no `machines` (the client is not even asked for ports).
    assert "machines" not in network_params(None, ["tcp://127.0.0.1:1", "tcp://10.0.0.7:2"])


def test_labels_travel_with_their_rows_one_block_per_worker(cluster: str) -> None:
    from distributed import Client

    from ontrack.modeling.distributed import place_blocks

    X, y = cohort(1001, 6)
    with Client(cluster) as client:
        dX, dy, workers = place_blocks(client, X, y.to_numpy())
        assert len(workers) == 2
        holders = [set(ws) for ws in client.who_has().values() if ws]
        assert {w for ws in holders for w in ws} == set(workers)
        pd.testing.assert_frame_equal(dX.compute().reset_index(drop=True), X)
        assert np.array_equal(dy.compute().to_numpy(), y.to_numpy())
