"""The district config: typed, frozen, unknown keys rejected with their path."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ontrack.cli import main
from ontrack.config import Config, config_from_dict, load_config
from ontrack.errors import ConfigError


def test_defaults_match_the_contract() -> None:
    config = load_config()
    rules = config.rules
    assert rules.readiness.gpa_min == 2.5 and rules.readiness.attendance_min == 0.96
    assert rules.chronic_absence_max_rate == 0.90
    assert rules.on_track.full_year_courses_required == 5 and rules.on_track.max_core_semester_fs == 1
    assert rules.credit_unit == 1.0
    assert rules.checkpoints == ("10-31", "01-31", "06-30")
    assert config.reporting.min_group_size == 20
    points = rules.mark_scale.letter_points
    assert points["A+"] == 4.0 and points["B+"] == pytest.approx(3.3) and points["C-"] == pytest.approx(1.7)
    assert rules.year_start(2024).isoformat() == "2023-07-01"
    assert rules.year_end(2024).isoformat() == "2024-06-30"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"rules": {"readines": {}}}, "rules.readines: unknown key. Did you mean 'readiness'?"),
        ({"districts": {"06": {"credit_units": 10}}}, "districts.06.credit_units: unknown key. Did you mean 'credit_unit'?"),
        ({"reporting": {"min_group_size": 5}}, "min_group_size must be at least 10. Got 5 instead."),
        ({"rules": {"checkpoints": ["13-01"]}}, "a month-day must look like 'MM-DD'. Got '13-01' instead."),
        ({"config_version": 2}, "config_version must be 1. Got 2 instead."),
        ({"rules": {"readiness": {"attendance_min": 1.5}}}, "rules.readiness.attendance_min"),
    ],
)
def test_bad_config_names_the_path(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        config_from_dict(raw)


def test_district_overrides_merge_on_default_rules() -> None:
    config = config_from_dict(
        {"rules": {"readiness": {"gpa_min": 2.0}}, "districts": {"CA1": {"credit_unit": 10}}}
    )
    assert config.rules_for("CA1").credit_unit == 10
    assert config.rules_for("CA1").readiness.gpa_min == 2.0  # inherited from rules
    assert config.rules_for("other").credit_unit == 1.0


def test_config_is_frozen_and_hash_tracks_content() -> None:
    config = Config()
    with pytest.raises(ValidationError):
        config.reporting.min_group_size = 30  # type: ignore[misc]
    changed = config_from_dict({"reporting": {"min_group_size": 30}})
    assert changed.config_hash != config.config_hash
    assert config_from_dict({}).config_hash == config.config_hash


def test_cli_reports_bad_config_with_exit_1(tmp_path: Path, tiny_district: Path, capsys) -> None:
    bad = tmp_path / "district.yaml"
    bad.write_text("config_version: 1\nreporting:\n  min_group_sise: 30\n")
    code = main(["validate", str(tiny_district), "--out", str(tmp_path / "o"), "--config", str(bad)])
    err = capsys.readouterr().err
    assert code == 1
    assert "reporting.min_group_sise: unknown key. Did you mean 'min_group_size'?" in err
    assert "Traceback" not in err


def test_example_config_in_docs_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "docs" / "district.example.yaml"
    config = load_config(example)
    assert config.config_version == 1


def test_docs_are_generated_from_the_code() -> None:
    from ontrack.config import describe_defaults
    from ontrack.tables import describe_contract

    docs = Path(__file__).resolve().parents[1] / "docs"
    assert describe_defaults() in (docs / "config.md").read_text(encoding="utf-8")
    assert describe_contract() in (docs / "data-contract.md").read_text(encoding="utf-8")


def test_yaml_nested_too_deeply_is_a_config_error_not_a_bug(tmp_path: Path) -> None:
    from ontrack.cli import main

    deep = tmp_path / "deep.yaml"
    deep.write_text("rules: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(deep)
    assert main(["indicators", str(tmp_path), "--out", str(tmp_path / "out"), "--config", str(deep)]) == 1
