"""The flows under Prefect: every step runs, caching follows content, schedules build."""

from __future__ import annotations

from pathlib import Path

import pytest

# One checkpoint a year: a step reruns or not the same way, on a third of the feature parts.
CONFIG = 'modeling:\n  bootstrap_samples: 20\nmodels:\n  grade8:\n    checkpoints: ["01-31"]\n'


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A district of its own (the flows test changes its data): what caching does is the
    same on 150 students and four years as on the session's larger district, and every
    step (features over each as-of date, training) costs a third of the time."""
    from ontrack.synth import generate_district

    root = tmp_path_factory.mktemp("flows")
    generate_district(root / "data", n_students=150, n_years=4, seed=5)
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return {"data": root / "data", "out": root / "out", "config": root / "config.yaml"}


@pytest.mark.slow
def test_train_then_refresh_is_cached_until_the_data_change(prefect_harness, district: dict,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from ontrack.flows import pipeline as flows
    from ontrack.flows.pipeline import refresh_flow, train_flow

    # With the default task runner (threads of this process, all of a wave's tasks at
    # once) the stages drive their own parts, within the memory limit: none is a task.
    monkeypatch.setattr(flows, "PART_TASKS", _NoPartTasks())
    data, out, config = district["data"], district["out"], district["config"]
    models = ["grade8"]  # what caching does is the same for one model as for two
    trained = train_flow(data, out, config, models)
    assert set(trained["steps"].values()) == {"ran"}
    assert trained["trained"]["grade8"]["version"] == "1"
    first = refresh_flow(data, out, config, models)
    assert first["steps"]["validate"] == "cache"  # same data as the train flow validated
    assert first["steps"]["score grade8"] == "ran" and first["steps"]["report"] == "ran"
    assert (out / "report" / "index.html").exists() and list((out / "rosters").glob("*.csv"))
    second = refresh_flow(data, out, config, models)
    assert set(second["steps"].values()) == {"cache"}, second["steps"]
    _add_one_incident(data)
    third = refresh_flow(data, out, config, models)
    assert set(third["steps"].values()) == {"ran"}, third["steps"]
    # Deleting an output recomputes the step that makes it, even on unchanged data.
    (out / "report" / "index.html").unlink()
    fourth = refresh_flow(data, out, config, models)
    assert fourth["steps"]["report"] == "ran" and fourth["steps"]["validate"] == "cache"


class _NoPartTasks(dict):
    def __getitem__(self, stage: str):
        raise AssertionError(f"a {stage} part was submitted to the flow's own threads")


def _add_one_incident(data: Path) -> None:
    """One more referral: a copy of the last incident."""
    import pandas as pd

    rows = pd.read_parquet(data / "discipline.parquet")
    extra = rows.iloc[[-1]].assign(action="referral")
    pd.concat([rows, extra], ignore_index=True).to_parquet(data / "discipline.parquet", index=False)


def test_schedules_build_with_the_config_crons(district: dict) -> None:
    from ontrack.flows.serve import deployments

    from ontrack.config import config_from_dict

    config = config_from_dict({"schedule": {"refresh_cron": "0 7 * * 2", "timezone": "America/Chicago"}})
    planned = deployments(district["data"], district["out"], None, config)
    assert [d.name for d in planned] == ["ontrack-refresh", "ontrack-train"]
    refresh = planned[0].schedules[0].schedule
    assert refresh.cron == "0 7 * * 2" and refresh.timezone == "America/Chicago"
    assert planned[1].schedules[0].schedule.cron == "0 6 15 8 *"


def test_serve_dry_run_prints_the_schedules(district: dict, capsys) -> None:
    from ontrack.cli import main

    assert main(["serve", str(district["data"]), "--out", str(district["out"]), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "ontrack-refresh" in printed and "0 6 15 8 *" in printed


class _Touch:
    """Unpickling this creates ``marker``: proof that a record was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.mark.slow  # the session's Prefect server
