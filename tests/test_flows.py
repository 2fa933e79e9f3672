"""The flows under Prefect: every step runs, caching follows content, schedules build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CONFIG = "modeling:\n  bootstrap_samples: 20\n"


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory, synthetic_district: Path) -> dict:
    """A copy of the session's synthetic district (the flows test changes its data)."""
    root = tmp_path_factory.mktemp("flows")
    shutil.copytree(synthetic_district, root / "data")
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return {"data": root / "data", "out": root / "out", "config": root / "config.yaml"}


@pytest.mark.slow
def test_train_then_refresh_is_cached_until_the_data_change(prefect_harness, district: dict) -> None:
    from ontrack.flows.pipeline import refresh_flow, train_flow

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
