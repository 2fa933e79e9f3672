"""The synthetic district generator: shape, determinism, mess and the CLI.

Whether its rates look like a real urban district's is tested in
tests/test_synth_realism.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ontrack.errors import OnTrackError
from ontrack.synth import MARKER, SynthSummary, generate_district
from tests.synth_queries import district_db, one

# CONTRACT §1: the required columns of every table.
REQUIRED = {
    "schools": ["school_id", "school_name", "district_id"],
    "students": ["student_id"],
    "enrollments": [
        "student_id", "school_id", "school_year", "grade_level", "entry_date"
    ],
    "student_years": ["student_id", "school_year"],
    "attendance": ["student_id", "school_id", "date", "status"],
    "attendance_summary": [
        "student_id", "school_id", "school_year", "days_enrolled", "days_absent"
    ],
    "course_marks": [
        "student_id", "school_id", "school_year", "term", "course_id", "subject",
        "mark", "is_final",
    ],
    "discipline": ["student_id", "school_id", "incident_date", "action"],
    "assessments": ["student_id", "school_year", "subject", "scale_score"],
    "caseloads": ["student_id", "staff_id"],
    "outcomes": ["student_id", "outcome", "outcome_date"],
}


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    folder = tmp_path_factory.mktemp("small")
    return folder, generate_district(folder, n_students=400, seed=3)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    args = {"n_students": 300, "n_years": 4, "fmt": "csv"}
    a = _hashes(Path(generate_district(tmp_path / "a", seed=5, **args).out_dir))
    b = _hashes(Path(generate_district(tmp_path / "b", seed=5, **args).out_dir))
    c = _hashes(Path(generate_district(tmp_path / "c", seed=6, **args).out_dir))
    assert a == b
    assert a["attendance.csv"] != c["attendance.csv"]
    assert a["students.csv"] != c["students.csv"]


def test_every_table_has_the_contract_columns(small: tuple[Path, SynthSummary]) -> None:
    folder, summary = small
    for table, required in REQUIRED.items():
        names = pq.read_schema(folder / f"{table}.parquet").names
        assert set(required) <= set(names), table
        assert summary.rows[table] > 0, table
        meta = pq.read_metadata(folder / f"{table}.parquet")
        assert meta.num_rows == summary.rows[table]


def test_ids_are_strings_with_leading_zeros(small: tuple[Path, SynthSummary]) -> None:
    con = district_db(small[0])
    for table, column, width in [
        ("students", "student_id", 8),
        ("attendance", "student_id", 8),
        ("schools", "school_id", 4),
        ("enrollments", "school_id", 4),
        ("schools", "district_id", 7),
    ]:
        dtype, bad, zeros = con.execute(
            f"""SELECT any_value(typeof({column})),
                       count(*) FILTER (length({column}) != {width}),
                       count(*) FILTER ({column} LIKE '0%') FROM {table}"""
        ).fetchone()
        assert dtype == "VARCHAR" and bad == 0 and zeros > 0, (table, column)


def test_csv_and_parquet_hold_the_same_rows(tmp_path: Path) -> None:
    pq_sum = generate_district(tmp_path / "p", n_students=200, n_years=2, seed=1)
    csv_sum = generate_district(
        tmp_path / "c", n_students=200, n_years=2, seed=1, fmt="csv"
    )
    assert pq_sum.rows == csv_sum.rows
    con = district_db(tmp_path / "c", "csv")
    assert one(con, "SELECT min(student_id) FROM students").startswith("0")
    assert one(con, "SELECT count(*) FROM attendance WHERE date = '2024-02-30'") == 1


def test_mess_is_exactly_what_the_summary_lists(
    small: tuple[Path, SynthSummary],
) -> None:
    folder, summary = small
    listed = {(m.kind, m.table): m.count for m in summary.mess}
    assert listed == {
        ("duplicate_row", "attendance"): 5,
        ("unknown_status", "attendance"): 1,
        ("impossible_date", "attendance"): 1,
        ("date_outside_enrollment", "attendance"): 2,
        ("invalid_mark", "course_marks"): 1,
        ("mark_out_of_range", "course_marks"): 1,
        ("negative_credits", "course_marks"): 1,
        ("exit_before_entry", "enrollments"): 1,
        ("conflicting_duplicate", "students"): 1,
    }
    con = district_db(folder)
    found = {
        "duplicate_row": """SELECT sum(n - 1) FROM (
            SELECT student_id, date, count(*) n FROM attendance
            GROUP BY student_id, school_id, date, status HAVING n > 1)""",
        "unknown_status": "SELECT count(*) FROM attendance WHERE status = 'holiday'",
        "impossible_date": """SELECT count(*) FROM attendance
            WHERE try_cast(date AS date) IS NULL""",
        "date_outside_enrollment": """SELECT count(*) FROM attendance a
            WHERE try_cast(date AS date) IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM enrollments e WHERE e.student_id = a.student_id
              AND a.date BETWEEN e.entry_date AND e.exit_date)""",
        "invalid_mark": "SELECT count(*) FROM course_marks WHERE mark = 'E'",
        "mark_out_of_range": """SELECT count(*) FROM course_marks
            WHERE try_cast(mark AS int) > 100""",
        "negative_credits": """SELECT count(*) FROM course_marks
            WHERE credits_earned < 0""",
        "exit_before_entry": """SELECT count(*) FROM enrollments
            WHERE exit_date < entry_date""",
        "conflicting_duplicate": """SELECT count(*) FROM (
            SELECT student_id FROM students
            GROUP BY 1 HAVING count(DISTINCT gender) > 1)""",
    }
    counts = {m.kind: m.count for m in summary.mess}
    for kind, sql in found.items():
        assert one(con, sql) == counts[kind], kind


def test_without_mess_the_same_district_is_clean(
    tmp_path: Path, small: tuple[Path, SynthSummary]
) -> None:
    clean = generate_district(tmp_path, n_students=400, seed=3, mess=False)
    assert clean.mess == ()
    messy = small[1]
    extra = {m.table: 0 for m in messy.mess}
    for m in messy.mess:
        changed_in_place = ("unknown_status", "invalid_mark", "mark_out_of_range",
                            "negative_credits")
        if m.kind not in changed_in_place:
            extra[m.table] += m.count
    for table, n in clean.rows.items():
        assert messy.rows[table] == n + extra.get(table, 0), table


def test_refuses_a_foreign_directory_but_overwrites_its_own(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(OnTrackError, match="not empty and was not written by"):
        generate_district(tmp_path, n_students=100, n_years=1)
    own = tmp_path / "own"
    generate_district(own, n_students=100, n_years=2, fmt="csv")
    summary = generate_district(own, n_students=100, n_years=2)  # parquet replaces csv
    assert (own / MARKER).exists() and not list(own.glob("*.csv"))
    assert sorted(p.stem for p in own.glob("*.parquet")) == sorted(summary.rows)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_students": 10}, "--students must be at least 50. Got 10 instead."),
        ({"n_years": 0}, "--years must be at least 1. Got 0 instead."),
        ({"fmt": "xlsx"}, "--format must be one of parquet, csv"),
    ],
)
def test_bad_arguments_are_explained(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(OnTrackError, match=message.replace(".", r"\.")):
        generate_district(tmp_path / "x", **kwargs)


def test_cli_writes_a_district(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ontrack.cli import main

    args = ["synth", str(tmp_path / "d"), "--students", "300", "--years", "2"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "attendance" in out and "duplicate_row" in out
    assert "2024-25" in err  # progress goes to stderr
    assert (tmp_path / "d" / "attendance.parquet").exists()


def test_cli_rejects_too_few_students(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ontrack.cli import main

    assert main(["synth", str(tmp_path / "d"), "--students", "10"]) == 1
    err = capsys.readouterr().err
    assert "--students must be at least 50. Got 10 instead." in err
    assert "Traceback" not in err
