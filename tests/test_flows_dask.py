"""The scale-out path on a local 2-worker Dask cluster: same indicators, same kind of model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ontrack.config import Config

pytestmark = pytest.mark.slow  # a Dask cluster and a Prefect server


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


def test_indicators_by_year_on_dask_equal_the_single_process_ones(
    prefect_harness, cluster: str, tmp_path: Path
) -> None:
    from ontrack.flows.scale import run_indicators_on_dask
    from ontrack.indicators import student_indicators
    from ontrack.validation.store import open_validated, provided_tables
    from ontrack.synth import generate_district
    from ontrack.validation import validate_directory

    generate_district(tmp_path / "data", n_students=200, n_years=3, seed=8)
    validate_directory(tmp_path / "data", tmp_path / "out", Config())
    distributed = run_indicators_on_dask(tmp_path / "out", None, cluster)
    con = open_validated(tmp_path / "out")
    try:
        single = student_indicators(con, Config(), provided=provided_tables(con))
    finally:
        con.close()
    single = single.sort_values(["school_year", "student_id", "indicator"], ignore_index=True)
    assert len(distributed) == len(single) > 0
    assert distributed["school_year"].nunique() == 3
    pd.testing.assert_frame_equal(distributed, single, check_dtype=False)


def test_lightgbm_dask_fits_the_booster_on_the_cluster(cluster: str, tmp_path: Path) -> None:
    from ontrack.modeling.bundle import load_bundle, save_bundle
    from ontrack.modeling.estimator import EarlyWarningModel

    rng = np.random.default_rng(0)
    columns = [f"f{i}" for i in range(6)]

    def cohort(n: int) -> tuple[pd.DataFrame, pd.Series]:
        X = pd.DataFrame(rng.normal(size=(n, 6)), columns=columns)
        return X, pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-(1.5 * X.f0 - 1)))).astype(float))

    X, y = cohort(3000)
    Xc, yc = cohort(1000)
    years = np.repeat([2020, 2021, 2022], 1000)
    local = EarlyWarningModel().fit(X, y, years=years, X_calibrate=Xc, y_calibrate=yc)
    remote = EarlyWarningModel(dask_address=cluster).fit(X, y, years=years, X_calibrate=Xc, y_calibrate=yc)
    assert remote.booster_.num_trees() == local.booster_.num_trees()
    assert roc_auc_score(yc, remote.predict_risk(Xc)) > roc_auc_score(yc, local.predict_risk(Xc)) - 0.02
    save_bundle(tmp_path / "bundle", remote.booster_, remote.calibration_, {"features": columns})
    loaded = load_bundle(tmp_path / "bundle")
    assert np.allclose(loaded.predict_risk(Xc), remote.predict_risk(Xc))
