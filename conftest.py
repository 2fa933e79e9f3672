"""Doctest collection reads only the modules that hold a doctest.

``--doctest-modules`` imports every module under the test paths to look for examples;
148 of the 165 modules of ontrack/, features/, flows/ and reports/ have none, and
importing them (Prefect, MLflow, SHAP, Dask among them) cost each xdist worker about a
second of collection. A module is skipped only when its text holds no ``>>>`` prompt,
so a doctest added anywhere is still collected. The tests themselves live in tests/.
"""

from __future__ import annotations

from pathlib import Path

PACKAGES = ("ontrack", "features", "flows", "reports")
ROOT = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:  # noqa: ANN001
    """True for a package module without a doctest prompt; None (decide as usual) else."""
    if collection_path.suffix != ".py" or not config.getoption("doctestmodules", False):
        return None
    try:
        parts = collection_path.resolve().relative_to(ROOT).parts
    except ValueError:
        return None
    if not parts or parts[0] not in PACKAGES:
        return None
    return None if ">>>" in collection_path.read_text(encoding="utf-8", errors="replace") else True


def _one_math_thread_per_worker() -> None:
    """Each xdist worker (one per core) does its numpy, scikit-learn and LightGBM math on
    one thread: OpenBLAS and OpenMP otherwise start a thread per core in every worker
    and spin waiting for work, so two workers on two cores fought over them (the suite
    took ~6% more CPU; measured in tests' own CPU with and without). A value the
    caller set is kept. Set before numpy is imported (this file loads first)."""
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


_one_math_thread_per_worker()