def test_a_pickle_record_under_a_steps_key_is_never_unpickled(prefect_harness, tiny_district: Path,
                                                              tmp_path: Path) -> None:
    import pickle

    from ontrack.flows.caching import RECORDS
    from ontrack.flows.pipeline import _key, ingest_flow
    from prefect._internal.result_records import ResultRecord, ResultRecordMetadata
    from prefect.serializers import PickleSerializer
    from prefect.settings import get_current_settings

    from ontrack import pipeline
    from ontrack.config import load_config

    out, marker = tmp_path / "out", tmp_path / "unpickled"
    assert ingest_flow(tiny_district, out)["steps"] == {"validate": "ran"}
    run = {"config": load_config(None), "out": out, "data": tiny_district, "keys": {}}
    key = _key(pipeline.stage("validate"), run, None)
    (out / RECORDS / f"{key}.json").write_bytes(pickle.dumps(_Touch(marker)))
    planted = ResultRecord(result=_Touch(marker), metadata=ResultRecordMetadata(
        storage_key=key, serializer=PickleSerializer(), expiration=None))
    store = get_current_settings().results.local_storage_path
    store.mkdir(parents=True, exist_ok=True)
    (store / key).write_bytes(planted.serialize())
    assert ingest_flow(tiny_district, out)["steps"] == {"validate": "ran"}  # recomputed
    assert not marker.exists()
    assert ingest_flow(tiny_district, out)["steps"] == {"validate": "cache"}  # its JSON record again
    assert not marker.exists()


def test_the_memory_limit_reaches_every_duckdb_connection(tmp_path: Path) -> None:
    from ontrack.config import config_from_dict
    from ontrack.resources import connect, duckdb_memory_limit, machine_memory, memory_limit

    def setting(con, name: str) -> str:
        return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]

    sized = config_from_dict({"resources": {"memory_limit": "1GB"}})
    con = connect(sized, tmp_path)
    reference = __import__("duckdb").connect()  # DuckDB gets its share of the process limit
    reference.execute(f"SET memory_limit = '{duckdb_memory_limit(sized)}'")
    assert setting(con, "memory_limit") == setting(reference, "memory_limit")
    assert Path(setting(con, "temp_directory")) == tmp_path / ".tmp"
    from ontrack.validation.store import connect as validation_connect  # validation's own

    assert setting(validation_connect(sized, tmp_path / "v"), "memory_limit") == setting(reference, "memory_limit")
    half = memory_limit(config_from_dict({}))
    assert abs(int(half.removesuffix("MiB")) - (machine_memory() >> 21)) <= 1  # 50% by default
    with pytest.raises(Exception, match="resources.memory_limit must be"):
        config_from_dict({"resources": {"memory_limit": "a lot"}})


@pytest.mark.parametrize(("address", "workers"), [("local", 2), ("local:3", 3), (" local:1 ", 1),
                                                  ("tcp://10.0.0.5:8786", None)])
def test_dask_addresses_name_a_local_cluster_or_a_scheduler(address: str, workers: int | None) -> None:
    """`--dask local[:N]` starts N single-threaded workers on 127.0.0.1 (default 2);
    an address with a scheme is an existing scheduler."""
    from ontrack.flows.scale import dask_runner, local_workers

    assert local_workers(address) == workers
    runner = dask_runner(address)
    if workers is None:
        assert runner.address == address
    else:
        assert runner.cluster_kwargs["n_workers"] == workers
        assert runner.cluster_kwargs["host"] == "127.0.0.1"
        assert runner.cluster_kwargs["threads_per_worker"] == 1


@pytest.mark.parametrize("address", ["local:0", "local:9999", "my-laptop", "local:two"])
def test_a_bad_dask_address_says_what_it_must_be(address: str, capsys) -> None:
    from ontrack.cli import main

    with pytest.raises(SystemExit) as exit_:  # a usage error, before any work
        main(["flow", "refresh", "data", "--out", "out", "--dask", address])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--dask" in err and "Traceback" not in err


def test_small_reads_spill_under_out_never_into_the_working_directory(tmp_path: Path) -> None:
    """DuckDB's own spill folder is ``.tmp`` in the working directory; the profile and
    report readers spill under OUT/.tmp."""
    from ontrack.resources import spilling_under

    con = spilling_under(tmp_path / "out")
    assert Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0]) == \
        tmp_path / "out" / ".tmp"
