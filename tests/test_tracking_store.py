"""A new default MLflow store starts as a copy of this user's migrated empty template
(MLflow's schema migrations take seconds per new OUT), never replaces a store that
exists, and never trusts a template folder other users can write."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ontrack.config import load_config
from ontrack.modeling import tracking


@pytest.fixture
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp folder as seen by ontrack, moved into the test's tmp dir."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "systemp"))
    monkeypatch.delenv(tracking.HOME_VARIABLE, raising=False)
    (tmp_path / "systemp").mkdir()
    return tmp_path / "systemp" / f"ontrack-{os.getuid()}"


def _with_marker(mlflow_template: Path, folder: Path) -> Path:
    """The session's migrated store, copied into ``folder`` as this MLflow version's
    template, with one experiment that only the template has."""
    from mlflow import __version__
    from mlflow.tracking import MlflowClient

    folder.mkdir(mode=0o700)
    template = folder / f"mlflow-{__version__}.db"
    shutil.copyfile(mlflow_template, template)
    MlflowClient(tracking_uri=f"sqlite:///{template}").create_experiment(
        "from-the-template", artifact_location=(folder / "unused").as_uri())
    return template


def test_a_new_store_is_a_copy_of_the_template(private_temp: Path, tmp_path: Path, mlflow_template: Path) -> None:
    template = _with_marker(mlflow_template, private_temp)
    before = template.read_bytes()
    client = tracking.connect(load_config(None), tmp_path / "out")
    assert client.get_experiment_by_name("from-the-template") is not None
    client.create_experiment("only-in-out", artifact_location=(tmp_path / "a").as_uri())
    assert template.read_bytes() == before  # the copy is a separate file
    assert not list(private_temp.glob(".*.tmp")) and not list((tmp_path / "out" / "mlflow").glob(".*.tmp"))


def test_an_existing_store_is_never_replaced(private_temp: Path, tmp_path: Path, mlflow_template: Path) -> None:
    _with_marker(mlflow_template, private_temp)
    store = tmp_path / "out" / "mlflow"
    store.mkdir(parents=True)
    shutil.copyfile(mlflow_template, store / "mlflow.db")
    client = tracking.connect(load_config(None), tmp_path / "out")
    assert client.get_experiment_by_name("from-the-template") is None


def test_a_template_folder_others_can_write_is_not_used(private_temp: Path, tmp_path: Path,
                                                        mlflow_template: Path) -> None:
    _with_marker(mlflow_template, private_temp)
    private_temp.chmod(0o777)
    assert tracking._template_folder() is None
    (tmp_path / "out").mkdir()
    tracking._seed_store(tmp_path / "out" / "mlflow.db")  # left to MLflow to create
    assert not (tmp_path / "out" / "mlflow.db").exists()
