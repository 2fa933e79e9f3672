"""Completion markers (issue 20, item 5): ``ontrack indicators`` writes
``OUT/indicators/_complete.json`` after its four files, withdrawn before it moves the
first one; ``report --reuse-indicators`` checks it, so a set a killed run left partial, an
edited file or files from another config are refused, never rendered."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from ontrack.cli import main
from ontrack.config import load_config
from ontrack.errors import OnTrackError
from ontrack.indicators.run import run_indicators
from ontrack.paths import (
    MARKER,
    OutputIncomplete,
    check_marker,
    clear_marker,
    write_marker,
)
from tests.conftest import write_district
from tests.forked_command import ForkedCommand

ROOT = Path(__file__).resolve().parents[1]
FILES = ("students.csv", "rates.csv", "suppression.csv", "lowest_group.csv")


@pytest.fixture
def indicated(tmp_path: Path) -> dict:
    """The tiny district with its indicators computed (a complete, marked set)."""
    data = write_district(tmp_path / "data")
    out = tmp_path / "out"
    run_indicators(data, out, load_config())
    return {"data": data, "out": out, "folder": out / "indicators"}


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _reuse(case: dict, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["report", str(case["data"]), "--out", str(case["out"]), "--reuse-indicators",
                 "--quiet", *extra])
    return code, capsys.readouterr().err


def test_the_marker_lists_every_file_with_its_digest_and_the_config(indicated: dict) -> None:
    marker = json.loads((indicated["folder"] / MARKER).read_text(encoding="utf-8"))
    assert marker["stage"] == "indicators" and marker["config_hash"] == load_config().config_hash
    assert sorted(marker["files"]) == sorted(FILES)
    assert marker["ontrack_version"] and marker["created_at"]
    rates = (indicated["folder"] / "rates.csv").read_bytes()
    assert marker["files"]["rates.csv"]["bytes"] == len(rates)
    assert check_marker(indicated["folder"], "indicators", load_config().config_hash) == marker


def test_a_complete_set_is_reused_without_recomputing(indicated: dict, capsys) -> None:
    before = _contents(indicated["folder"])
    code, err = _reuse(indicated, capsys)
    assert code == 0, err
    assert _contents(indicated["folder"]) == before
    assert (indicated["out"] / "report" / "index.html").is_file()


def test_a_set_killed_between_its_moves_is_refused(indicated: dict, capsys) -> None:
    """What a kill after the first move leaves: no marker, a new students.csv beside
    the previous rates.csv (both well-formed)."""
    folder = indicated["folder"]
    clear_marker(folder)
    students = folder / "students.csv"
    lines = students.read_text(encoding="utf-8").splitlines(keepends=True)
    students.write_text("".join(lines[:2]), encoding="utf-8")  # a shorter, well-formed file
    code, err = _reuse(indicated, capsys)
    assert code == 1 and "Traceback" not in err
    assert "indicators must be complete and made with the current config" in err
    assert f"no {MARKER}" in err
    assert "run `ontrack indicators` again or drop --reuse-indicators" in err
    assert not (indicated["out"] / "report").exists()


def test_a_changed_or_missing_file_is_refused(indicated: dict, capsys) -> None:
    rates = indicated["folder"] / "rates.csv"
    rates.write_bytes(rates.read_bytes().replace(b"\n", b"\r\n", 1))  # same rows, other bytes
    code, err = _reuse(indicated, capsys)
    assert code == 1 and "rates.csv changed or missing since the run finished" in err
    rates.unlink()
    (indicated["folder"] / "lowest_group.csv").unlink()
    code, err = _reuse(indicated, capsys)  # the marker alone still says a set was there
    assert code == 1 and "changed or missing" in err


def test_files_from_another_config_are_refused_and_recomputed_without_the_flag(
    indicated: dict, tmp_path: Path, capsys
) -> None:
    config = tmp_path / "other.yaml"
    config.write_text("reporting:\n  min_group_size: 12\n", encoding="utf-8")
    current = load_config(config).config_hash
    code, err = _reuse(indicated, capsys, "--config", str(config))
    assert code == 1
    assert f"files made with config {load_config().config_hash}, not the current {current}" in err
    code = main(["report", str(indicated["data"]), "--out", str(indicated["out"]), "--quiet",
                 "--config", str(config)])
    assert code == 0, capsys.readouterr().err
    check_marker(indicated["folder"], "indicators", current)  # rewritten under this config


def test_a_marker_is_checked_in_every_field(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    write_marker(tmp_path, "indicators", "abc", ["a.csv"])
    with pytest.raises(OutputIncomplete, match="output of 'indicators'"):
        check_marker(tmp_path, "features", "abc")
    record = json.loads((tmp_path / MARKER).read_text(encoding="utf-8"))
    for name in ("../outside.csv", "/etc/passwd", ""):
        record["files"] = {name: {"bytes": 0, "sha256": ""}}
        (tmp_path / MARKER).write_text(json.dumps(record), encoding="utf-8")
        with pytest.raises(OutputIncomplete, match="outside the folder"):
            check_marker(tmp_path, "indicators", "abc")
    for text in ("{", "[]", json.dumps({**record, "format": "other"})):
        (tmp_path / MARKER).write_text(text, encoding="utf-8")
        with pytest.raises(OnTrackError, match="must hold the complete output"):
            check_marker(tmp_path, "indicators", "abc")
    with pytest.raises(OnTrackError, match="must exist"):
        write_marker(tmp_path, "indicators", "abc", ["a.csv", "never.csv"])


def _indicators(case: dict, pause: str) -> ForkedCommand:
    args = ["indicators", str(case["data"]), "--out", str(case["out"]), "--reuse-validated",
            "--as-of", "2024-01-31", "--quiet"]
    return ForkedCommand(args, env={"ONTRACK_TEST_INDICATORS_PAUSE": pause})


def _kill_when(process: ForkedCommand, reached) -> None:
    deadline = time.monotonic() + 60
    while not reached():
        assert process.poll() is None, process.stderr_text()[-2000:]
        assert time.monotonic() < deadline, "the run never reached its pause"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_a_killed_indicators_run_leaves_the_previous_set_or_a_refused_one(indicated: dict, capsys) -> None:
    folder = indicated["folder"]
    before = _contents(folder)
    # Killed before its first move: the previous set, marker included, byte for byte.
    first = _indicators(indicated, "before:60")
    _kill_when(first, lambda: (folder / f".lowest_group.{first.pid}.tmp.csv").exists())
    assert {k: v for k, v in _contents(folder).items() if not k.startswith(".")} == before
    code, err = _reuse(indicated, capsys)
    assert code == 0, err
    # Killed between its first and second move: a new students.csv, no marker: refused.
    second = _indicators(indicated, "between:60")
    _kill_when(second, lambda: not (folder / f".students.{second.pid}.tmp.csv").exists()
               and (folder / f".rates.{second.pid}.tmp.csv").exists())
    assert not (folder / MARKER).exists()
    assert (folder / "students.csv").read_bytes() != before["students.csv"]
    assert (folder / "rates.csv").read_bytes() == before["rates.csv"]
    code, err = _reuse(indicated, capsys)
    assert code == 1 and f"no {MARKER}" in err
    # The next run publishes a whole set and removes the killed runs' temporary files.
    run_indicators(indicated["data"], indicated["out"], load_config(), reuse_validated=True)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, MARKER])
    check_marker(folder, "indicators", load_config().config_hash)


def test_reused_features_must_be_whole_and_of_this_config(trained_grade8: dict, tmp_path: Path) -> None:
    from ontrack.commands.train import reused_features
    from ontrack.errors import ConfigError

    shutil.copytree(trained_grade8["out"] / "features", tmp_path / "features")
    folder, config = tmp_path / "features" / "grade8", trained_grade8["config"]
    marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    assert {"matrix.parquet", "cohort.parquet", "dictionary.csv"} <= set(marker["files"])
    assert any(name.startswith("labels/") for name in marker["files"])
    assert "features" in reused_features(tmp_path, config, "grade8", True)
    label = next(folder.glob("labels/*.parquet"))
    label.write_bytes(label.read_bytes() + b"\0")  # a label file rewritten after the run
    with pytest.raises(ConfigError, match=f"labels/{label.name} changed or missing"):
        reused_features(tmp_path, config, "grade8", True)
    clear_marker(folder)  # what a run killed while rewriting the folder leaves
    with pytest.raises(ConfigError, match=f"--reuse-features needs the complete features of grade8.*no {MARKER}"):
        reused_features(tmp_path, config, "grade8", True)
