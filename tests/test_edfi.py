"""Ed-Fi import end to end: the Grand Bend sample district, export layouts, errors.

Grand Bend ISD (Ed-Fi's synthetic sample; Data Standard 3.x; school year 2010-11;
3 schools, 960 students) lives in ``../shared/data/edfi-grand-bend-ods`` next to the
repository; its tests skip, saying so, when it is absent. The export-layout, error and
mapping-file tests at the end use the tiny exports of ``tests/edfi_export.py``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pandas as pd
import pytest

from ontrack.edfi import import_edfi, load_mapping
from ontrack.edfi.reader import discover_tables
from ontrack.errors import ConfigError, SchemaError
from tests.edfi_export import ED, base_tables, mapping_file, run, write_export

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GRAND_BEND = DATA / "edfi-grand-bend-ods"
needs_grand_bend = pytest.mark.skipif(
    not (GRAND_BEND / "csv" / "Student.csv").is_file(),
    reason=f"Grand Bend Ed-Fi sample not found at {GRAND_BEND}",
)
EVENTS = "StudentSchoolAttendanceEvent"
# Grand Bend's holidays, read off its grading periods (whose TotalInstructionalDays
# match these weekdays off), as a district would list them in its mapping file.
GRAND_BEND_HOLIDAYS = """
calendar:
  non_instructional_dates:
    - 2010-09-06               # Labor Day
    - 2010-11-24..2010-11-26   # Thanksgiving
    - 2011-01-17               # Martin Luther King Jr. Day
    - 2011-02-21               # Presidents' Day
    - 2011-03-14..2011-03-18   # spring break
    - 2011-04-22               # Good Friday
