"""The profile pages in parts (reports/profile_parts.py): what a task runner is given
(whole schools, every student once) writes the same pages as this process does, also
when two parts run at once in threads of one process (a flow's default task runner)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports import profile_parts
from shared_outputs import clone_output

from ontrack.scoring import profile_data
from ontrack.scoring.run import score_model


def _pages(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "profiles").rglob("*") if p.is_file()}


def test_parts_hold_whole_schools_and_every_student_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from ontrack.config import config_from_dict

    roster = pd.DataFrame({"student_id": [f"s{i}" for i in range(100)],
                           "school_id": ["b"] * 40 + ["a"] * 30 + ["c"] * 20 + ["d"] * 10})
    config = config_from_dict({})
    monkeypatch.setattr(profile_parts, "PART_STUDENTS", 30)
    parts = profile_parts.profile_parts(roster, config)
    assert len(parts) == 4  # 100 students in parts of about 30, at most one per school
    assert sorted(pd.concat(parts)["student_id"]) == sorted(roster["student_id"])
    assert all(not set(a["school_id"]) & set(b["school_id"]) for i, a in enumerate(parts) for b in parts[i + 1:])
    monkeypatch.setattr(profile_parts, "PART_STUDENTS", 10**6)
    two = profile_parts.profile_parts(roster, config)  # a small roster still makes two parts
    assert sorted(len(p) for p in two) == [50, 50]
    one_school = profile_parts.profile_parts(roster[roster["school_id"] == "a"], config)
    assert [len(p) for p in one_school] == [30]


def test_parts_run_by_threads_write_the_pages_this_process_writes(
        trained_grade8: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = trained_grade8["config"]
    here = clone_output(trained_grade8["out"], tmp_path / "here")
    result = score_model(here, config, model="grade8")
    profile_parts.write_all_profiles(here, config, result)
    expected = _pages(here)
    assert sum(name.endswith(".html") for name in expected) == len(result.roster)

    runner = clone_output(trained_grade8["out"], tmp_path / "runner")
    result = score_model(runner, config, model="grade8")
    waves: list[list] = []
    found: list[bool] = []  # whether each part's pages found the criteria the part kept
    warmed = profile_data._warmed

    def recorded(*a, **k):
        group = warmed(*a, **k)
        found.append(group is not None)
        return group

    monkeypatch.setattr(profile_data, "_warmed", recorded)

    def in_threads(parts: list) -> list:
        waves.append(parts)
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda part: profile_parts.write_profile_part(runner, config, part), parts))

    profile_parts.write_all_profiles(runner, config, result, run_wave=in_threads)
    assert len(waves) == 1 and len(waves[0]) >= 2
    assert all(isinstance(part, profile_parts.ProfilePart) for part in waves[0])
    assert _pages(runner) == expected
    assert found and all(found), "a part's kept criteria were dropped by another part"
    assert not profile_data._WARM, "each part drops what it kept"

