"""``ontrack features DATA --model ... --out OUT`` end to end on the hand-built district."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from feature_district import write_feature_district

from ontrack import cli


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch):
    """``ontrack.cli.main`` with the features command registered (the lead wires it)."""
    if "features" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "features"))
    return cli.main


def test_writes_matrix_labels_and_dictionary(main, tmp_path: Path, capsys) -> None:
    data = write_feature_district(tmp_path / "data")
    code = main(["features", str(data), "--model", "grade9", "--out", str(tmp_path / "out"),
                 "--data-end", "2024-06-30", "--school-year", "2024", "--quiet"])
    assert code == 0
    folder = tmp_path / "out" / "features" / "grade9"
    matrix = pd.read_parquet(folder / "matrix.parquet")
    assert list(matrix.index.names) == ["student_id", "as_of_date"]
    assert len(matrix) == 16 and matrix.dtypes.eq("float64").all()
    cohort = pd.read_parquet(folder / "cohort.parquet")
    assert cohort.index.equals(matrix.index)
    assert {"gender", "race_ethnicity", "english_learner"} <= set(cohort.columns)
    assert not {"gender", "race_ethnicity", "english_learner"} & set(matrix.columns)
    labels = pd.read_parquet(folder / "labels" / "off_track_9.parquet")
    assert labels.index.equals(matrix.index)
    assert list(labels.columns) == ["school_year", "label", "outcome", "window_end"]
    assert not (folder / "labels" / "not_graduated_4yr.parquet").exists()  # no outcomes
    dictionary = pd.read_csv(folder / "dictionary.csv")
    assert dictionary["name"].tolist() == list(matrix.columns)
    assert dictionary.set_index("name").loc["attendance_rate_ytd", "missing_rate"] == pytest.approx(3 / 16)
    assert "| `attendance_rate_ytd` | attendance |" in (folder / "dictionary.md").read_text()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["as_of_dates"] == ["2023-10-31", "2024-01-31", "2024-06-30"]
    out = capsys.readouterr().out
    assert "grade9: 16 rows (6 students) at 3 as-of dates" in out


def test_as_of_and_default_data_end(main, tmp_path: Path, capsys) -> None:
    data = write_feature_district(tmp_path / "data")
    code = main(["features", str(data), "--model", "grade8", "--out", str(tmp_path / "out"),
                 "--as-of", "2024-02-15", "--quiet"])
    assert code == 0
    matrix = pd.read_parquet(tmp_path / "out" / "features" / "grade8" / "matrix.parquet")
    assert list(matrix.index) == [("S6", pd.Timestamp("2024-02-15"))]
    assert "readiness_met_ytd" in matrix.columns and "on_track_met_ytd" not in matrix.columns


def test_usage_errors(main, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["features", str(tmp_path), "--model", "grade10", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert main(["features", str(tmp_path / "missing"), "--model", "grade9",
                 "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
