"""Feature parts sized by work: consecutive checkpoints share a part up to
``resources.feature_part_rows`` cohort rows, and the matrix is the same however the
cohort is cut."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ontrack.config import config_from_dict
from ontrack.errors import ConfigError
from ontrack.dataset.build import combine_features, feature_part, group_checkpoints, plan_features

COUNTS = [("2023-10-31", 100), ("2024-01-31", 100), ("2024-06-30", 100), ("2024-10-31", 300)]


def test_checkpoints_share_a_part_until_it_is_full() -> None:
    assert group_checkpoints(COUNTS, 1_000) == [
        {"as_of": [d for d, _ in COUNTS], "bucket": 0, "buckets": 1}]
    parts = group_checkpoints(COUNTS, 250)
    assert [(p["as_of"], p["bucket"], p["buckets"]) for p in parts] == [
        (["2023-10-31", "2024-01-31"], 0, 1),
        (["2024-06-30"], 0, 1),
        (["2024-10-31"], 0, 2),  # alone above the size: two buckets of students
        (["2024-10-31"], 1, 2),
    ]


def test_student_buckets_still_split_every_part() -> None:
    parts = group_checkpoints(COUNTS, 1_000, buckets=3)
    assert [(p["bucket"], p["buckets"]) for p in parts] == [(0, 3), (1, 3), (2, 3)]
    assert group_checkpoints(COUNTS, 100, buckets=2)[-3:] == [
        {"as_of": ["2024-10-31"], "bucket": b, "buckets": 3} for b in range(3)]
    assert group_checkpoints([], 100, buckets=2) == [
        {"as_of": None, "bucket": 0, "buckets": 2}, {"as_of": None, "bucket": 1, "buckets": 2}]


def test_the_part_size_is_range_checked() -> None:
    with pytest.raises(ConfigError, match="feature_part_rows"):
        config_from_dict({"resources": {"feature_part_rows": 0}})


def test_small_parts_write_the_same_matrix_as_one_part(trained_grade8: dict, tmp_path: Path) -> None:
    """The shared output's grade-8 matrix was built in one part (the default size); cut
    into parts of a few hundred rows it is the same file."""
    source = trained_grade8["out"]
    out = tmp_path / "out"
    shutil.copytree(source / "validated", out / "validated")
    one = source / "features" / "grade8" / "matrix.parquet"
    rows = len(pd.read_parquet(one))
    config = config_from_dict({"resources": {"feature_part_rows": rows // 3}})
    parts = plan_features(out, config, model="grade8")
    dates = [d for p in parts for d in p["as_of"]]
    assert len(parts) >= 3 and dates == sorted(dates)
    assert any(len(p["as_of"]) > 1 for p in parts)  # neighbours grouped
    partials = [feature_part(out, config, model="grade8", part=p) for p in parts]
    assert all(0 < p["rows"] <= rows // 3 for p in partials)
    combine_features(out, config, partials, model="grade8")
    assert (out / "features" / "grade8" / "matrix.parquet").read_bytes() == one.read_bytes()
