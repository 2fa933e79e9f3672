"""The roster set written by a forked process beside the profile pages (reports/publish.py,
``ROSTERS_BESIDE_FROM``): the same files as one after the other in one process, and an
error there stops the run before its swap, with the previous roster set whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ontrack.reports import publish
from ontrack.reports.workers import can_fork
from shared_outputs import clone_output, published_files


def _score(trained: dict, out: Path, monkeypatch: pytest.MonkeyPatch, beside_from: int) -> set[int]:
    """One score; returns the IDs of the processes that wrote the roster set."""
    monkeypatch.setattr(publish, "ROSTERS_BESIDE_FROM", beside_from)
    writers = out.parent / f"{out.name}-writers.txt"
    original = publish.publish_rosters

    def recorded(*args, **kwargs):
        with open(writers, "a", encoding="utf-8") as handle:  # a forked writer's own memory is lost
            handle.write(f"{os.getpid()}\n")
        return original(*args, **kwargs)

    monkeypatch.setattr(publish, "publish_rosters", recorded)
    publish.score_and_publish(out, trained["config"], model="grade8")
    return {int(line) for line in writers.read_text(encoding="utf-8").split()}


@pytest.mark.skipif(not can_fork(), reason="the roster set goes beside the profiles only where the system forks")
def test_the_roster_set_written_beside_the_profiles_is_the_same(trained_grade8: dict, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    after = clone_output(trained_grade8["out"], tmp_path / "after")
    assert _score(trained_grade8, after, monkeypatch, beside_from=10**9) == {os.getpid()}
    together = clone_output(trained_grade8["out"], tmp_path / "together")
    writers = _score(trained_grade8, together, monkeypatch, beside_from=1)
    assert len(writers) == 1 and os.getpid() not in writers
    first, second = published_files(after), published_files(together)
    assert any(p.startswith("profiles/") for p in first) and any(p.endswith(".xlsx") for p in first)
    assert sorted(first) == sorted(second)
    assert [p for p in first if first[p] != second[p]] == []
    assert not list(together.glob(".rosters.*")) and not list(together.glob(".followup.*"))


@pytest.mark.skipif(not can_fork(), reason="the roster set goes beside the profiles only where the system forks")
def test_an_error_beside_the_profiles_stops_the_run_before_its_swap(trained_grade8: dict, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = clone_output(trained_grade8["out"], tmp_path / "out")
    publish.score_and_publish(out, trained_grade8["config"], model="grade8")  # the previous roster set
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "rosters").rglob("*"))
              if p.is_file()}
    assert any(name.endswith(".xlsx") for name in before), "the clone must hold a previous roster set"
    monkeypatch.setattr(publish, "ROSTERS_BESIDE_FROM", 1)

    def broken(*_args, **_kwargs):
        raise ValueError("reasons must be writable. Got a test's error instead.")

    monkeypatch.setattr(publish, "publish_reasons", broken)
    with pytest.raises(ValueError, match="a test's error"):
        publish.score_and_publish(out, trained_grade8["config"], model="grade8")
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "rosters").rglob("*"))
             if p.is_file()}
    assert after == before
    assert not list(out.glob(".rosters.*")) and not list(out.glob(".followup.*"))
