"""Student names reach rosters and profiles only (CONTRACT §1): never MLflow, logs,
the terminal, the district report, features, indicators, history or any aggregate.

The shared trained output is copied, scored and reported through the command line;
then every file outside rosters and profiles, every captured line and every log record
is searched for the district's names.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from ontrack.cli import main
from tests.shared_outputs import clone_output

# Where names belong (checked to hold them, so the search below cannot pass vacuously).
NAMED = ("rosters", "profiles", "followup")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, trained_grade8: dict) -> dict:
    root = tmp_path_factory.mktemp("names")
    out = clone_output(trained_grade8["out"], root / "out")
    data, config_file = trained_grade8["data"], trained_grade8["config_file"]
    students = pd.read_parquet(data / "students.parquet")
    return {"out": out, "data": data, "config": config_file, "students": students}


def _names(students: pd.DataFrame) -> set[str]:
    """Every last name and "Last, First" long enough not to occur by chance in other text."""
    named = students.dropna(subset=["first_name", "last_name"])
    last = {str(n) for n in named["last_name"] if len(str(n)) >= 6}
    full = {f"{l}, {f}" for l, f in zip(named["last_name"], named["first_name"], strict=True)}
    return last | full


def test_names_stay_on_rosters_and_profiles(run: dict, capsys: pytest.CaptureFixture,
                                            caplog: pytest.LogCaptureFixture) -> None:
    assert {"first_name", "last_name"} <= set(run["students"].columns), "the synthetic district has names"
    names = _names(run["students"])
    assert len(names) > 100
    out, data, config = run["out"], str(run["data"]), str(run["config"])
    with caplog.at_level(logging.DEBUG):
        assert main(["score", data, "--model", "grade8", "--out", str(out), "--config", config]) == 0
        assert main(["report", data, "--out", str(out), "--config", config]) == 0
    captured = capsys.readouterr()
    terminal = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    assert not [n for n in names if n in terminal], "a name reached the terminal or a log"

    shown = {folder: _texts(out / folder) for folder in NAMED if (out / folder).is_dir()}
    assert any(n in shown["rosters"] for n in names), "rosters show names"
    assert any(n in shown["profiles"] for n in names), "profiles show names"

    elsewhere = [p for p in out.rglob("*") if p.is_file() and p.relative_to(out).parts[0] not in NAMED
                 and p.relative_to(out).parts[0] != "validated"]
    searched = {p.relative_to(out).parts[0] for p in elsewhere}
    assert {"report", "mlflow", "models", "indicators", "history"} <= searched
    leaks = sorted({str(p.relative_to(out)) for p in elsewhere if _holds_a_name(p, names)})
    assert not leaks, f"names must stay on rosters and profiles. Got them in {leaks} instead."


def _texts(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def _holds_a_name(path: Path, names: set[str]) -> bool:
    """A parquet file is read (its pages may be compressed); any other file is searched
    as raw bytes (SQLite databases and JSON included), so a name stored in plain UTF-8
    anywhere in it is found."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        raw = "\n".join(frame[c].astype(str).str.cat(sep="\n") for c in frame.columns).encode("utf-8")
    else:
        raw = path.read_bytes()
    return any(n.encode("utf-8") in raw for n in names)
