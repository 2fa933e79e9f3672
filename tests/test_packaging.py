"""The installed distribution exposes one import namespace, ``ontrack``.

The repository keeps the folders the project was designed with (ontrack/ features/
flows/ reports/ models/); pyproject.toml maps them into ``ontrack.features``, ... .
A wheel built from the checkout holds nothing but ``ontrack`` and its dist-info, with
the model spec as package data; every package folder is listed in pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_mapped_and_listed() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    listed, folders = set(tool["packages"]), tool["package-dir"]
    found = set()
    for package, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found == listed, f"in folders, not listed: {sorted(found - listed)}; listed, no folder: {sorted(listed - found)}"


@pytest.mark.slow
def test_the_wheel_holds_only_the_ontrack_namespace(tmp_path: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv (installed by README's set-up step) is needed to build the wheel")
    source = tmp_path / "src"  # build from a copy: the checkout gets no build/ folder
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info",
                                                                 "__pycache__", "ontrack-demo"))
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("ontrack-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"ontrack", wheel.name.split("-py3")[0] + ".dist-info"}
    for needed in ("ontrack/models/lightgbm.yaml", "ontrack/features/attendance.py",
                   "ontrack/flows/pipeline.py", "ontrack/reports/district/html.py",
                   "ontrack/edfi/descriptor_map.yaml"):
        assert needed in names, needed
