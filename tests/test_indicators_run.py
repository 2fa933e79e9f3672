"""``ontrack indicators`` end to end: files, stamps, suppression, lowest group, as-of."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from indicators_district import District
from ontrack.cli import main
from ontrack.config import load_config
from ontrack.errors import OnTrackError
from ontrack.indicators import run_indicators

CONFIG = load_config()


def build() -> District:
    """Three middle schools; at 001, 25 Hispanic students all ready, 25 white half ready.

    School 002 is small (8 students): every cell there is withheld, and cells of another
    school with it, so that district totals cannot reveal 002's. School 003 (30
    students) is the smaller candidate.
    """
    d = District()
    for school in ("001", "002", "003"):
        d.school(school)
    for i in range(50):
        sid = f"{i:05d}"
        race = "hispanic" if i < 25 else "white"
        d.rows["students"].append({"student_id": sid, "gender": "F" if i % 2 else "M",
                                   "race_ethnicity": race})
        d.enroll(sid, "001", 8)
        d.days(sid, "001", "P" * 25 if race == "hispanic" or i % 2 else "P" * 20 + "U" * 5)
        d.core_pass(sid, school="001")
    for i in range(50, 58):  # a small school: everything withheld there
        sid = f"{i:05d}"
        d.rows["students"].append({"student_id": sid, "gender": "FM"[i % 2],
                                   "race_ethnicity": ("hispanic", "white")[i % 2]})
        d.enroll(sid, "002", 8)
        d.days(sid, "002", "P" * 25)
        d.core_pass(sid, school="002")
    for i in range(58, 88):
        sid = f"{i:05d}"
        d.rows["students"].append({"student_id": sid, "gender": "FM"[i % 2],
                                   "race_ethnicity": ("hispanic", "white")[i % 2]})
        d.enroll(sid, "003", 8)
        d.days(sid, "003", "P" * 25)
        d.core_pass(sid, school="003")
    d.incident("00001", "referral", day="2023-10-02", school="001")
    return d


@pytest.fixture(scope="module")
def outdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    data = build().write(root / "data")
    assert main(["indicators", str(data), "--out", str(root / "out"), "--quiet"]) == 0
    return root / "out"


def read(outdir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(outdir / "indicators" / f"{name}.csv", dtype={"student_id": str, "school_id": str})


def test_writes_every_file_stamped_with_the_config(outdir):
    for name in ("students", "rates", "suppression", "lowest_group"):
        frame = read(outdir, name)
        assert (frame["config_hash"] == CONFIG.config_hash).all()
        assert (frame["config_version"] == CONFIG.config_version).all()
    assert (outdir / "validation" / "report.json").exists()


def test_students_file_keeps_ids_and_has_one_row_per_student_year_indicator(outdir):
    students = read(outdir, "students")
    assert students["student_id"].str.len().eq(5).all()  # leading zeros kept
    assert not students.duplicated(["student_id", "school_year", "indicator"]).any()
    assert set(students["indicator"]) == {"hs_readiness_8", "chronic_absence", "suspension"}
    assert len(students) == 88 * 3


def test_rates_publish_nothing_below_the_minimum(outdir):
    rates = read(outdir, "rates")
    published = rates[~rates["suppressed"]]
    assert (published["n"] >= CONFIG.reporting.min_group_size).all()
    assert rates.loc[rates["suppressed"], ["n", "n_met", "rate"]].isna().all().all()
    school2 = rates[rates["school_id"] == "002"]
    assert school2["suppressed"].all()
    log = read(outdir, "suppression")
    assert len(log) == rates["suppressed"].sum()
    assert set(log["suppression"]) <= {"primary", "complementary"}


def test_rates_count_the_right_students(outdir):
    rates = read(outdir, "rates")
    lincoln = rates[(rates["school_id"] == "001") & (rates["group_type"] == "all")]
    ready = lincoln[lincoln["indicator"] == "hs_readiness_8"].iloc[0]
    assert (ready["n"], ready["n_met"], ready["rate"]) == (50, 38, 0.76)


def test_lowest_group_is_the_worst_outcome_among_groups_large_enough(outdir):
    lowest = read(outdir, "lowest_group")
    row = lowest[(lowest["school_id"] == "001") & (lowest["indicator"] == "hs_readiness_8")]
    assert row["group"].tolist() == ["white"]
    assert row["rate"].iloc[0] == 0.52 and row["gap"].iloc[0] == pytest.approx(0.52 - 0.76)
    chronic = lowest[(lowest["school_id"] == "001") & (lowest["indicator"] == "chronic_absence")]
    assert chronic["group"].tolist() == ["white"]  # for chronic absence, highest is worst


def test_summary_is_printed(tmp_path, capsys):
    data = build().write(tmp_path / "data")
    assert main(["indicators", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "hs_readiness_8" in out and "unknown" in out and "rate met" in out


def test_as_of_and_reuse_validated(tmp_path):
    from ontrack.config import config_from_dict

    data = build().write(tmp_path / "data")
    with pytest.raises(OnTrackError, match="ontrack validate"):
        run_indicators(data, tmp_path / "out", CONFIG, reuse_validated=True)
    # validated under other engine settings: reusable, the rules are the same
    run_indicators(data, tmp_path / "out", config_from_dict({"engine": {"memory_limit": "3GB"}}))
    result = run_indicators(
        data, tmp_path / "out", CONFIG, as_of=date(2023, 9, 29), reuse_validated=True
    )
    students = pd.read_csv(result.students_path)
    assert (students["as_of_date"] == "2023-09-29").all()
    assert students.loc[students["indicator"] == "chronic_absence", "days_enrolled"].max() == 20
    other_rules = config_from_dict({"rules": {"credit_unit": 10}})
    with pytest.raises(OnTrackError, match="validate again"):
        run_indicators(data, tmp_path / "out", other_rules, reuse_validated=True)


def test_bad_as_of_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["indicators", str(tmp_path), "--out", str(tmp_path / "o"), "--as-of", "Jan 31"])
    assert exit_info.value.code == 2
    assert "--as-of must be a date" in capsys.readouterr().err


def test_synthetic_district_runs(tmp_path):
    synth = pytest.importorskip("ontrack.synth", reason="synthetic generator not available")
    synth.generate_district(tmp_path / "data", n_students=200, n_years=2, seed=3)
    result = run_indicators(tmp_path / "data", tmp_path / "out", CONFIG)
    students = pd.read_csv(result.students_path, low_memory=False)
    assert set(students["status"]) <= {"met", "not_met", "unknown"}
    assert {"hs_readiness_8", "on_track_9", "chronic_absence", "suspension"} <= set(students["indicator"])
    chronic = students[(students["indicator"] == "chronic_absence") & (students["status"] != "unknown")]
    assert 0.0 < (chronic["status"] == "met").mean() < 0.6
    rates = pd.read_csv(result.rates_path)
    assert (rates.loc[~rates["suppressed"], "n"] >= 20).all()


def test_python_api_gives_the_same_rates_as_the_command(outdir):
    from ontrack.indicators import indicator_rates, student_groups, student_indicators
    from ontrack.validation.store import open_validated

    con = open_validated(outdir, CONFIG)
    rates, log = indicator_rates(student_indicators(con, CONFIG), student_groups(con), CONFIG)
    written = read(outdir, "rates")
    keys = ["school_year", "indicator", "level", "school_id", "grade_level", "group_type", "group"]
    ours = rates.assign(school_id=rates["school_id"].astype(object)).set_index(keys).sort_index()
    theirs = written.set_index(keys).sort_index()
    assert ours.index.equals(theirs.index)
    for col in ("n", "n_met", "suppressed"):
        assert ours[col].astype("Float64").fillna(-1).tolist() == theirs[col].astype("Float64").fillna(-1).tolist()
    assert len(log) == len(read(outdir, "suppression"))


def test_ids_a_spreadsheet_would_run_are_written_as_text(tmp_path: Path) -> None:
    """IDs come from the district's files: ``=HYPERLINK(...)`` or ``-1+1`` as a school
    or student ID must open in a spreadsheet as text, never as a formula."""
    from tests.conftest import TINY_DISTRICT, write_district

    hostile = {name: text.replace("00017", "-1+1").replace("001,", "=HYPERLINK(x),")
               for name, text in TINY_DISTRICT.items()}
    data = write_district(tmp_path / "data", hostile)
    assert main(["indicators", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    folder = tmp_path / "out" / "indicators"
    for name in ("students", "rates", "suppression", "lowest_group"):
        frame = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        cells = [v for column in frame.columns for v in frame[column]]
        assert not [v for v in cells if v[:1] in ("=", "+", "-", "@", "\t", "\r")], name
    students = pd.read_csv(folder / "students.csv", dtype=str)
    assert "'-1+1" in set(students["student_id"]) and "'=HYPERLINK(x)" in set(students["school_id"])
    assert not list(folder.glob(".*")), "no temporary file is left behind"


@pytest.mark.parametrize("as_of", [None, date(2024, 1, 31)])
def test_one_pass_over_the_years_writes_what_the_parts_per_year_write(tmp_path, monkeypatch, as_of):
    """A small district's years are computed together; a large one's one part per year
    (the memory a part holds stays bounded). Both write the same bytes and return the
    same summary, also when the as-of date leaves the later years without rows."""
    import hashlib

    import ontrack.indicators.run as run

    synth = pytest.importorskip("ontrack.synth", reason="synthetic generator not available")
    synth.generate_district(tmp_path / "data", n_students=60, n_years=3, seed=4, last_school_year=2025)
    results, files = {}, {}
    for way, limit in (("together", run.ONE_PASS_BYTES), ("per_year", -1)):
        monkeypatch.setattr(run, "ONE_PASS_BYTES", limit)
        out = tmp_path / way
        results[way] = run_indicators(tmp_path / "data", out, CONFIG, as_of=as_of)
        files[way] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in sorted((out / "indicators").glob("*.csv"))}
        assert not list((out / ".parts" / "indicators").glob("*.csv")), "parts are removed"
    assert files["together"] == files["per_year"] and len(files["together"]) == 4
    together, per_year = results["together"], results["per_year"]
    assert together.latest_year == per_year.latest_year == (2024 if as_of else 2025)
    assert (together.n_rows, together.n_rates) == (per_year.n_rows, per_year.n_rates)
    pd.testing.assert_frame_equal(together.unknowns, per_year.unknowns)
    pd.testing.assert_frame_equal(together.district_rates, per_year.district_rates)
