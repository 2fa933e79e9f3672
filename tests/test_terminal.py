"""The terminal and the friction around commands: progress (plain and Rich), tables,
--help citing the project's docs, and one MLflow registry for every --out."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path


from ontrack import console
from ontrack.cli import build_parser, main
from ontrack.commands import COMMAND_DOCS, COMMAND_MODULES
from tests.shared_outputs import TRAIN_CONFIG, clone_output

ROOT = Path(__file__).resolve().parents[1]


def test_every_help_cites_the_projects_own_docs() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(COMMAND_DOCS) == set(COMMAND_MODULES)
    for name, sub in commands.items():
        text = sub.format_help()
        assert "CONTRACT" not in text and "§" not in text, name
        cited = re.findall(r"(?:docs/[\w.-]+\.md|README\.md)", text)
        assert cited, f"{name} --help cites no documentation"
        for doc in cited:
            assert (ROOT / doc).is_file(), f"{name} --help cites {doc}, which is not in the repository"


def test_plain_progress_lines_and_a_heartbeat_in_silence(monkeypatch, capsys) -> None:
    monkeypatch.setattr(console, "HEARTBEAT", 0.1)
    say = console.Progress("stage")
    assert not say.rich  # the tests' stderr is no terminal
    say("Training the model")
    time.sleep(0.6)  # six heartbeats: a loaded machine still wakes the thread in time
    say.close()
    err = capsys.readouterr().err
    assert re.search(r"^\[stage +\d+\.\ds\] Training the model$", err, re.M)
    assert re.search(r"\] still training the model \(\d+ s so far\)$", err, re.M)
    time.sleep(0.25)  # closed: silent afterwards (two and a half heartbeats)
    assert capsys.readouterr().err == ""
    quiet = console.Progress("stage", quiet=True)
    quiet("anything")
    time.sleep(0.25)
    assert capsys.readouterr().err == ""


def test_rich_progress_on_a_terminal(monkeypatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(console, "interactive", lambda _stream: True)
    monkeypatch.setattr("sys.stderr", screen)
    with console.Progress("demo") as say:
        assert say.rich
        say("3/9 computing the [rule-based] indicators")
        assert say._bar.tasks[0].total == 9 and say._bar.tasks[0].completed == 2
        say("a step without a count")
        assert len(say._bar.tasks) == 1 and say._bar.tasks[0].total is None
    assert say._bar is None  # stopped
    text = screen.getvalue()
    assert "[demo    0.0s] 3/9 computing the [rule-based] indicators" in text
    assert "a step without a count" in text


def test_tables_plain_in_a_pipe_and_rich_on_a_terminal(monkeypatch) -> None:
    rows, header = [["grade8", "0.812"], ["<b>x</b>", "0.7"]], ["model", "ROC AUC"]
    plain = console.table(rows, header)
    assert plain.splitlines()[:2] == ["model     ROC AUC", "--------  -------"]
    monkeypatch.setattr(console, "interactive", lambda _stream: True)
    drawn = console.table(rows, header, title="models")
    assert "\x1b[" in drawn and "grade8" in drawn and "<b>x</b>" in drawn and "models" in drawn


def _promote(trained: dict, out: Path, config: Path, capsys) -> tuple[int, str]:
    args = ["promote", "--model", "grade8", "--version", "1", "--out", str(out),
            "--config", str(config), "--why", "test: the registry is found"]
    code = main(args + (["--force"] if trained["forced"] else []))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_registry_found_from_ontrack_home_or_the_config(trained_grade8, tmp_path, monkeypatch, capsys) -> None:
    """train wrote OUT/mlflow; promote with another --out finds it through ONTRACK_HOME
    or the config's tracking.uri, and says where to point it when it cannot."""
    home = clone_output(trained_grade8["out"], tmp_path / "home")
    elsewhere = tmp_path / "elsewhere"
    config = tmp_path / "config.yaml"
    config.write_text(TRAIN_CONFIG, encoding="utf-8")
    monkeypatch.delenv("ONTRACK_HOME", raising=False)
    code, text = _promote(trained_grade8, elsewhere, config, capsys)
    assert code == 1 and "ONTRACK_HOME" in text and "docs/models.md" in text
    monkeypatch.setenv("ONTRACK_HOME", str(home))
    code, text = _promote(trained_grade8, elsewhere, config, capsys)
    assert code == 0 and "champion is now version 1" in text
    assert not (elsewhere / "mlflow").exists()
    monkeypatch.delenv("ONTRACK_HOME")
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    config.write_text(TRAIN_CONFIG + f"tracking:\n  uri: {uri}\n", encoding="utf-8")
    code, text = _promote(trained_grade8, elsewhere, config, capsys)
    assert code == 0 and "champion is now version 1" in text
