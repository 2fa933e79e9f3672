"""The ``ingest`` flow: read and validate a district directory, quarantine bad rows.

Each task is a thin call into ``ontrack``; the flow adds retries on the I/O step and a
Markdown artifact (counts only) so the Prefect UI tells the story of the run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from ontrack.config import load_config
from ontrack.validation import validate_directory
from reports.validation import validation_markdown


@task(retries=2, retry_delay_seconds=5)
def validate_task(data_dir: Path, out_dir: Path, config_path: Path | None) -> dict:
    """Validate ``data_dir`` into ``out_dir``; return the JSON report."""
    report = validate_directory(data_dir, out_dir, load_config(config_path))
    return report.to_json()


@flow(name="ontrack-ingest")
def ingest_flow(data_dir: Path, out_dir: Path, config_path: Path | None = None) -> dict:
    """Validate a district directory and publish the validation summary."""
    report = validate_task(data_dir, out_dir, config_path)
    create_markdown_artifact(
        key="validation-summary", markdown=validation_markdown(report),
        description="Rows in, accepted and quarantined per table",
    )
    return report


def main() -> None:
    """``python -m flows.ingest --data DATA --out OUT [--config FILE]`` (MLproject)."""
    parser = argparse.ArgumentParser(description=ingest_flow.__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    ingest_flow(args.data, args.out, args.config)


if __name__ == "__main__":
    main()
