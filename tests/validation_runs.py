"""Running ``ontrack validate`` in a test and reading what it wrote: the report and the
quarantine files (tests/test_validation.py and tests/test_validation_reading.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ontrack.cli import main


def run_validate(data: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and output of ``ontrack validate DATA --out OUT`` (never a traceback)."""
    code = main(["validate", str(data), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err + captured.out


def report(out: Path) -> dict:
    """OUT/validation/report.json."""
    return json.loads((out / "validation" / "report.json").read_text())


def quarantine(out: Path, table: str) -> list[dict[str, str]]:
    """The quarantined rows of ``table`` (none when it has no quarantine file)."""
    path = out / "validation" / "quarantine" / f"{table}.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_accounting(out: Path) -> None:
    """Rows in = accepted + quarantined for every table, and the quarantine files hold
    exactly the quarantined rows."""
    for name, t in report(out)["tables"].items():
        assert t["rows_in"] == t["rows_accepted"] + t["rows_quarantined"], name
        assert len(quarantine(out, name)) == t["rows_quarantined"], name