"""


@pytest.fixture(scope="module")
def grand_bend(tmp_path_factory):
    """(report, output folder) of importing the CSV export once for this module."""
    dest = tmp_path_factory.mktemp("grand_bend") / "data"
    return import_edfi(GRAND_BEND / "csv", dest), dest


def read(dest: Path, table: str) -> pd.DataFrame:
    """A written contract table, every value as text."""
    return pd.read_csv(dest / f"{table}.csv", dtype=str, keep_default_na=False)


def counts(series: pd.Series) -> dict[str, int]:
    """Value counts as a plain dict."""
    return {str(k): int(v) for k, v in series.value_counts().items()}


@needs_grand_bend
def test_counts_reconcile(grand_bend):
    report, dest = grand_bend
    assert report.rows_read["Student"] == 960
    written = dict(report.rows_written)
    assert {t: written[t] for t in ("schools", "students", "enrollments")} == {
        "schools": 3, "students": 960, "enrollments": 960}
    assert written["student_years"] == 960
    enrollments = read(dest, "enrollments")
    assert counts(enrollments.school_id) == {
        "255901107": 400, "255901001": 320, "255901044": 240}
    assert sorted(enrollments.grade_level.astype(int).unique()) == list(range(1, 13))
    assert counts(enrollments.exit_reason) == {"": 958, "dropout": 1, "other": 1}
    assert not report.unmapped
    assert (dest / "edfi_import_report.json").is_file()
    assert not (dest / "outcomes.csv").exists()
    assert any(note.startswith("outcomes: not imported") for note in report.notes)


@needs_grand_bend
def test_every_attendance_event_is_a_day_or_a_rejection(grand_bend):
    report, dest = grand_bend
    attendance = read(dest, "attendance")
    events = report.rows_read[EVENTS]
    rejected = report.rejected("attendance", EVENTS)
    days_from_events = int((attendance.status != "present").sum())
    assert events == 1917
    assert events == days_from_events + sum(rejected.values())
    # Three tardies fall on a Sunday; one student has two events on one day.
    assert rejected == {
        "not an instructional day": 3,
        "another event the same day took precedence": 1,
    }
    assert counts(attendance.status) == {
        "present": 179_501, "absent_excused": 1077, "absent_unexcused": 773,
        "tardy": 63}
    # 189 weekdays from the grading periods; two students left in May, on Thursday
    # May 5 (16 weekdays left) and on Sunday May 15 (10 weekdays left).
    assert len(attendance) == 960 * 189 - 16 - 10
    assert not attendance.duplicated(["student_id", "school_id", "date"]).any()


@needs_grand_bend
def test_course_marks_show_the_sample_high_failure_rate(grand_bend):
    report, dest = grand_bend
    marks = read(dest, "course_marks")
    finals = marks[marks.is_final == "true"]
    assert (len(finals), len(marks)) == (13_440, 13_440 + 40_320)
    assert set(finals.term) == {"S1", "S2"}
    progress_terms = set(marks[marks.is_final == "false"].term)
    assert progress_terms == {f"6W{i}" for i in range(1, 7)}
    # 5,600 transcripts say SchoolYear 2012 for 2010-11 courses; they are moved back.
    assert set(finals.school_year) == {"2011"}
    moved = "course_marks: 5,600 CourseTranscript rows"
    assert any(n.startswith(moved) for n in report.notes)
    failing = finals[finals.mark == "F"]
    assert len(failing) / len(finals) == pytest.approx(0.151, abs=0.001)
    # Synthetic oddity: every single student fails at least one semester course...
    assert failing.student_id.nunique() == 960
    # ... and most failing semesters still earn credit (0.5 of 1.0 attempted).
    assert counts(failing.credits_earned) == {"0.5": 1988, "0.0": 43, "0.125": 1}
    core = finals[finals.subject.isin(["ela", "math", "science", "social_science"])]
    assert counts(core.subject) == {
        "social_science": 2240, "ela": 2080, "science": 2080, "math": 1920}


@needs_grand_bend
def test_discipline_and_assessments(grand_bend):
    report, dest = grand_bend
    discipline = read(dest, "discipline")
    assert counts(discipline.action) == {"in_school_suspension": 19, "expulsion": 1}
    duplicate = (
        "duplicate of another action (same student, school, date, action, type and "
        "days)"
    )
    assert report.rejected("discipline") == {
        duplicate: 4,
        "no accepted enrollment of the student in that school year": 1,
    }
    assessments = read(dest, "assessments")
    assert set(assessments.subject) == {"ela", "math"}
    rejected = sum(report.rejected("assessments").values())
    assert report.rows_read["StudentAssessment"] == len(assessments) + rejected


@needs_grand_bend
def test_student_year_flags(grand_bend):
    _, dest = grand_bend
    years = read(dest, "student_years")
    flags = {c: int((years[c] == "true").sum()) for c in years.columns[2:]}
    assert flags == {
        "english_learner": 88, "students_with_disabilities": 97,
        "socioeconomically_disadvantaged": 21, "homeless": 11, "foster_youth": 1}


@needs_grand_bend
def test_holiday_override_matches_the_grading_period_totals(tmp_path):
    mapping = tmp_path / "grand_bend.yaml"
    mapping.write_text(GRAND_BEND_HOLIDAYS, encoding="utf-8")
    report = import_edfi(GRAND_BEND / "csv", tmp_path / "data", mapping_file=mapping)
    assert any(": 177 from GradingPeriod weekdays" in n for n in report.notes)
    attendance = read(tmp_path / "data", "attendance")
    rejected = report.rejected("attendance")
    days_from_events = int((attendance.status != "present").sum())
    assert report.rows_read[EVENTS] == days_from_events + sum(rejected.values())
    # 3 Sunday events + 7 dated on the listed holidays.
    assert rejected["not an instructional day"] == 10


@needs_grand_bend
def test_parquet_export_gives_the_same_tables(grand_bend, tmp_path):
    report, dest = grand_bend
    parquet = import_edfi(GRAND_BEND / "parquet", tmp_path / "data")
    assert dict(parquet.rows_written) == dict(report.rows_written)
    for table in ("students", "enrollments", "attendance", "course_marks"):
        expected = (dest / f"{table}.csv").read_text()
        assert (tmp_path / "data" / f"{table}.csv").read_text() == expected, table
    # Only the parquet export has SchoolCategory (and addresses).
    schools = read(tmp_path / "data", "schools")
    assert schools.school_level.tolist() == ["high", "middle", "elementary"]


def _cli_or_skip(module: str):
    """ontrack.cli, skipping the test when the command's module is not there yet."""
    try:
        importlib.import_module(module)
        cli = importlib.import_module("ontrack.cli")
        cli.build_parser()
    except ImportError as err:
        pytest.skip(f"{module} is not available yet ({err})")
    return cli


