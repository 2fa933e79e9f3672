"""The MLproject train entry point's reuse_features switch: true passes
--reuse-features (training on OUT/features as they are, without validating and building
them again), false passes nothing, anything else stops before ontrack runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.projects._project_spec import load_project

ROOT = Path(__file__).resolve().parents[1]
# A stand-in for the `ontrack` command: prints the arguments it was given, as JSON.
FAKE = "#!{python}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def _train_command(parameters: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """The train entry point's command as MLflow renders it, run with bash from a folder
    named like the project's, with the stand-in ontrack first on PATH."""
    command = load_project(str(ROOT / "mlproject")).get_entry_point("train").compute_command(
        {"data": "district", "out": "out", **parameters}, storage_dir=None)
    (tmp_path / "bin").mkdir(exist_ok=True)
    fake = tmp_path / "bin" / "ontrack"
    fake.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "mlproject").mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([shutil.which("bash"), "-c", command], cwd=tmp_path / "mlproject", env=env,
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(("value", "flag"), [(None, False), ("false", False), ("true", True)])
def test_reuse_features_true_passes_the_flag(value: str | None, flag: bool, tmp_path: Path) -> None:
    done = _train_command({} if value is None else {"reuse_features": value}, tmp_path)
    assert done.returncode == 0, done.stderr
    argv = json.loads(done.stdout)
    assert argv[:2] == ["train", "district"] and ("--reuse-features" in argv) is flag


@pytest.mark.parametrize("value", ["yes", "True", "$(touch {mark})", "true; touch {mark}"])
def test_any_other_value_stops_before_ontrack(value: str, tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    done = _train_command({"reuse_features": value.format(mark=mark)}, tmp_path)
    assert done.returncode == 2 and not done.stdout and not mark.exists()
    assert "reuse_features must be true or false" in done.stderr
