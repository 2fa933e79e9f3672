"""Shared fixtures: a tiny, readable district written as CSV, and privacy defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

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
    """One isolated, ephemeral Prefect API for the whole session (it takes ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