@needs_grand_bend
def test_cli_import_edfi(tmp_path, capsys):
    cli = _cli_or_skip("ontrack.commands.import_edfi")
    args = [str(GRAND_BEND / "csv"), str(tmp_path / "d"), "--school-year", "2011"]
    assert cli.main(["import-edfi", *args, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "attendance" in out and "Unmapped descriptor values: none" in out
    report = json.loads((tmp_path / "d" / "edfi_import_report.json").read_text())
    assert report["school_year"] == 2011
    assert report["rows_written"]["students"] == 960
    # Tables in a subfolder of another name: the error points at it.
    elsewhere = tmp_path / "export"
    write_export(elsewhere / "2011", base_tables())
    assert cli.main(["import-edfi", str(elsewhere), str(tmp_path / "e"), "--quiet"]) == 1
    assert "subfolder 2011/" in capsys.readouterr().err


def test_cli_import_keeps_duckdb_to_its_share_of_the_memory_limit(tmp_path, monkeypatch) -> None:
    """The import's DuckDB gets the same share of resources.memory_limit as every other
    stage's (not DuckDB's own default of 80% of RAM)."""
    from ontrack.config import load_config
    from ontrack.edfi import importer
    from ontrack.resources import duckdb_memory_limit

    cli = _cli_or_skip("ontrack.commands.import_edfi")
    seen: list[str | None] = []
    real = importer._connect
    monkeypatch.setattr(importer, "_connect", lambda limit, threads: seen.append(limit) or real(limit, threads))
    (tmp_path / "c.yaml").write_text("resources:\n  memory_limit: 1GB\n", encoding="utf-8")
    write_export(tmp_path / "export", base_tables())
    cli.main(["import-edfi", str(tmp_path / "export"), str(tmp_path / "d"), "--quiet",
              "--config", str(tmp_path / "c.yaml")])
    assert seen == [duckdb_memory_limit(load_config(tmp_path / "c.yaml"))]


@needs_grand_bend
def test_validate_accepts_the_import(grand_bend, tmp_path):
    cli = _cli_or_skip("ontrack.validation")
    _, dest = grand_bend
    assert cli.main(["validate", str(dest), "--out", str(tmp_path), "--quiet"]) == 0
    report = json.loads((tmp_path / "validation" / "report.json").read_text())
    for name, table in report["tables"].items():
        assert table["rows_quarantined"] == 0, name


@needs_grand_bend
def test_indicators_run_on_the_import(grand_bend, tmp_path):
    cli = _cli_or_skip("ontrack.commands.indicators")
    _, dest = grand_bend
    assert cli.main(["indicators", str(dest), "--out", str(tmp_path), "--quiet"]) == 0
    students = pd.read_csv(tmp_path / "indicators" / "students.csv", dtype=str)
    assert set(students.student_id) <= set(read(dest, "students").student_id)
    assert {"met", "not_met", "unknown"} >= set(students.status)
    # Every 8th and 9th grader has the marks, attendance and discipline to be rated.
    readiness = students[students.indicator == "hs_readiness_8"]
    on_track = students[students.indicator == "on_track_9"]
    assert (len(readiness), len(on_track)) == (80, 81)
    assert "unknown" not in set(readiness.status) | set(on_track.status)
    # The sample's failure rate (every student fails some course) makes readiness
    # rare, while on-track tolerates one core semester F: about half are on track.
    assert (readiness.status == "met").mean() < 0.2
    assert 0.3 < (on_track.status == "met").mean() < 0.7


def test_parquet_layouts_match_csv(tmp_path):
    source = write_export(tmp_path / "csv", base_tables())
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for i, path in enumerate(sorted(source.glob("*.csv"))):
        frame = pd.read_csv(path, dtype=str)
        if i % 2:  # alternate the two layouts: Table.parquet and Table/*.parquet
            (parquet / path.stem).mkdir()
            frame.to_parquet(parquet / path.stem / "part-0.parquet")
        else:
            frame.to_parquet(parquet / f"{path.stem}.parquet")
    a = import_edfi(source, tmp_path / "a")
    b = import_edfi(parquet, tmp_path / "b")
    assert dict(a.rows_written) == dict(b.rows_written)
    for name in a.rows_written:
        text = (tmp_path / "a" / f"{name}.csv").read_text()
        assert text == (tmp_path / "b" / f"{name}.csv").read_text()


def test_export_folder_with_csv_and_parquet_subfolders(tmp_path):
    """The export's own folder works as well as its csv/ or parquet/ subfolder: tables
    are found one level down, the Parquet copy winning, a table at the top winning over
    both; the output is the same as importing the flat folder."""
    flat = write_export(tmp_path / "flat", base_tables())
    root = tmp_path / "export"
    write_export(root / "csv", base_tables())
    (root / "parquet").mkdir()
    first = sorted(flat.glob("*.csv"))[0]
    pd.read_csv(first, dtype=str).to_parquet(root / "parquet" / f"{first.stem}.parquet")
    (root / "README.txt").write_text("not a table", encoding="utf-8")
    found = discover_tables(root)
    assert found[first.stem.lower()].kind == "parquet"
    assert {t.paths[0].parent.name for t in found.values()} == {"csv", "parquet"}
    assert sorted(found) == sorted(discover_tables(flat))
    a = import_edfi(flat, tmp_path / "a")
    b = import_edfi(root, tmp_path / "b")
    assert dict(a.rows_written) == dict(b.rows_written)
    for name in a.rows_written:
        assert (tmp_path / "a" / f"{name}.csv").read_text() == (tmp_path / "b" / f"{name}.csv").read_text()
    (root / f"{first.stem}.csv").write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    assert discover_tables(root)[first.stem.lower()].paths == (root / f"{first.stem}.csv",)


@pytest.mark.parametrize(
    "table", ["Student", "School", "StudentSchoolAssociation", "Descriptor"]
)
def test_missing_required_table_names_the_file(tmp_path, table):
    tables = base_tables()
    del tables[table]
    expected = f"required table {table} not found.*{table}.csv"
    with pytest.raises(SchemaError, match=expected):
        run(tmp_path, tables)


def test_missing_required_column_is_a_schema_error(tmp_path):
    tables = base_tables()
    for row in tables["StudentSchoolAssociation"]:
        del row["EntryDate"]
    expected = "StudentSchoolAssociation.*Missing: EntryDate"
    with pytest.raises(SchemaError, match=expected):
        run(tmp_path, tables)


@pytest.mark.parametrize(("text", "match"), [
    ("descriptors:\n  GradeLevelDescriptors: {}\n",
     "did you mean 'GradeLevelDescriptor'"),
    ("descriptors:\n  GradeLevelDescriptor:\n    Ninth grade: nine\n",
     "must be an integer"),
    ("descriptors:\n  ExitWithdrawTypeDescriptor:\n    Moved: left\n",
     "must be one of transfer"),
    ("calendar:\n  non_instructional_dates: [2010-13-01x]\n", "YYYY-MM-DD"),
    ("marks:\n  prefered: letter\n", "did you mean 'prefer'"),
    ("enrollment:\n  exit_date_is_last_day: 'no'\n", "must be true or false"),
    ("- just a list\n", "must be a YAML mapping"),
])
def test_invalid_mapping_file_is_a_config_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_mapping(mapping_file(tmp_path, text))


def test_default_mapping_matches_code_values_loosely():
    mapping = load_mapping()
    namespace = ED + "GradeLevelDescriptor"
    assert mapping.resolve("GradeLevelDescriptor", namespace, "ninth GRADE ") == (
        "mapped", "9")
    ignored = mapping.resolve("GradeLevelDescriptor", None, "Ungraded")
    assert ignored == ("ignored", None)
    assert mapping.resolve("GradeLevelDescriptor", None, "9th") == ("unmapped", None)


def test_unreadable_csv_is_a_schema_error_without_the_row(tmp_path):
    source = write_export(tmp_path / "edfi", base_tables())
    with (source / "Student.csv").open("a", encoding="utf-8") as f:
        f.write("4,2001-01-01,SECRET-NAME,extra,fields\n")
    expected = r"table Student \(Student.csv\) cannot be read"
    with pytest.raises(SchemaError, match=expected) as caught:
        import_edfi(source, tmp_path / "data")
    assert "SECRET-NAME" not in str(caught.value)


@needs_grand_bend
def test_duckdb_spills_inside_the_destination_never_the_working_directory(tmp_path, monkeypatch):
    """DuckDB's default spill folder is .tmp in the working directory: an import of
    student records keeps it inside dest while it runs, and removes it after."""
    import ontrack.edfi.importer as importer

    seen = []

    def recorded(ctx):
        seen.append(ctx.con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        raise importer.duckdb.Error("stop after the setting was read")

    monkeypatch.setattr(importer, "_run_steps", recorded)
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "district"
    with pytest.raises(Exception, match="stop after"):
        import_edfi(GRAND_BEND / "csv", dest)
    assert seen == [str(dest / importer.SPILL)]
    assert not (dest / importer.SPILL).exists() and not (tmp_path / ".tmp").exists()
