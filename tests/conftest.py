"""Shared fixtures: a tiny, readable district written as CSV; one synthetic district
and one trained grade-8 model for the whole session (built once even across xdist
workers); privacy and tmp-only defaults; how the suite spreads over the workers."""

from __future__ import annotations

import atexit
import fcntl
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tests.shared_outputs import SYNTH, TRAIN_CONFIG, snapshot, xdist_group_of
from tests.xdist_groups import (
    SuiteGroupScheduling,
    remove_groups_folder,
    tell_worker_where,
    write_worker_groups,
)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Nothing written outside tmp dirs: Prefect's home (profiles, local storage) and
# Hypothesis' folder (example database, Unicode tables) would otherwise land in
# ~/.prefect and ./.hypothesis of the repository.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="ontrack-tests-"))
atexit.register(shutil.rmtree, _SESSION_HOME, True)
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
set_hypothesis_home_dir(_SESSION_HOME / "hypothesis")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY_DISTRICT: dict[str, str] = {
    "schools": "school_id,school_name,district_id\n001,Lincoln Middle,0600001\n002,Roosevelt High,0600001\n",
    "students": (
        "student_id,gender,race_ethnicity,birth_date\n"
        "00017,F,hispanic,2009-03-01\n"
        "00018,M,white,2009-07-15\n"
    ),
    "enrollments": (
        "student_id,school_id,school_year,grade_level,entry_date,exit_date,exit_reason\n"
        "00017,001,2024,8,2023-08-21,,\n"
        "00018,001,2024,8,2023-08-21,2024-01-12,transfer\n"
        "00018,002,2024,8,2024-01-16,,\n"
    ),
    "attendance": (
        "student_id,school_id,date,status\n"
        "00017,001,2023-09-05,present\n"
        "00017,001,2023-09-06,absent_excused\n"
        "00018,001,2023-09-05,tardy\n"
        "00018,002,2024-01-16,present\n"
    ),
    "course_marks": (
        "student_id,school_id,school_year,term,course_id,subject,mark,is_final,credits_earned\n"
        "00017,001,2024,S1,MATH8,math,B+,true,0.5\n"
        "00017,001,2024,S1,ELA8,ela,91,true,0.5\n"
        "00018,001,2024,Y,ART8,other,P,true,1\n"
    ),
}


def write_district(folder: Path, tables: dict[str, str] | None = None, **changes: str | bytes | None) -> Path:
    """Write the tiny district as CSV; ``changes`` replace (or with None remove) tables."""
    folder.mkdir(parents=True, exist_ok=True)
    content: dict[str, str | bytes | None] = dict(tables or TINY_DISTRICT)
    content.update(changes)
    for name, text in content.items():
        if text is None:
            continue
        path = folder / f"{name}.csv"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def tiny_district(tmp_path: Path) -> Path:
    """The tiny district in ``tmp_path/data``."""
    return write_district(tmp_path / "data")


@pytest.fixture(scope="session")
def prefect_harness():
    """One isolated, ephemeral Prefect API for the whole session (it takes ~8 s to start).

    Without flow-run heartbeats: each flow run's heartbeat thread sleeps in 1 s steps, so
    every flow waited ~0.3 s on average for it to stop (the suite runs ~20 flows);
    detecting crashed runs is the served deployment's business, not these tests'."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180), \
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


# Modules without a slow test that still take 15-40 s (measured with --durations).
HEAVY = frozenset({"tests/test_scoring.py", "tests/test_report.py", "tests/test_report_models.py",
                   "tests/test_report_command.py", "tests/test_output_determinism.py",
                   "tests/test_followup.py", "tests/test_modeling_train.py"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread the suite over the xdist workers (``--dist loadgroup``): each test goes in
    the group ``xdist_group_of`` names; the groups holding a slow test are handed out
    first, then the ``HEAVY`` modules, then the rest in collection order, so that no
    worker is left alone with a long group at the end while the other idles."""
    groups = {item.nodeid: _declared_group(item) or xdist_group_of(
        item.nodeid, set(item.fixturenames), item.get_closest_marker("slow") is not None)
        for item in items}
    first: dict[str, int] = {}
    rank: dict[str, int] = {}
    for index, item in enumerate(items):
        group = groups[item.nodeid]
        first.setdefault(group, index)
        heavy = 0 if item.get_closest_marker("slow") else 1 if group in HEAVY else 2
        rank[group] = min(rank.get(group, 2), heavy)
    items.sort(key=lambda item: (rank[groups[item.nodeid]], first[groups[item.nodeid]]))
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    write_worker_groups(config, groups)


