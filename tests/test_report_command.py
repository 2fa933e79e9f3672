"""``ontrack report`` as a command: its options, clear errors on bad input (exit 1) and
usage (exit 2), reused indicators, missing models or rosters, several districts, rosters
read only from the files scoring named, and a failed run that leaves the previous report
whole."""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports.district import parse_pair, render_report

from ontrack.commands import report as report_command
from ontrack.config import load_config
from ontrack.errors import OnTrackError
from tests.report_district import (
    CONFIG,
    read_rates,
    report_args,
    reported_district,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shared reported district (read only)."""
    yield from reported_district(tmp_path_factory)


def test_the_command_parses_its_options():
    parser = argparse.ArgumentParser(prog="ontrack")
    report_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "report",
            "DATA",
            "--out",
            "OUT",
            "--reuse-indicators",
            "--scatter",
            "on_track_9,suspension",
        ]
    )
    assert args.func is report_command.run and args.reuse_indicators
    assert parse_pair(args.scatter).grade == 9
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["report", "DATA"])
    assert exc.value.code == 2


def test_bad_input_is_a_clear_error(built, tmp_path):
    with pytest.raises(
        OnTrackError, match="--scatter must be two indicators of one grade"
    ):
        parse_pair("hs_readiness_8,on_track_9")
    with pytest.raises(OnTrackError, match=r"rates.csv must exist"):
        render_report(tmp_path, CONFIG)
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    strict = CONFIG.model_copy(
        update={"reporting": CONFIG.reporting.model_copy(update={"min_group_size": 40})}
    )
    with pytest.raises(OnTrackError, match="must have at least 40 students"):
        render_report(tmp_path, strict)
    with pytest.raises(OnTrackError, match="DATA must be a directory"):
        report_command.run(report_args(tmp_path / "nowhere", tmp_path / "fresh"))


def test_the_cli_exits_1_with_a_message_on_bad_input_and_2_on_usage(
    built, tmp_path, capsys
):
    from ontrack.cli import main

    shutil.copytree(built / "indicators", tmp_path / "indicators")
    code = main(["report", "x", "--out", str(tmp_path), "--reuse-indicators",
                 "--scatter", "gpa,attendance", "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "--scatter must be two indicators" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["report", "x"])
    assert exc.value.code == 2
    assert main(["report", "x", "--out", str(tmp_path), "--reuse-indicators"]) == 0
    assert "district report:" in capsys.readouterr().out


def test_reuse_indicators_renders_without_recomputing(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    stamp = (tmp_path / "indicators" / "rates.csv").stat().st_mtime_ns
    assert (
        report_command.run(
            report_args(
                tmp_path / "nowhere",
                tmp_path,
                reuse_indicators=True,
                scatter="suspension,hs_readiness_8",
            )
        )
        == 0
    )
    assert (tmp_path / "indicators" / "rates.csv").stat().st_mtime_ns == stamp
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    first = re.search(r'<select id="scatter-pick"><option value="([^"]+)"', html).group(
        1
    )
    assert first == "hs_readiness_8-suspension-8"  # the requested pair first, not the default


def test_without_models_or_rosters_the_report_says_so(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    index = render_report(tmp_path, CONFIG)
    html = index.read_text(encoding="utf-8")
    assert "models are not trained yet" in html
    page = next((tmp_path / "report").glob("school_*.html")).read_text(encoding="utf-8")
    assert "No rosters yet" in page


def test_an_unreadable_roster_is_a_clear_error(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    (tmp_path / "rosters").mkdir()
    pd.DataFrame({"student_id": ["1"], "tier": ["high"]}).to_csv(
        tmp_path / "rosters" / "0503.csv", index=False
    )
    with pytest.raises(OnTrackError, match="must have a risk_tier column"):
        render_report(tmp_path, CONFIG)


def test_a_directory_with_two_districts_gets_an_overview_for_each(built, tmp_path):
    rates = read_rates(built)
    other = rates.copy()
    other["district_id"] = "0699999"
    other["school_id"] = ("9" + other["school_id"]).where(other["school_id"].notna())
    (tmp_path / "indicators").mkdir()
    pd.concat([rates, other]).to_csv(tmp_path / "indicators" / "rates.csv", index=False)
    html = render_report(tmp_path, CONFIG).read_text(encoding="utf-8")
    assert "District 0699999" in html and 'id="groups-0699999"' in html
    n_schools = rates.query("level == 'school'")["school_id"].nunique()
    assert len(list((tmp_path / "report").glob("school_*.html"))) == 2 * n_schools
    assert 'name="district"' in html  # the schools table can be filtered by district


def test_roster_counts_read_the_file_scoring_named_never_a_path_from_an_id(tmp_path: Path) -> None:
    from ontrack.reports.district.sources import roster_counts

    from ontrack.paths import file_stem

    out = tmp_path / "out"
    (out / "rosters").mkdir(parents=True)
    rows = "student_id,model,risk_tier,as_of_date\n" + "".join(
        f"{i:05d},grade8,check in,2025-01-31\n" for i in range(25))
    (out / "rosters" / f"{file_stem('North/7')}.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "secret.csv").write_text(rows, encoding="utf-8")  # outside OUT/rosters
    found = roster_counts(out, ["North/7", "../../secret"], 20, ("check in",))
    assert list(found) == ["North/7"]
    assert found["North/7"].set_index("risk_tier").loc["check in", "n"] == 25


def test_a_failed_run_leaves_the_previous_report_whole(built, tmp_path, monkeypatch):
    from ontrack.reports import district

    out = tmp_path / "out"
    shutil.copytree(built, out)
    before = {p.name: p.read_bytes() for p in (out / "report").glob("*.html")}

    def broken(task):
        if task[0] == "school":
            raise RuntimeError("killed halfway")
        return original(task)

    original = district._write_page
    monkeypatch.setattr(district, "_write_page", broken)
    with pytest.raises(RuntimeError, match="killed halfway"):
        district.render_report(out, load_config(), workers=1)
    assert {p.name: p.read_bytes() for p in (out / "report").glob("*.html")} == before
    assert not [p.name for p in out.iterdir() if p.name.startswith(".report")]
