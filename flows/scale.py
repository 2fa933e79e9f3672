"""The scale-out path: per-year tasks on a Dask cluster, and LightGBM on the same cluster.

``indicators_by_year_flow`` computes the student indicators one school year per task, so
Prefect's Dask task runner (prefect-dask) spreads the years over the cluster's workers;
each task opens its own read-only DuckDB connection over ``OUT/validated``. The result
is the same table the single-process ``ontrack indicators`` computes (a test checks it
on a local 2-worker cluster). For training, ``EarlyWarningModel(dask_address=...)``
refits the booster with ``lightgbm.dask`` on the cluster (``ontrack.modeling``).

``address`` is an existing scheduler (``tcp://host:8786``); ``"local"`` starts a
throw-away local cluster of ``n_workers`` single-threaded processes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect_dask import DaskTaskRunner

from ontrack.config import load_config


def dask_runner(address: str, n_workers: int = 2) -> DaskTaskRunner:
    """Prefect's Dask task runner for an existing scheduler or a local cluster."""
    if address == "local":
        return DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    return DaskTaskRunner(address=address)


@task(name="indicators-year")
def year_indicators_task(out_dir: Path, config_path: Path | None, school_year: int) -> pd.DataFrame:
    """Every indicator of one school year's students (runs on a Dask worker)."""
    from ontrack.indicators import student_indicators
    from ontrack.validation.store import open_validated, provided_tables

    config = load_config(config_path)
    con = open_validated(out_dir, config)
    try:
        return student_indicators(con, config, school_years=[school_year], provided=provided_tables(con))
    finally:
        con.close()


def school_years(out_dir: Path) -> list[int]:
    """School years with enrollments in the validated data."""
    frame = pd.read_parquet(Path(out_dir) / "validated" / "enrollments.parquet", columns=["school_year"])
    return sorted(int(y) for y in frame["school_year"].unique())


@flow(name="ontrack-indicators-by-year")
def indicators_by_year_flow(out_dir: Path, config_path: Path | None = None) -> pd.DataFrame:
    """Student indicators, one task per school year, concatenated in year order."""
    futures = [year_indicators_task.submit(out_dir, config_path, year) for year in school_years(out_dir)]
    parts = [f.result() for f in futures]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    for part in parts:  # a year whose text column is all empty arrives as object: retype
        for column, dtype in part.dtypes.items():
            if isinstance(dtype, pd.StringDtype) and frame[column].dtype != dtype:
                frame[column] = frame[column].astype(dtype)
    return frame.sort_values(["school_year", "student_id", "indicator"], ignore_index=True)


def run_indicators_on_dask(out_dir: Path, config_path: Path | None, address: str) -> pd.DataFrame:
    """``indicators_by_year_flow`` with the Dask task runner at ``address``."""
    return indicators_by_year_flow.with_options(task_runner=dask_runner(address))(out_dir, config_path)
