"""Schedules: serve the refresh and train flows on the config's crons.

``ontrack serve DATA --out OUT --config FILE`` builds two deployments with Prefect's own
``serve`` mechanism and runs them until stopped: ``refresh`` (weekly during the school
year by default) and ``train`` (yearly in August). By default Prefect runs in its
ephemeral local mode; to use a Prefect server instead, start one (``prefect server
start``) or point ``PREFECT_API_URL`` at an existing one before ``ontrack serve`` (see
docs/flows.md).
"""

from __future__ import annotations

from pathlib import Path

from prefect import serve
from prefect.client.schemas.schedules import CronSchedule

from ontrack import pipeline
from ontrack.flows.pipeline import refresh_flow, train_flow
from ontrack.config import Config


def deployments(data_dir: Path, out_dir: Path, config_path: Path | None, config: Config) -> list:
    """The refresh and train deployments with their cron schedules."""
    parameters = {"data_dir": str(Path(data_dir).resolve()), "out_dir": str(Path(out_dir).resolve()),
                  "config_path": str(Path(config_path).resolve()) if config_path else None}
    timezone = config.schedule.timezone
    return [
        refresh_flow.to_deployment(
            name="ontrack-refresh", parameters=parameters,
            schedules=[CronSchedule(cron=config.schedule.refresh_cron, timezone=timezone)],
            description="Weekly: " + ", ".join(pipeline.names("weekly")),
        ),
        train_flow.to_deployment(
            name="ontrack-train", parameters=parameters,
            schedules=[CronSchedule(cron=config.schedule.train_cron, timezone=timezone)],
            description="Yearly: " + ", ".join(pipeline.names("yearly")) + " (retrain, calibrate, evaluate, audit and register every model)",
        ),
    ]


def serve_forever(data_dir: Path, out_dir: Path, config_path: Path | None, config: Config) -> None:
    """Serve both deployments until interrupted."""
    serve(*deployments(data_dir, out_dir, config_path, config))
