"""The input tables of CONTRACT §1, declared once.

Each :class:`TableSchema` lists its columns with a type, whether the column is required,
allowed values and ranges, and the table's unique key. ``ontrack.validation`` compiles
these declarations into DuckDB checks; the data dictionary in docs/data-contract.md is
written from the same declarations (``describe_contract``), so the docs cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["id", "text", "enum", "int", "float", "date", "bool"]

SQL_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "int": "INTEGER",
    "float": "DOUBLE",
    "date": "DATE",
    "bool": "BOOLEAN",
}

# Plausible calendar for any date in a district extract; outside it is a typo.
EARLIEST_DATE = "1980-01-01"
LATEST_DATE = "2100-12-31"


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it must be present and filled, and its domain."""

    name: str
    type: ColumnType
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""

    @property
    def sql_type(self) -> str:
        """DuckDB type of the validated column."""
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class TableSchema:
    """A contract table: columns, unique key and whether a district must provide it."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = False
    description: str = ""
    derived: tuple[Column, ...] = field(default=())

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Names of the columns the file must have."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of every contract column, required and optional."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The declaration of one column."""
        for col in (*self.columns, *self.derived):
            if col.name == name:
                return col
        raise KeyError(name)


def _id(name: str, required: bool = True, description: str = "") -> Column:
    return Column(name, "id", required=required, description=description)


SCHOOL_YEAR = Column(
    "school_year",
    "int",
    required=True,
    min=1990,
    max=2100,
    description="Calendar year in which the school year ends (2024 = 2023-24).",
)
# Columns that name a student: shown to staff on rosters and profiles, withheld everywhere else
# (the quarantine files included).
NAME_COLUMNS: tuple[str, ...] = ("first_name", "last_name")
NAME_DOC = ("For staff to recognise the student on rosters and profiles only; never a model "
            "input, never in MLflow, logs, error messages or aggregate reports.")
FLAG_DOC = "Subgroup flag for equity reporting; never a model input by default."

