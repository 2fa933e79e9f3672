"""Validation in hash partitions gives the single-process outputs (issue 17: the same rows
quarantined, the same rows accepted, the same report), and an absurdly wide header is
refused at once (issue 20 item 8)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import TINY_DISTRICT, write_district

from ontrack.cli import main
from ontrack.config import load_config
from ontrack.errors import SchemaError
from ontrack.validation import validate_directory
from ontrack.validation.partition import PartResult, PreparedTable, validate_partition


def _recording(runs: list[PartResult]):
    def run(prepared: PreparedTable, out: Path, config, count: int) -> list[PartResult]:
        # in reverse order: a partition never depends on another having run first
        done = [validate_partition(prepared, out, config, (i, count)) for i in reversed(range(count))]
        runs.extend(done)
        return done
    return run


def _counts(out: Path) -> dict:
    report = json.loads((out / "validation" / "report.json").read_text(encoding="utf-8"))
    return {name: {k: t[k] for k in ("rows_in", "rows_accepted", "rows_quarantined", "errors")}
            for name, t in report["tables"].items()}


def _fingerprint(path: Path) -> tuple:
    """Columns and types, row count and the sum of every row's hash: equal for the same
    rows in any order (a row twice counts twice)."""
    con = duckdb.connect()
    rows = f"read_parquet('{path}')"
    columns = con.execute(f"DESCRIBE SELECT * FROM {rows}").fetchall()
    return columns, *con.execute(
        f"SELECT count(*), sum(hash(*COLUMNS(*))::HUGEINT) FROM {rows}").fetchall()[0]


def _assert_same_outputs(single: Path, split: Path) -> None:
    assert _counts(split) == _counts(single)
    for csv in sorted((single / "validation" / "quarantine").glob("*.csv")):
        # rows in input order, with line numbers: the same bytes, not only the same set
        assert (split / "validation" / "quarantine" / csv.name).read_bytes() == csv.read_bytes()
    assert sorted(p.name for p in (split / "validation" / "quarantine").iterdir()) == \
        sorted(p.name for p in (single / "validation" / "quarantine").iterdir())
    for table in sorted((single / "validated").glob("*.parquet")):
        assert _fingerprint(split / "validated" / table.name) == _fingerprint(table), table.name
    assert not (split / "validation" / ".parts").exists()


def test_partitions_quarantine_and_accept_the_same_rows(synthetic_district: Path, tmp_path: Path) -> None:
    """The synthetic district's planted duplicates, conflicting keys and references land
    in the same rows whether each table is checked whole or in two partitions."""
    config = load_config()
    validate_directory(synthetic_district, tmp_path / "single", config)
    runs: list[PartResult] = []
    validate_directory(synthetic_district, tmp_path / "split", config, partitions=2,
                       run_partitions=_recording(runs))
    _assert_same_outputs(tmp_path / "single", tmp_path / "split")
    counts = _counts(tmp_path / "single")
    assert counts["attendance"]["errors"].get("duplicate_row", 0) >= 1
    assert counts["students"]["errors"].get("duplicate_key", 0) >= 1
    attendance = [r for r in runs if r.table == "attendance"]
    assert sorted(r.index for r in attendance) == [0, 1]
    assert all(0 < r.rows < counts["attendance"]["rows_in"] for r in attendance)


def test_partitions_of_a_csv_with_malformed_lines_and_duplicates(tmp_path: Path) -> None:
    """A CSV's text copy is made once and shared: line numbers, malformed lines,
    duplicates and conflicting keys are the same in four partitions as in one."""
    attendance = TINY_DISTRICT["attendance"] + (
        "00017,001,2023-09-05,present\n"      # an exact copy of an earlier row
        "00018,001,2023-09-05,absent_excused\n"  # the key of a row with other values
        "00017,001,2023-09-07,present,extra\n"  # one field too many
        "00019,001,2023-09-08,present\n"      # unknown student
        "00017,001,2023-02-30,present\n"      # no such date
    )
    data = write_district(tmp_path / "data", attendance=attendance)
    config = load_config()
    validate_directory(data, tmp_path / "single", config)
    validate_directory(data, tmp_path / "split", config, partitions=4)
    _assert_same_outputs(tmp_path / "single", tmp_path / "split")
    errors = _counts(tmp_path / "single")["attendance"]["errors"]
    assert {"duplicate_row", "duplicate_key", "malformed_line", "no_enrollment[date]",
            "wrong_type[date]"} <= set(errors)


def test_a_partition_must_be_one_of_its_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="partition must be"):
        validate_partition(None, tmp_path, load_config(), (3, 3))  # type: ignore[arg-type]


def test_a_header_of_a_million_columns_is_refused_at_once(tmp_path: Path, capsys) -> None:
    """Before DuckDB is asked to read it (which took minutes), with a message naming
    the table, and within well under a second."""
    header = ",".join(f"c{i}" for i in range(1_000_000))
    data = write_district(tmp_path / "data", schools=header + "\n" + "1," * 999_999 + "1\n")
    start = time.perf_counter()
    code = main(["validate", str(data), "--out", str(tmp_path / "out"), "--quiet"])
    elapsed = time.perf_counter() - start
    message = capsys.readouterr().err
    assert code == 1
    assert "table schools" in message and "at most 2,000 columns" in message
    assert "Traceback" not in message
    assert elapsed < 0.8, elapsed


def test_the_column_limit_is_a_setting(tmp_path: Path) -> None:
    """``engine.max_columns`` in the district config (or the argument) sets the limit."""
    data = write_district(tmp_path / "data")
    (tmp_path / "narrow.yaml").write_text("engine:\n  max_columns: 2\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"table schools .* at most 2 columns. Got 3 instead"):
        validate_directory(data, tmp_path / "out", load_config(tmp_path / "narrow.yaml"))
    with pytest.raises(SchemaError, match=r"at most 2 columns"):
        validate_directory(data, tmp_path / "out2", load_config(), max_columns=2)


@pytest.mark.parametrize("before", [0, 300, 9_000])  # where the long lines fall in the read buffer
def test_lines_over_the_limit_are_quarantined_by_line_number_never_dropped(
    tmp_path: Path, before: int
) -> None:
    """DuckDB drops a line over its limit, and whether it says so depends on where the
    line falls in its read buffer: with ``engine.max_line_bytes`` small, every over-long
    line must be a quarantined row with its editor's line number and no text, and rows
    in = accepted + quarantined."""
    limit = 1024
    head = "student_id,school_id,incident_date,action,incident_type\n"
    short = [f"00017,001,2023-10-{1 + i % 28:02d},referral,s{i}\n" for i in range(before)]
    lines = [head, *short,
             "00017,001,2023-10-03,referral," + "x" * limit + "\n",  # over the limit
             "00017,001,2023-10-04,referral," + "y" * (limit - 40) + "\n",  # under it
             "00017,001,2023-10-05,referral," + "z" * (40 * 1024 * 1024) + "\n",  # over the buffer
             "00018,001,2023-10-06,referral,short\n"]
    data = write_district(tmp_path / "data", discipline="".join(lines))
    (tmp_path / "c.yaml").write_text(f"engine:\n  max_line_bytes: {limit}\n", encoding="utf-8")
    assert main(["validate", str(data), "--out", str(tmp_path / "out"), "--config",
                 str(tmp_path / "c.yaml"), "--quiet"]) == 0
    table = json.loads((tmp_path / "out" / "validation" / "report.json").read_text())["tables"]["discipline"]
    assert table["rows_in"] == before + 4 == table["rows_accepted"] + table["rows_quarantined"]
    assert table["rows_quarantined"] == 2 and table["errors"] == {"malformed_line": 2}
    quarantine = pd.read_csv(tmp_path / "out" / "validation" / "quarantine" / "discipline.csv",
                             dtype=str, keep_default_na=False)
    assert quarantine["source_line"].tolist() == [str(before + 2), str(before + 4)]
    assert set(quarantine["raw_line"]) == {""}  # the over-long text is not copied
    assert all("max_line_bytes" in reason for reason in quarantine["reason"])
