"""The features stage writes the matrix from its parts a row group at a time (memory of
one row group, not of the whole matrix several times over), and the file is the one
pandas wrote when it concatenated the parts and reindexed them on the cohort."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ontrack.config import config_from_dict
from ontrack.dataset import budget, build, labels, matrix_file
from ontrack.dataset.build import combine_features, feature_part, plan_features
from ontrack.dataset.matrix_file import write_matrix
from ontrack.dataset.featurize import feature_dictionary, load_feature_set

NAMES = ["b_rate", "a_count"]


def _cohort(students: int = 5) -> pd.MultiIndex:
    """A cohort index sorted by student then date, as build_cohort leaves it."""
    days = pd.to_datetime(["2024-10-31", "2025-01-31", "2025-06-30"])
    ids = [f"S{n:03d}" for n in range(students)]
    return pd.MultiIndex.from_product([ids, days], names=["student_id", "as_of_date"])


def _parts(index: pd.MultiIndex, folder: Path) -> tuple[list[str], list[pd.DataFrame]]:
    """Part files cut by date and by odd/even student, each in cohort order, written last
    part first, with a missing value in each column."""
    rng = np.random.default_rng(7)
    matrix = pd.DataFrame(rng.normal(size=(len(index), 3)), index=index,
                          columns=["a_count", "extra", "b_rate"])
    matrix.iloc[2, 0] = np.nan
    matrix.iloc[4, 2] = np.nan
    odd = np.array([int(s[1:]) % 2 for s in index.get_level_values("student_id")]) == 1
    late = index.get_level_values("as_of_date") >= pd.Timestamp("2025-01-31")
    frames = [matrix[late & odd], matrix[late & ~odd], matrix[~late & odd], matrix[~late & ~odd]]
    files = []
    for n, frame in enumerate(frames):
        files.append(str(folder / f"part{n}.parquet"))
        frame.to_parquet(files[-1])
    return files, frames


@pytest.mark.parametrize("row_group", [matrix_file.ROW_GROUP_ROWS, 4])
def test_the_matrix_is_the_parts_reindexed_on_the_cohort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row_group: int
) -> None:
    """Parts out of order and interleaved by student give the bytes pandas wrote, with
    one row group or several."""
    monkeypatch.setattr(matrix_file, "ROW_GROUP_ROWS", row_group)
    index = _cohort()
    files, frames = _parts(index, tmp_path)
    expected = pd.concat(frames).reindex(index)[NAMES]
    expected.to_parquet(tmp_path / "expected.parquet", row_group_size=row_group)
    missing = write_matrix(tmp_path / "matrix.parquet", files, index, NAMES)
    got = pd.read_parquet(tmp_path / "matrix.parquet")
    assert got.equals(expected) and list(got.dtypes) == list(expected.dtypes)
    assert got.index.equals(expected.index)
    assert (tmp_path / "matrix.parquet").read_bytes() == (tmp_path / "expected.parquet").read_bytes()
    assert missing == {name: int(expected[name].isna().sum()) for name in NAMES} == {
        "b_rate": 1, "a_count": 1}


def test_a_cohort_row_no_part_holds_is_missing(tmp_path: Path) -> None:
    index = _cohort()
    files, frames = _parts(index, tmp_path)
    dropped = frames[0].index[0]
    frames[0] = frames[0].iloc[1:]
    frames[0].to_parquet(files[0])
    expected = pd.concat(frames).reindex(index)[NAMES]
    missing = write_matrix(tmp_path / "matrix.parquet", files, index, NAMES)
    got = pd.read_parquet(tmp_path / "matrix.parquet")
    assert got.equals(expected) and got.index.equals(index)
    assert got.loc[dropped].isna().all()
    assert missing == {name: int(expected[name].isna().sum()) for name in NAMES}


def test_a_row_in_two_parts_is_refused(tmp_path: Path) -> None:
    index = _cohort()
    files, frames = _parts(index, tmp_path)
    pd.concat([frames[1], frames[0].iloc[:1]]).to_parquet(files[1])
    with pytest.raises(ValueError, match="each cohort row at most once"):
        write_matrix(tmp_path / "matrix.parquet", files, index, NAMES)
    assert not (tmp_path / "matrix.parquet").exists()


def test_shuffled_bucketed_parts_combine_to_the_reindexed_frame(
    trained_grade8: dict, tmp_path: Path
) -> None:
    """On the shared district: parts cut by checkpoint and two student buckets, handed
    to combine_features last first, write the matrix and dictionary pandas wrote."""
    out = tmp_path / "out"
    shutil.copytree(trained_grade8["out"] / "validated", out / "validated")
    rows = len(pd.read_parquet(trained_grade8["out"] / "features" / "grade8" / "matrix.parquet"))
    config = config_from_dict({"resources": {"feature_part_rows": rows // 2, "student_buckets": 2}})
    parts = plan_features(out, config, model="grade8")
    cohort = pd.read_parquet(build.parts_dir(out, "features", "grade8") / build.COHORT_FILE)
    partials = [feature_part(out, config, model="grade8", part=p) for p in parts][::-1]
    assert len(partials) >= 4
    used = load_feature_set(config.model_spec("grade8").feature_set).for_config(config)
    used = used.for_grades(cohort["grade_level"].unique())
    expected = pd.concat([pd.read_parquet(p["file"]) for p in partials]).reindex(
        cohort.index)[[f.name for f in used]]
    expected.to_parquet(tmp_path / "expected.parquet")
    meta = combine_features(out, config, partials, model="grade8")
    folder = out / "features" / "grade8"
    assert (folder / "matrix.parquet").read_bytes() == (tmp_path / "expected.parquet").read_bytes()
    assert pd.read_parquet(folder / "matrix.parquet").equals(expected)
    dictionary = pd.read_csv(folder / "dictionary.csv")
    want = feature_dictionary(used, expected)["missing_rate"]
    assert np.allclose(dictionary["missing_rate"], want, rtol=0, atol=1e-12, equal_nan=True)
    assert meta["rows"] == len(expected) and meta["features"] == list(expected.columns)


def test_a_small_memory_limit_cuts_parts_and_chunks_and_writes_the_same_files(
    trained_grade8: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a small resources.memory_limit the features stage builds the matrix in
    several parts and the labels and attributes in several chunks of cohort rows, and
    every file it writes is byte for byte the one the shared output wrote in one go.
    The bytes per row are raised so that a limit DuckDB still runs in gives parts and
    chunks of a few hundred rows on this small district."""
    monkeypatch.setattr(budget, "PART_ROW_BYTES", 100_000)
    monkeypatch.setattr(budget, "CHUNK_ROW_BYTES", 100_000)
    source = trained_grade8["out"] / "features" / "grade8"
    out = tmp_path / "out"
    shutil.copytree(trained_grade8["out"] / "validated", out / "validated")
    config = trained_grade8["config"]
    config = config.model_copy(update={"resources": config.resources.model_copy(
        update={"memory_limit": "200MB"})})
    rows = len(pd.read_parquet(source / "matrix.parquet"))
    size = budget.part_rows(config)
    assert size == budget.chunk_rows(config) == 320 < rows / 3  # 0.4 of the 80 MB not DuckDB's
    seen: list[int] = []
    label_chunk = labels._label_chunk
    monkeypatch.setattr(labels, "_label_chunk",
                        lambda con, cohort, *a: seen.append(len(cohort)) or label_chunk(con, cohort, *a))
    parts = plan_features(out, config, model="grade8")
    partials = [feature_part(out, config, model="grade8", part=p) for p in parts]
    assert len(partials) >= 4 and all(p["rows"] <= size for p in partials)
    combine_features(out, config, partials, model="grade8")
    assert len(seen) >= 2 * 3 and max(seen) == size  # both labels, in chunks
    folder = out / "features" / "grade8"
    written = sorted(p.relative_to(source) for p in source.rglob("*")
                     if p.is_file() and p.name not in ("meta.json", "_complete.json"))
    assert {"matrix.parquet", "cohort.parquet", "dictionary.csv"} <= {str(p) for p in written}
    for name in written:
        assert (folder / name).read_bytes() == (source / name).read_bytes(), name
