"""A killed `ontrack score` leaves the previous roster set whole (issue 20, item 5): the
rosters, the index, reasons, every model's saved roster and summary and the follow-up
lists are written into staging folders and swapped in at the end; other models' files
stay; the staging folder is swapped in atomically (``renameat2``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ontrack.paths import staging_folder, swap_in, write_atomically
from tests.shared_outputs import clone_output

ROOT = Path(__file__).resolve().parents[1]


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _score(trained: dict, out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "ontrack", "score", str(trained["data"]), "--model", "grade8", "--out", str(out),
            "--config", str(trained["config_file"]), "--quiet", *extra]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _score_here(trained: dict, out: Path) -> int:
    from ontrack.cli import main

    return main(["score", str(trained["data"]), "--model", "grade8", "--out", str(out),
                 "--config", str(trained["config_file"]), "--quiet"])


def test_a_score_killed_before_its_swap_leaves_the_previous_rosters_whole(trained_grade8: dict,
                                                                          tmp_path: Path) -> None:
    out = clone_output(trained_grade8["out"], tmp_path / "out")
    # Only the killed run needs a process of its own: the two whole ones run in this one.
    assert _score_here(trained_grade8, out) == 0
    # Another model's files in the set: a run of grade8 must keep them as they are.
    (out / "rosters" / "summary_grade9.json").write_text('{"model": "grade9"}', encoding="utf-8")
    before = {"rosters": _contents(out / "rosters"), "followup": _contents(out / "followup")}
    assert any(name.endswith(".xlsx") for name in before["rosters"]) and before["followup"]

    env = {**os.environ, "ONTRACK_TEST_PUBLISH_PAUSE": "60"}
    second = _score(trained_grade8, out, "--as-of", "2024-10-31", env=env)
    deadline = time.monotonic() + 240
    staged = out / ".rosters.{}.staging".format(second.pid)
    while not (staged / "summary_grade8.json").exists() or \
            (staged / "summary_grade8.json").read_bytes() == before["rosters"]["summary_grade8.json"]:
        assert second.poll() is None, second.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the second score never reached its swap"
        time.sleep(0.2)
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=30)
    assert {"rosters": _contents(out / "rosters"), "followup": _contents(out / "followup")} == before

    assert _score_here(trained_grade8, out) == 0  # the next run cleans up and publishes whole
    assert not list(out.glob(".rosters.*")) and not list(out.glob(".followup.*"))
    assert (out / "rosters" / "summary_grade9.json").read_text(encoding="utf-8") == '{"model": "grade9"}'
    assert _contents(out / "rosters").keys() == before["rosters"].keys()


def test_staging_writes_never_reach_the_live_files_and_the_swap_keeps_the_lock(tmp_path: Path) -> None:
    final = tmp_path / "rosters"
    final.mkdir()
    (final / "a.csv").write_text("old", encoding="utf-8")
    (final / ".score.lock").write_text("", encoding="utf-8")
    lock_inode = (final / ".score.lock").stat().st_ino
    staged = staging_folder(final)
    write_atomically(staged / "a.csv", lambda tmp: tmp.write_text("new", encoding="utf-8"))
    assert (final / "a.csv").read_text(encoding="utf-8") == "old"
    swap_in(staged, final)
    assert (final / "a.csv").read_text(encoding="utf-8") == "new"
    assert (final / ".score.lock").stat().st_ino == lock_inode  # a waiting run's flock still holds
    assert not staged.exists()


@pytest.mark.parametrize("exists", [True, False])
def test_a_swap_undone_half_way_is_recovered(tmp_path: Path, exists: bool) -> None:
    final = tmp_path / "rosters"
    retired = tmp_path / ".rosters.retired"
    retired.mkdir()
    (retired / "a.csv").write_text("old", encoding="utf-8")
    if exists:
        final.mkdir()
        (final / "a.csv").write_text("new", encoding="utf-8")
    staged = staging_folder(final)  # a run killed between the two renames of the fallback
    assert (staged / "a.csv").read_text(encoding="utf-8") == ("new" if exists else "old")
