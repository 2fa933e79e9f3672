"""Incremental writers for the synthetic district's tables (parquet or CSV).

The hidden truth (marks without support) goes to ``_truth/`` as parquet, written to
a temporary file and moved into place when the sink closes.

Every table is opened once with a fixed schema and appended to block by block, so memory
stays bounded however many attendance rows are written. Dates are ISO strings in both
formats (one deliberately impossible date has to fit); IDs are strings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

_S, _I, _F, _B = pa.string(), pa.int32(), pa.float64(), pa.bool_()
SCHEMAS: dict[str, pa.Schema] = {
    "schools": pa.schema(
        [("school_id", _S), ("school_name", _S), ("district_id", _S),
         ("district_name", _S), ("school_level", _S), ("county", _S)]
    ),
    "students": pa.schema(
        [("student_id", _S), ("first_name", _S), ("last_name", _S), ("gender", _S),
         ("race_ethnicity", _S), ("birth_date", _S)]
    ),
    "enrollments": pa.schema(
        [("student_id", _S), ("school_id", _S), ("school_year", _I),
         ("grade_level", _I), ("entry_date", _S), ("exit_date", _S),
         ("exit_reason", _S)]
    ),
    "student_years": pa.schema(
        [("student_id", _S), ("school_year", _I), ("english_learner", _B),
         ("students_with_disabilities", _B), ("socioeconomically_disadvantaged", _B),
         ("foster_youth", _B), ("homeless", _B), ("gpa", _F)]
    ),
    "attendance": pa.schema(
        [("student_id", _S), ("school_id", _S), ("date", _S), ("status", _S)]
    ),
    "attendance_summary": pa.schema(
        [("student_id", _S), ("school_id", _S), ("school_year", _I),
         ("days_enrolled", _I), ("days_absent", _I), ("period_end_date", _S)]
    ),
    "course_marks": pa.schema(
        [("student_id", _S), ("school_id", _S), ("school_year", _I), ("term", _S),
         ("course_id", _S), ("subject", _S), ("mark", _S), ("is_final", _B),
         ("course_name", _S), ("term_end_date", _S), ("credits_attempted", _F),
         ("credits_earned", _F)]
    ),
    "discipline": pa.schema(
        [("student_id", _S), ("school_id", _S), ("incident_date", _S), ("action", _S),
         ("incident_type", _S), ("days", _I)]
    ),
    "assessments": pa.schema(
        [("student_id", _S), ("school_year", _I), ("subject", _S), ("scale_score", _I),
         ("test_name", _S), ("grade_level", _I), ("performance_level", _I),
         ("test_date", _S)]
    ),
    "caseloads": pa.schema(
        [("student_id", _S), ("staff_id", _S), ("staff_name", _S), ("role", _S),
         ("school_year", _I)]
    ),
    "outcomes": pa.schema(
        [("student_id", _S), ("outcome", _S), ("outcome_date", _S), ("cohort_year", _I)]
    ),
    "interventions": pa.schema(
        [("intervention_id", _S), ("student_id", _S), ("intervention_type", _S),
         ("start_date", _S), ("end_date", _S), ("school_id", _S), ("staff_id", _S),
         ("tier", _I), ("domain", _S)]
    ),
}  # fmt: skip
TABLES: tuple[str, ...] = tuple(SCHEMAS)
FORMATS = ("parquet", "csv")
# The marks served students would have had without support: always parquet, in a
# folder that validation does not read.
TRUTH = "_truth/course_marks_without_support.parquet"


class TableSink:
    """Writers for every table in ``out_dir``: ``write`` appends, ``close`` ends."""

    def __init__(self, out_dir: Path, fmt: str) -> None:
        self.fmt = fmt
        self.rows: dict[str, int] = dict.fromkeys(TABLES, 0)
        self._writers: dict[str, Any] = {}
        self._files: list[IO[bytes]] = []
        self._truth_path = out_dir / TRUTH
        self._truth_tmp = self._truth_path.with_name(f".{self._truth_path.name}.tmp")
        self._truth_path.parent.mkdir(exist_ok=True)
        self._truth: pq.ParquetWriter | None = pq.ParquetWriter(
            self._truth_tmp, SCHEMAS["course_marks"], compression="zstd"
        )
        self.truth_rows = 0
        for name, schema in SCHEMAS.items():
            path = out_dir / f"{name}.{fmt}"
            if fmt == "parquet":
                self._writers[name] = pq.ParquetWriter(path, schema, compression="zstd")
            else:
                f = path.open("wb")
                f.write((",".join(schema.names) + "\n").encode())
                self._files.append(f)
                opts = pa_csv.WriteOptions(include_header=False, quoting_style="none")
                self._writers[name] = pa_csv.CSVWriter(f, schema, write_options=opts)

    def write(self, name: str, table: pa.Table) -> None:
        """Append ``table`` (any column order, castable to the schema) to ``name``."""
        schema = SCHEMAS[name]
        table = table.select(schema.names).cast(schema)
        if table.num_rows:
            self._writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def write_truth(self, table: pa.Table) -> None:
        """Append course-mark rows as they would have been without support."""
        schema = SCHEMAS["course_marks"]
        table = table.select(schema.names).cast(schema)
        if table.num_rows and self._truth is not None:
            self._truth.write_table(table)
        self.truth_rows += table.num_rows

    def close(self) -> None:
        """Flush and close every file (safe to call twice)."""
        if self._truth is not None:
            self._truth.close()
            os.replace(self._truth_tmp, self._truth_path)
            self._truth = None
        for writer in self._writers.values():
            writer.close()
        for f in self._files:
            f.close()
        self._writers.clear()
        self._files.clear()
