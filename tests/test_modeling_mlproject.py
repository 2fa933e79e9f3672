"""The MLproject entry points' reuse switches (train and evaluate: reuse_features, score:
reuse_validated): true passes the command's --reuse-* flag (work on what OUT holds,
without validating and building it again), false passes nothing, anything else stops
before ontrack runs."""

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


SWITCHES = {"train": ("reuse_features", "--reuse-features"),
            "evaluate": ("reuse_features", "--reuse-features"),
            "score": ("reuse_validated", "--reuse-validated")}


def _command(entry: str, parameters: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """The entry point's command as MLflow renders it, run with bash from a folder named
    like the project's, with the stand-in ontrack first on PATH."""
    command = load_project(str(ROOT / "mlproject")).get_entry_point(entry).compute_command(
        {"data": "district", "out": "out", **parameters}, storage_dir=None)
    (tmp_path / "bin").mkdir(exist_ok=True)
    fake = tmp_path / "bin" / "ontrack"
    fake.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "mlproject").mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([shutil.which("bash"), "-c", command], cwd=tmp_path / "mlproject", env=env,
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("entry", sorted(SWITCHES))
@pytest.mark.parametrize(("value", "flag"), [(None, False), ("false", False), ("true", True)])
def test_true_passes_the_flag(entry: str, value: str | None, flag: bool, tmp_path: Path) -> None:
    name, option = SWITCHES[entry]
    done = _command(entry, {} if value is None else {name: value}, tmp_path)
    assert done.returncode == 0, done.stderr
    argv = json.loads(done.stdout)
    assert argv[:2] == [entry, "district"] and (option in argv) is flag


@pytest.mark.parametrize("entry", sorted(SWITCHES))
@pytest.mark.parametrize("value", ["yes", "True", "$(touch {mark})", "true; touch {mark}"])
def test_any_other_value_stops_before_ontrack(entry: str, value: str, tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    name, _option = SWITCHES[entry]
    done = _command(entry, {name: value.format(mark=mark)}, tmp_path)
    assert done.returncode == 2 and not done.stdout and not mark.exists()
    assert f"{name} must be true or false" in done.stderr