SCHEMAS: dict[str, TableSchema] = {
    t.name: t
    for t in (
        TableSchema(
            "schools",
            (
                _id("school_id"),
                Column("school_name", "text", required=True),
                _id("district_id"),
                Column("district_name", "text"),
                Column("school_level", "text", description="e.g. middle, high."),
                Column("county", "text"),
            ),
            key=("school_id",),
            required=True,
            description="One row per school.",
        ),
        TableSchema(
            "students",
            (
                _id("student_id"),
                Column("first_name", "text", description=NAME_DOC),
                Column("last_name", "text", description=NAME_DOC),
                Column("gender", "text", description="Equity reporting only."),
                Column("race_ethnicity", "text", description="Equity reporting only."),
                Column("birth_date", "date"),
            ),
            key=("student_id",),
            required=True,
            description="One row per student.",
        ),
        TableSchema(
            "enrollments",
            (
                _id("student_id"),
                _id("school_id"),
                SCHOOL_YEAR,
                Column("grade_level", "int", required=True, min=-1, max=13),
                Column("entry_date", "date", required=True),
                Column("exit_date", "date", description="Empty while still enrolled."),
                Column(
                    "exit_reason",
                    "enum",
                    allowed=("transfer", "dropout", "graduated", "completed", "other"),
                ),
            ),
            key=("student_id", "school_id", "entry_date"),
            required=True,
            description="One row per enrollment spell; several per year for movers.",
        ),
        TableSchema(
            "student_years",
            (
                _id("student_id"),
                SCHOOL_YEAR,
                Column("english_learner", "bool", description=FLAG_DOC),
                Column("students_with_disabilities", "bool", description=FLAG_DOC),
                Column("socioeconomically_disadvantaged", "bool", description=FLAG_DOC),
                Column("foster_youth", "bool", description=FLAG_DOC),
                Column("homeless", "bool", description=FLAG_DOC),
                Column("gpa", "float", min=0, max=4, description="Official GPA, 0-4."),
            ),
            key=("student_id", "school_year"),
            description="Per student and year: subgroup flags and the official GPA.",
        ),
        TableSchema(
            "attendance",
            (
                _id("student_id"),
                _id("school_id"),
                Column("date", "date", required=True),
                Column(
                    "status",
                    "enum",
                    required=True,
                    allowed=(
                        "present",
                        "absent_excused",
                        "absent_unexcused",
                        "tardy",
                        "suspended",
                    ),
                ),
                Column("minutes_absent", "float", min=0, max=1440),
            ),
            key=("student_id", "school_id", "date"),
            description="One row per enrolled instructional day.",
            derived=(Column("school_year", "int", description="From `date`."),),
        ),
        TableSchema(
            "attendance_summary",
            (
                _id("student_id"),
                _id("school_id"),
                SCHOOL_YEAR,
                Column("days_enrolled", "float", required=True, min=0, max=366),
                Column("days_absent", "float", required=True, min=0, max=366),
                Column("period_end_date", "date"),
            ),
            key=("student_id", "school_id", "school_year", "period_end_date"),
            description="State-style annual attendance totals (CALPADS-like).",
        ),
        TableSchema(
            "course_marks",
            (
                _id("student_id"),
                _id("school_id"),
                SCHOOL_YEAR,
                Column("term", "text", required=True),
                _id("course_id"),
                Column(
                    "subject",
                    "enum",
                    required=True,
                    allowed=("ela", "math", "science", "social_science", "other"),
                ),
                Column("mark", "text", required=True),
                Column("is_final", "bool", required=True),
                Column("course_name", "text"),
                Column("term_end_date", "date"),
                Column("credits_attempted", "float", min=0, max=100),
                Column("credits_earned", "float", min=0, max=100),
            ),
            key=("student_id", "school_id", "school_year", "term", "course_id"),
            description="Progress and final marks per course and term.",
            derived=(
                Column("mark_letter", "text", description="A-F, or P/NP/I/W."),
                Column("mark_points", "float", description="Grade points, 0-4."),
                Column("mark_numeric", "float", description="The 0-100 mark, if any."),
            ),
        ),
        TableSchema(
            "discipline",
            (
                _id("student_id"),
                _id("school_id"),
                Column("incident_date", "date", required=True),
                Column(
                    "action",
                    "enum",
                    required=True,
                    allowed=(
                        "referral",
                        "in_school_suspension",
                        "out_of_school_suspension",
                        "expulsion",
                        "other",
                    ),
                ),
                Column("incident_type", "text"),
                Column("days", "float", min=0, max=366),
            ),
            key=(),
            description="One row per disciplinary action.",
            derived=(Column("school_year", "int", description="From incident_date."),),
        ),
        TableSchema(
            "assessments",
            (
                _id("student_id"),
                SCHOOL_YEAR,
                Column("subject", "text", required=True),
                Column("scale_score", "float", required=True, min=0),
                Column("test_name", "text"),
                Column("grade_level", "int", min=-1, max=13),
                Column("performance_level", "int", min=1, max=4),
                Column("test_date", "date"),
            ),
            key=("student_id", "school_year", "subject", "test_name", "test_date"),
            description="State or interim assessment results (ELA, math, ...).",
        ),
        TableSchema(
            "caseloads",
            (
                _id("student_id"),
                _id("staff_id"),
                Column("staff_name", "text"),
                Column("role", "text"),
                Column("school_year", "int", min=1990, max=2100),
            ),
            key=("student_id", "staff_id", "school_year"),
            description="Optional counselor or team assignments, to split rosters.",
        ),
        TableSchema(
            "outcomes",
            (
                _id("student_id"),
                Column(
                    "outcome",
                    "enum",
                    required=True,
                    allowed=(
                        "graduated",
                        "dropped_out",
                        "transferred_out",
                        "still_enrolled",
                        "other",
                    ),
                ),
                Column("outcome_date", "date", required=True),
                Column("cohort_year", "int", min=1990, max=2100),
            ),
            key=("student_id",),
            description="High-school outcome per student; needed for graduation labels.",
        ),
        TableSchema(
            "interventions",
            (
                _id("student_id"),
                Column("intervention_type", "text", required=True,
                       description="The district's own name for the support, e.g. tutoring, mentoring."),
                Column("start_date", "date", required=True),
                _id("intervention_id", required=False),
                Column("end_date", "date", description="Empty while the support continues."),
                _id("school_id", required=False),
                _id("staff_id", required=False),
                Column("tier", "int", min=1, max=3, description="MTSS tier, 1-3."),
                Column("domain", "enum", allowed=("attendance", "coursework", "behavior", "other")),
            ),
            key=("student_id", "intervention_type", "start_date"),
            description=("Optional: supports the district already records; ontrack reads them "
                         "(rosters, profiles, follow-up, impact), never writes them. Free-text "
                         "notes are not part of the contract and are ignored."),
        ),
    )
}

# Tables validated in this order: references point only to earlier tables.
TABLE_ORDER: tuple[str, ...] = tuple(SCHEMAS)


def describe_contract() -> str:
    """The data dictionary of every input table as Markdown."""
    lines = ["# Input tables (generated from ontrack/tables.py)", ""]
    for schema in SCHEMAS.values():
        need = "required" if schema.required else "optional"
        lines += [f"## `{schema.name}` ({need})", "", schema.description, ""]
        key = ", ".join(schema.key) or "none (exact duplicate rows are rejected)"
        lines += [f"Unique key: {key}.", ""]
        lines += ["| column | type | required | allowed / range | description |"]
        lines += ["|---|---|---|---|---|"]
        for col in schema.columns:
            domain = ", ".join(col.allowed) if col.allowed else ""
            if col.min is not None or col.max is not None:
                domain = f"{col.min if col.min is not None else ''}…"
                domain += f"{col.max if col.max is not None else ''}"
            req = "yes" if col.required else ""
            lines.append(
                f"| {col.name} | {col.type} | {req} | {domain} | {col.description} |"
            )
        lines.append("")
    return "\n".join(lines)
