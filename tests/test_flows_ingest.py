"""The ingest flow runs under Prefect (ephemeral, isolated) and publishes counts only."""

from __future__ import annotations

from pathlib import Path

import pytest

from ontrack.reports.validation import render_validation, validation_markdown


@pytest.mark.slow  # starts the session's Prefect server
def test_ingest_flow_validates_and_reports(prefect_harness, tiny_district: Path, tmp_path: Path) -> None:
    from ontrack.flows.pipeline import ingest_flow

    report = ingest_flow(tiny_district, tmp_path / "out")
    assert report["tables"]["attendance"]["rows_accepted"] == 4
    assert (tmp_path / "out" / "validated" / "attendance.parquet").exists()


def test_validation_markdown_has_counts_not_rows(tiny_district: Path, tmp_path: Path) -> None:
    from ontrack.validation import validate_directory

    validate_directory(tiny_district, tmp_path / "out")
    path = render_validation(tmp_path / "out")
    text = path.read_text()
    assert "| attendance | 4 | 4 | 0 | none |" in text
    assert "00017" not in text  # no student IDs, let alone rows
    assert validation_markdown({"data_dir": "d", "config_hash": "h", "config_version": 1,
                                "tables": {}}).startswith("# Validation summary")