def _declared_group(item: pytest.Item) -> str | None:
    """The group a test module names itself (``pytest.mark.xdist_group("...")``), if any."""
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Tell each xdist worker where to write the groups it collected."""
    tell_worker_where(node, node.config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Schedule by the suite's groups (tests/xdist_groups.py says why not xdist's own)."""
    if config.getvalue("dist") == "loadgroup":
        return SuiteGroupScheduling(config, log)
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    remove_groups_folder(config)


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict]) -> dict:
    """What ``build(folder)`` returned, built once per test run even across xdist workers.

    The workers share their base temp folder's parent; the first to take the lock builds
    into ``name/`` there and pickles the result, the others wait and read it. Two workers
    then neither train the shared model twice nor compete for the two cores to do it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, done = root / name, root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half way
            folder.mkdir()
            built = build(folder)
            partial = done.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(built))
            os.replace(partial, done)
        return pickle.loads(done.read_bytes())


def _generate(folder: Path) -> dict:
    from ontrack.synth import generate_district

    generate_district(folder / "data", **SYNTH)
    return {"data": folder / "data"}


@pytest.fixture(scope="session")
def synthetic_district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shared synthetic district (parquet). Read only: copy it before changing it."""
    data = built_once(tmp_path_factory, "synthetic", _generate)["data"]
    before = snapshot(data)
    yield data
    assert snapshot(data) == before, "a test changed the shared synthetic district: copy it first"


def _train(data: Path) -> Callable[[Path], dict]:
    def train(root: Path) -> dict:
        from ontrack.commands.features import write_features
        from ontrack.config import load_config
        from ontrack.modeling import tracking, train_model
        from ontrack.pipeline import run_stages

        out = root / "out"
        (root / "config.yaml").write_text(TRAIN_CONFIG, encoding="utf-8")
        config = load_config(root / "config.yaml")
        run_stages(["validate"], data, out, config)  # as a command does: later commands reuse it
        write_features(out, config, model="grade8")
        result = train_model(out, config, model="grade8")
        forced = not result.evaluation["gate"]["passed"]
        if forced:
            tracking.promote(tracking.connect(config, out), "ontrack-grade8", result.registered.version,
                             force=True, why="test fixture: a champion to rank by", who="tests")
        return {"data": data, "out": out, "config": config,
                "config_file": root / "config.yaml", "result": result, "forced": forced}
    return train


@pytest.fixture(scope="session")
def trained_grade8(tmp_path_factory: pytest.TempPathFactory, synthetic_district: Path) -> Iterator[dict]:
    """The shared district validated, its grade-8 features built and a grade-8 model
    trained and registered, with a champion: a first version that fails its gate on
    this small district is force-promoted (tests of the registry and of model-ranked
    rosters need one; ``forced`` says whether it was). Read only: ``clone_output``."""
    trained = built_once(tmp_path_factory, "trained", _train(synthetic_district))
    before = snapshot(trained["out"])
    yield trained
    assert snapshot(trained["out"]) == before, "a test changed the shared trained output: clone_output it first"


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow SQLite store (migrations take seconds): copy it per test."""
    return built_once(tmp_path_factory, "mlflow-template", _migrated_store)["database"]


def _migrated_store(folder: Path) -> dict:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return {"database": folder / "mlflow.db"}
