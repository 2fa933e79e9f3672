"""The project's own promises: README commands are what CI runs; the CLI behaves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ontrack.cli import main
from tests.forwarded_command import forwarded_ontrack
from tests.shared_outputs import TRAIN_CONFIG, clone_output, fresh_mlflow_store

ROOT = Path(__file__).resolve().parents[1]


def readme_setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Set up and test.*?```bash\n(.*?)```", text, re.DOTALL)
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


@pytest.mark.slow
def test_demo_runs_every_stage(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ontrack demo` runs the whole pipeline in process, the suite's one full run: the
    summary covers every stage and model, and each stage writes every output it declares
    for every model (tests/test_pipeline.py checks the order with the work replaced)."""
    from ontrack import pipeline

    runs: list[tuple[list[str], list[str]]] = []
    announced: list[str] = []
    run_stages = pipeline.run_stages

    def recorded(names, *args, announce=None, **kwargs):  # the real run, its steps noted
        def heard(index: int, doing: str) -> None:
            announced.append(doing)
            announce(index, doing)
        results = run_stages(names, *args, announce=heard if announce else None, **kwargs)
        runs.append((list(names), list(results)))
        return results

    monkeypatch.setattr(pipeline, "run_stages", recorded)
    (tmp_path / "c.yaml").write_text(TRAIN_CONFIG, encoding="utf-8")
    # Five years of history (the default is eight) still give each model its training
    # and test cohorts and an earlier checkpoint to score, for a third of the work less.
    code = main(["demo", "--out", str(tmp_path / "demo"), "--students", "400", "--years", "5",
                 "--quiet", "--config", str(tmp_path / "c.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    assert "hs_readiness_8" in out and "on_track_9" in out
    assert "features:    grade8" in out and "features:    grade9" in out
    assert "not yet" not in out
    assert "report:" in out and "mlflow ui --backend-store-uri" in out
    # The comparisons are tables (plain text when stdout is no terminal): one row a model.
    assert "models (out of time, against the district's rule):" in out
    assert re.search(r"^grade8 +off_track_9 +(passed|FAILED)", out, re.MULTILINE)
    assert re.search(r"^rosters +as of +students", out, re.MULTILINE)
    assert re.search(r"^grade9 +\d{4}-\d\d-\d\d +\d+", out, re.MULTILINE)
    assert (tmp_path / "demo" / "out" / "indicators" / "rates.csv").exists()
    assert (tmp_path / "demo" / "out" / "features" / "grade9" / "matrix.parquet").exists()
    assert (tmp_path / "demo" / "out" / "models" / "grade8" / "evaluation.json").exists()
    assert list((tmp_path / "demo" / "out" / "rosters").glob("*.xlsx"))
    assert (tmp_path / "demo" / "out" / "report" / "index.html").exists()
    # Every declared stage ran and wrote every output it declares, for both models; the
    # checkpoint before was scored too, into the risk history only (two as-of dates).
    names = [s.name for s in pipeline.STAGES]
    models = ["grade8", "grade9"]
    assert [n for r in runs for n in r[1]] == names
    history = pd.read_parquet(tmp_path / "demo" / "out" / "history" / "scores.parquet")
    assert history.groupby("model")["as_of_date"].nunique().to_dict() == {m: 2 for m in models}
    assert len(announced) == sum(len(models) if s.per_model else 1 for s in pipeline.STAGES)
    for declared in pipeline.STAGES:
        for model in models if declared.per_model else [None]:
            for path in declared.output_paths(tmp_path / "demo" / "out", model):
                assert path.exists(), f"{declared.step(model)} promised {path}"
    # The MLflow UI command it prints points at the demo's own store, holding both models.
    from mlflow.tracking import MlflowClient

    uri = re.search(r"mlflow ui --backend-store-uri (\S+)", out).group(1)
    names = {m.name for m in MlflowClient(tracking_uri=uri).search_registered_models()}
    assert names == {"ontrack-grade8", "ontrack-grade9"}


def _mlflow_run(entry: str, params: dict[str, Path | str], uri: str) -> subprocess.CompletedProcess:
    """`mlflow run mlproject --env-manager local -e ENTRY` from the repository root, into
    the experiment "mlproject" of ``uri`` (whose artifacts stay in the test's tmp dir)."""
    import os

    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [str(bin_dir / "mlflow"), "run", "mlproject", "--env-manager", "local", "-e", entry,
               "--experiment-name", "mlproject"]
    for name, value in params.items():
        command += ["-P", f"{name}={value}"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=600)


@pytest.mark.slow
def test_mlproject_validate_entry_point(tiny_district: Path, tmp_path: Path, mlflow_template: Path) -> None:
    """`mlflow run mlproject --env-manager local -e validate` works from the repo root."""
    uri = fresh_mlflow_store(mlflow_template, tmp_path / "mlflow", "mlproject")
    result = _mlflow_run("validate", {"data": tiny_district, "out": tmp_path / "out"}, uri)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "validation" / "report.json").exists()


def _project_run(entry: str, params: dict[str, Path | str], uri: str, capfd,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[bool, str, str]:
    """What `mlflow run mlproject --env-manager local -e ENTRY --experiment-name mlproject`
    does, through the function that command calls (``mlflow.projects.run``: the entry
    point's command runs in bash in the project's own run), with the ``ontrack`` it
    calls forwarded to this process (tests/forwarded_command.py: ontrack's ``main``
    runs here, warm, on the command's arguments, directory and MLflow variables).
    Returns (succeeded, ontrack's stdout, its stderr)."""
    import threading

    import mlflow
    from mlflow.exceptions import ExecutionException

    failed: list[BaseException] = []

    def project_run() -> None:  # waits for the command, so it runs beside the answer below
        try:
            mlflow.projects.run(str(ROOT / "mlproject"), entry_point=entry, env_manager="local",
                                experiment_name="mlproject", synchronous=True,
                                parameters={k: str(v) for k, v in params.items()})
        except ExecutionException as err:
            failed.append(err)

    capfd.readouterr()
    mlflow.set_tracking_uri(uri)  # the run, and the entry point's MLFLOW_TRACKING_URI
    try:
        with forwarded_ontrack(monkeypatch) as serve:
            running = threading.Thread(target=project_run)
            running.start()
            called = serve(running.is_alive, capfd)
            running.join()
    finally:
        mlflow.set_tracking_uri(None)
    assert called is not None, f"the {entry} entry point never called ontrack: {failed}"
    return not failed and called["code"] == 0, called["out"], called["err"]


@pytest.mark.slow
def test_mlproject_train_entry_point(tmp_path: Path, trained_grade8: dict, mlflow_template: Path,
                                     capfd, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlflow run mlproject -e train` trains and registers in the project's own run
    (on a copy of the session's features: ``reuse_features=true``; building them is
    the features stage's tests' business)."""
    out_dir = clone_output(trained_grade8["out"], tmp_path / "out")
    shutil.rmtree(out_dir / "models")  # so that evaluation.json below is this run's
    uri = fresh_mlflow_store(mlflow_template, tmp_path / "mlflow", "mlproject")
    params = {"data": trained_grade8["data"], "out": out_dir, "config": trained_grade8["config_file"],
              "reuse_features": "true"}
    succeeded, out, err = _project_run("train", params, uri, capfd, monkeypatch)
    assert succeeded, err[-2000:]
    assert "ROC AUC" in out and "registered ontrack-grade8 version 1" in out
    assert (out_dir / "models" / "grade8" / "evaluation.json").exists()
    assert list((tmp_path / "mlflow" / "artifacts").iterdir())  # the run logged here


@pytest.mark.slow
def test_mlproject_evaluate_and_score_entry_points(tmp_path: Path, trained_grade8: dict, capfd,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`-e evaluate` and `-e score` on a copy of the session's trained output: what
    `-e train` registers there (version 1, in the store the project's runs log to)."""
    from mlflow.tracking import MlflowClient

    out = clone_output(trained_grade8["out"], tmp_path / "out")
    uri = f"sqlite:///{out / 'mlflow' / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).create_experiment(
        "mlproject", artifact_location=(tmp_path / "artifacts").as_uri())
    params = {"data": trained_grade8["data"], "out": out, "config": trained_grade8["config_file"]}
    for entry, extra in (("evaluate", {"version": "1", "reuse_features": "true"}),
                         ("score", {"reuse_validated": "true"})):
        # version 1 by number: on a small district it may fail its gate and not be champion
        succeeded, _out, err = _project_run(entry, {**params, **extra}, uri, capfd, monkeypatch)
        assert succeeded, (entry, err[-2000:])
    assert list((out / "rosters").glob("*.html"))
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("mlproject").experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}  # the project's runs


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
