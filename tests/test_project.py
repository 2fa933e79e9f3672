"""The project's own promises: README commands are what CI runs; the CLI behaves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ontrack.cli import main

ROOT = Path(__file__).resolve().parents[1]


def readme_setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Set up and test.*?```bash\n(.*?)```", text, re.S)
    assert block, "README must show the setup and test commands in a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_exactly_the_readme_commands() -> None:
    install, test = readme_setup_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert install in ci and test in ci
    assert ci.index(install) < ci.index(test)
    assert "set -euo pipefail" in ci


def test_mandated_top_level_exists() -> None:
    for name in ("ontrack", "features", "models", "flows", "reports", "tests", "mlproject"):
        assert (ROOT / name).is_dir(), name
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "README.md").is_file()


def test_help_lists_commands_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "synth", "validate"):
        assert command in out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2
    assert main([]) == 2


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ontrack", "validate", str(tmp_path / "nowhere"), "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_demo_runs_every_stage(tmp_path: Path, capsys) -> None:
    code = main(["demo", "--out", str(tmp_path / "demo"), "--students", "400", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "hs_readiness_8" in out and "on_track_9" in out
    assert "features:    grade8" in out and "features:    grade9" in out
    assert "not yet" not in out
    assert "rosters:     grade8" in out and "rosters:     grade9" in out and "report:" in out
    assert "model:       grade8" in out and "vs rule" in out and "mlflow ui --backend-store-uri" in out
    assert (tmp_path / "demo" / "out" / "indicators" / "rates.csv").exists()
    assert (tmp_path / "demo" / "out" / "features" / "grade9" / "matrix.parquet").exists()
    assert (tmp_path / "demo" / "out" / "models" / "grade8" / "evaluation.json").exists()
    assert list((tmp_path / "demo" / "out" / "rosters").glob("*.xlsx"))
    assert (tmp_path / "demo" / "out" / "report" / "index.html").exists()
    # The MLflow UI command it prints points at the demo's own store, holding both models.
    from mlflow.tracking import MlflowClient

    uri = re.search(r"mlflow ui --backend-store-uri (\S+)", out).group(1)
    names = {m.name for m in MlflowClient(tracking_uri=uri).search_registered_models()}
    assert names == {"ontrack-grade8", "ontrack-grade9"}


def test_mlproject_validate_entry_point(tiny_district: Path, tmp_path: Path) -> None:
    """`mlflow run mlproject --env-manager local -e validate` works from the repo root."""
    import os

    mlflow_cli = Path(sys.executable).parent / "mlflow"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        [str(mlflow_cli), "run", "mlproject", "--env-manager", "local", "-e", "validate",
         "-P", f"data={tiny_district}", "-P", f"out={tmp_path / 'out'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "validation" / "report.json").exists()


def test_mlproject_train_evaluate_score_entry_points(tmp_path: Path) -> None:
    """`mlflow run mlproject -e train` trains and registers in the project's own run."""
    import os

    from ontrack.synth import generate_district

    generate_district(tmp_path / "data", n_students=300, n_years=7, seed=1)
    (tmp_path / "c.yaml").write_text("modeling:\n  bootstrap_samples: 20\n", encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        [str(bin_dir / "mlflow"), "run", "mlproject", "--env-manager", "local", "-e", "train",
         "-P", f"data={tmp_path / 'data'}", "-P", f"out={tmp_path / 'out'}",
         "-P", f"config={tmp_path / 'c.yaml'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ROC AUC" in result.stdout and "registered ontrack-grade8 version 1" in result.stdout
    assert (tmp_path / "out" / "models" / "grade8" / "evaluation.json").exists()
    for entry, extra in (("evaluate", ["-P", "version=1"]), ("score", [])):
        # version 1 by number: on 300 students it may fail its gate and not be champion
        result = subprocess.run(
            [str(bin_dir / "mlflow"), "run", "mlproject", "--env-manager", "local", "-e", entry,
             "-P", f"data={tmp_path / 'data'}", "-P", f"out={tmp_path / 'out'}",
             "-P", f"config={tmp_path / 'c.yaml'}", *extra],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600,
        )
        assert result.returncode == 0, (entry, result.stderr[-2000:])
    assert list((tmp_path / "out" / "rosters").glob("*.html"))


def test_duckdb_out_of_memory_is_a_clear_exit_1(monkeypatch, capsys, tmp_path: Path) -> None:
    """DuckDB's own out-of-memory error is not a Python MemoryError; it must still read
    as running out of memory, with the setting to lower, not as a bug in ontrack."""
    import duckdb

    from ontrack.commands import validate

    def out_of_memory(_args):
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")

    monkeypatch.setattr(validate, "run", out_of_memory)
    assert main(["validate", str(tmp_path), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ran out of memory" in err and "engine.memory_limit" in err
    assert "bug" not in err
