"""Helpers for the session-wide outputs (tests/conftest.py builds them once): copying an
output folder so a test can change it, and MLflow stores that stay in tmp dirs."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

# One synthetic district for every module that needs a realistic one (seven years: the
# deployment split needs rolling-origin folds), generated once per session.
SYNTH = {"n_students": 400, "n_years": 7, "seed": 5}
TRAIN_CONFIG = "modeling:\n  bootstrap_samples: 20\n"


def clone_output(source: Path, target: Path) -> Path:
    """Copy an output folder so that a test can change it without touching the original.

    The MLflow store keeps absolute locations (experiment artifact roots, run and model
    version URIs); they are rewritten to the copy, so a new run, a promotion or an
    edited artifact in the copy never reaches the source. Fails if any remain."""
    source, target = Path(source).resolve(), Path(target).resolve()
    shutil.copytree(source, target)
    database = target / "mlflow" / "mlflow.db"
    if database.is_file():
        _rewrite_paths(database, str(source), str(target))
    return target


def _rewrite_paths(database: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in every text column of a SQLite database."""
    con = sqlite3.connect(database)
    with con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        columns = [(t, c[1]) for t in tables for c in con.execute(f'PRAGMA table_info("{t}")')]
        for table, column in columns:
            con.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                        (old, new, old))
        left = [(t, c) for t, c in columns if con.execute(
            f'SELECT count(*) FROM "{t}" WHERE typeof("{c}") = \'text\' AND instr("{c}", ?) > 0',
            (old,)).fetchone()[0]]
    con.close()
    assert not left, f"the copied MLflow store must not point at {old}. Got it in {left} instead."


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under ``folder``: a shared input must
    leave the session as it came."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def fresh_mlflow_store(template: Path, folder: Path, experiment: str) -> str:
    """A copy of the template store in ``folder`` with an experiment whose artifacts stay
    in ``folder`` (MLflow's default experiment would put them in ``./mlruns`` of the
    current directory, i.e. the repository root). Returns the tracking URI."""
    from mlflow.tracking import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).create_experiment(
        experiment, artifact_location=(folder / "artifacts").as_uri())
    return uri


def xdist_group_of(nodeid: str, fixtures: set[str], slow: bool) -> str:
    """The xdist group a test runs in (``--dist loadgroup``): every test of the Prefect
    test server together (it takes ~20 s to start, once per worker that needs it); a
    slow test alone, so the slowest run side by side; any other test with its module, so
    that the module's fixtures are built once.

    >>> xdist_group_of("tests/test_a.py::test_b[1]", {"tmp_path"}, slow=True)
    'tests/test_a.py::test_b'
    >>> xdist_group_of("tests/test_a.py::test_b", set(), slow=False)
    'tests/test_a.py'
    """
    if "prefect_harness" in fixtures:
        return "prefect"
    return nodeid.split("[")[0] if slow else nodeid.split("::")[0]


def published_files(out: Path) -> dict[str, object]:
    """Every roster, reasons, follow-up and profile file of a run, by path: the bytes of
    CSV and HTML, the cells of every sheet of a workbook (its zip stamps the time). The
    per-run summary and state files (timings, time stamp) are left out."""
    import pandas as pd

    found: dict[str, object] = {}
    for folder in ("rosters", "followup", "profiles"):
        for path in sorted((out / folder).rglob("*")):
            name = path.relative_to(out).as_posix()
            if path.is_file() and path.suffix in (".csv", ".html"):
                found[name] = path.read_bytes()
            elif path.is_file() and path.suffix == ".xlsx":
                sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str)
                found[name] = {sheet: frame.fillna("").values.tolist() for sheet, frame in sheets.items()}
    return found
