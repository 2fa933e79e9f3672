"""MLproject entry points pass every parameter as one inert argument (issue 20, item 11):
MLflow shell-quotes each value; a template that adds quotes of its own undoes that and
``-P 'config=$(touch FILE)'`` ran the command."""

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
PROJECT = load_project(str(ROOT / "mlproject"))
# A stand-in for the `ontrack` command: prints the arguments it was given, as JSON.
FAKE = "#!{python}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def _run(entry: str, parameters: dict[str, str], tmp_path: Path) -> list[str]:
    """Render the entry point's command as MLflow does and run it with bash from a
    folder named like the project's (the commands begin with ``cd ..``)."""
    command = PROJECT.get_entry_point(entry).compute_command(parameters, storage_dir=None)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "ontrack"
    fake.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "mlproject").mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([shutil.which("bash"), "-c", command], cwd=tmp_path / "mlproject", env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


HOSTILE = ["$(touch {mark})", "`touch {mark}`", "'; touch {mark}; '", "\"; touch {mark}; \"",
           "x' $(touch {mark}) '", "a b\n touch {mark}"]


@pytest.mark.parametrize("entry", ["validate", "indicators", "train", "evaluate", "score"])
@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_parameter_is_one_inert_argument(entry: str, hostile: str, tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    value = hostile.format(mark=mark)
    optional = [p for p in ("config", "target", "as_of") if p in PROJECT.get_entry_point(entry).parameters]
    for name in [*optional, "out", "model"]:
        if name not in PROJECT.get_entry_point(entry).parameters:
            continue
        parameters = {"data": "district", "out": "out", name: value}
        argv = _run(entry, parameters, tmp_path)
        assert not mark.exists(), f"{entry}: -P {name}=... ran a command: {argv}"
        assert value in argv, f"{entry}: -P {name}=... must reach ontrack as one argument. Got {argv} instead."


@pytest.mark.parametrize("entry", ["validate", "indicators", "train", "evaluate", "score"])
def test_an_empty_optional_parameter_is_left_out(entry: str, tmp_path: Path) -> None:
    argv = _run(entry, {"data": "district", "out": "out"}, tmp_path)
    assert argv[0] == entry and "--config" not in argv and "--target" not in argv and "--as-of" not in argv
    assert argv[argv.index("--out") + 1] == "out"
    with_config = _run(entry, {"data": "district", "out": "out", "config": "my config.yaml"}, tmp_path)
    assert with_config[-2:] == ["--config", "my config.yaml"]
