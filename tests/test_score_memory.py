"""``ontrack score`` within ``resources.memory_limit``: profiles are written a group of
schools at a time (each group's criteria computed for its own students only), and the
files are the same however many groups the limit makes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports import profile_parts, publish
from shared_outputs import clone_output, published_files

from ontrack.resources import duckdb_limit_bytes
from ontrack.scoring import profile_data


def _history(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "history" / "scores.parquet").drop(columns="scored_at")


def _score(trained: dict, out: Path, monkeypatch: pytest.MonkeyPatch, *, per_student: int,
           pool_from: int) -> list[int]:
    """Run the score stage with groups sized by ``per_student`` bytes a student; return
    how many students each warm_criteria call kept."""
    monkeypatch.setattr(profile_parts, "PROFILE_BYTES_PER_STUDENT", per_student)
    monkeypatch.setattr(profile_parts, "PROFILES_POOL_FROM", pool_from)
    kept: list[int] = []
    warm = profile_data.warm_criteria

    def counted(out_dir, config, ids, *, through):
        kept.append(len(ids))
        return warm(out_dir, config, ids, through=through)

    monkeypatch.setattr(profile_parts, "warm_criteria", counted)
    publish.score_and_publish(out, trained["config"], model="grade8")
    assert not profile_data._WARM, "the kept criteria must be dropped after the pages"
    return kept


def test_profiles_in_groups_of_schools_write_the_same_files_as_one_group(
        trained_grade8: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = trained_grade8["config"]
    one = clone_output(trained_grade8["out"], tmp_path / "one")
    kept_one = _score(trained_grade8, one, monkeypatch, per_student=1, pool_from=10**9)
    roster = pd.read_parquet(one / "rosters" / "_history" / "grade8_roster.parquet")
    assert kept_one == [len(roster)]
    # About a third of the roster per group: several groups, each of several schools,
    # written by the two forked writers.
    per_student = duckdb_limit_bytes(config) // profile_parts.PROFILE_SHARE // max(1, len(roster) // 3)
    many = clone_output(trained_grade8["out"], tmp_path / "many")
    kept_many = _score(trained_grade8, many, monkeypatch, per_student=per_student, pool_from=1)
    assert len(kept_many) >= 3 and sum(kept_many) == len(roster)
    first, second = published_files(one), published_files(many)
    assert sum(p.startswith("profiles/") for p in first) == len(roster)
    assert any(p.endswith("reasons.csv") for p in first) and any(p.startswith("followup/") for p in first)
    assert sorted(first) == sorted(second)
    assert [p for p in first if first[p] != second[p]] == []
    pd.testing.assert_frame_equal(_history(one), _history(many))


def test_groups_hold_whole_schools_sized_from_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from ontrack.config import config_from_dict

    roster = pd.DataFrame({"student_id": [f"s{i}" for i in range(100)],
                           "school_id": ["b"] * 40 + ["a"] * 30 + ["c"] * 20 + ["d"] * 10})
    config = config_from_dict({"resources": {"memory_limit": "4GB"}})
    monkeypatch.setattr(profile_parts, "PROFILE_SHARE", 1)
    monkeypatch.setattr(profile_parts, "PROFILE_BYTES_PER_STUDENT", duckdb_limit_bytes(config) // 50)  # 50 a group
    groups = profile_parts.profile_groups(roster, config)
    assert [sorted(set(g["school_id"])) for g in groups] == [["a"], ["b"], ["c", "d"]]
    assert sorted(pd.concat(groups)["student_id"]) == sorted(roster["student_id"])
    monkeypatch.setattr(profile_parts, "PROFILE_BYTES_PER_STUDENT", 1)
    assert len(profile_parts.profile_groups(roster, config)) == 1


def test_a_group_s_records_come_from_its_own_copy_and_equal_the_district_s(trained_grade8: dict) -> None:
    """``warm_criteria`` copies its students' rows once (a DuckDB file under the spill
    folder) and computes their criteria only (never the district's); gathering a subset
    of them reads that copy and equals gathering them from the validated tables."""
    out, config = trained_grade8["out"], trained_grade8["config"]
    students = pd.read_parquet(out / "validated" / "enrollments.parquet")["student_id"].astype(str)
    ids = sorted(set(students))[:40]
    through = profile_data.data_end(out, config)
    try:
        profile_data.warm_criteria(out, config, ids[:20], through=through)
        (group,) = profile_data._WARM.values()
        assert group.students == frozenset(ids[:20]) and group.database.is_file()
        assert set(group.criteria["student_id"].astype(str)) <= set(ids[:20])
        warmed = profile_data.gather_records(out, config, ids[:10], through=through)
        profile_data.forget_criteria()
        assert not group.database.exists(), "the group's copy must be removed with it"
        fresh = profile_data.gather_records(out, config, ids[:10], through=through)
    finally:
        profile_data.forget_criteria()
    assert any(warmed.rows["criteria"].values()) and any(warmed.rows["course_marks"].values())
    assert any(warmed.rows["attendance_months"].values())  # the months the warm group keeps
    assert warmed.rows == fresh.rows
