"""Descriptor resolution: Ed-Fi descriptor ids -> contract values, once, in DuckDB.

Ed-Fi stores coded values (grade levels, attendance categories, subjects, ...) as ids
into the ``Descriptor`` table, whose ``CodeValue`` is the text a person recognises and
whose ``Namespace`` says who defined it (``uri://ed-fi.org/...`` for the defaults, a
state or district URI for local codes). The mapping file (``mapping_file``) maps code
values to contract values per *section* (one per descriptor type).

Resolution happens once, in Python, over the small Descriptor table: every descriptor
id gets, per section, a status (``mapped``; ``ignored`` = deliberately unused;
``unmapped`` = not in the mapping) and a target value. The result is the DuckDB table
``edfi_dres``, which the mapping SQL joins on ``(section, descriptor_id)``; the section
is chosen by the column that holds the id, so it works whatever the namespaces are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ontrack.tables import SCHEMAS

if TYPE_CHECKING:
    from ontrack.edfi.mapping_file import EdfiMapping

# The contract's allowed values, from its one declaration (ontrack.tables).
EXIT_REASONS = SCHEMAS["enrollments"].column("exit_reason").allowed or ()
STATUSES = SCHEMAS["attendance"].column("status").allowed or ()
SUBJECTS = SCHEMAS["course_marks"].column("subject").allowed or ()
ACTIONS = SCHEMAS["discipline"].column("action").allowed or ()
FLAGS = tuple(c.name for c in SCHEMAS["student_years"].columns if c.type == "bool")

# Section -> (kind, allowed values or bounds). Kinds: enum, int, bool, text.
SECTIONS: dict[str, tuple[str, Any]] = {
    "GradeLevelDescriptor": ("int", (-3, 13)),
    "ExitWithdrawTypeDescriptor": ("enum", EXIT_REASONS),
    "AttendanceEventCategoryDescriptor": ("enum", STATUSES),
    "AcademicSubjectDescriptor": ("enum", SUBJECTS),
    "DisciplineDescriptor": ("enum", ACTIONS),
    "StudentParticipationCodeDescriptor": ("bool", None),
    "SexDescriptor": ("text", None),
    "RaceDescriptor": ("text", None),
    "OldEthnicityDescriptor": ("text", None),
    "LimitedEnglishProficiencyDescriptor": ("bool", None),
    "ProgramTypeDescriptor": ("enum", FLAGS),
    "StudentCharacteristicDescriptor": ("enum", FLAGS),
    "TermDescriptor": ("text", None),
    "GradingPeriodDescriptor": ("text", None),
    "GradeTypeDescriptor": ("enum", ("progress", "final")),
    "CourseAttemptResultDescriptor": ("text", None),
    "PerformanceLevelDescriptor": ("int", (1, 4)),
    "AssessmentReportingMethodDescriptor": ("int", (1, 99)),
    "CalendarEventDescriptor": ("bool", None),
    "SchoolCategoryDescriptor": ("text", None),
}
_COLUMNS = ("section", "descriptor_id", "namespace", "code_value", "status", "target")


def code_key(code: str) -> str:
    """Match key of a code value (or ``namespace#code``): case and spaces ignored."""
    if "#" in code:
        namespace, _, value = code.rpartition("#")
        return f"{namespace.strip().lower()}#{value.strip().lower()}"
    return code.strip().lower()


def lookup(
    entries: Mapping[str, str | None], namespace: str | None, code: str
) -> tuple[str, str | None]:
    """(status, target) of one code value in one section's entries.

    A ``namespace#code`` entry wins over a plain ``code`` entry; a ``None`` target
    means the value is known and deliberately not used.
    """
    for key in (code_key(f"{namespace or ''}#{code}"), code_key(code)):
        if key in entries:
            target = entries[key]
            return ("ignored", None) if target is None else ("mapped", target)
    return "unmapped", None


def create_resolution_table(
    con: duckdb.DuckDBPyConnection, descriptor_relation: str, mapping: EdfiMapping
) -> int:
    """Create ``edfi_dres`` and the view ``edfi_descriptor``; return descriptors read.

    ``descriptor_relation`` is a subquery exposing DescriptorId, Namespace, CodeValue.
    ``edfi_dres`` has one row per section and descriptor: (section, descriptor_id,
    namespace, code_value, status, target). ``edfi_descriptor`` (descriptor_id,
    namespace, code_value) serves descriptors shown as text without a mapping, such as
    discipline behaviours.
    """
    rows = con.execute(
        f"SELECT DescriptorId, Namespace, CodeValue FROM {descriptor_relation} "
        "WHERE DescriptorId IS NOT NULL"
    ).fetchall()
    columns: dict[str, list[str | None]] = {name: [] for name in _COLUMNS}
    for section in SECTIONS:
        entries = mapping.descriptors.get(section, {})
        for descriptor_id, namespace, code in rows:
            status, target = lookup(entries, namespace, code or "")
            values = (section, str(descriptor_id), namespace, code, status, target)
            for name, value in zip(_COLUMNS, values, strict=True):
                columns[name].append(value)
    table = pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})
    con.register("edfi_dres_arrow", table)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE edfi_dres AS SELECT * FROM edfi_dres_arrow"
    )
    con.unregister("edfi_dres_arrow")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW edfi_descriptor AS SELECT descriptor_id, "
        f"namespace, code_value FROM edfi_dres WHERE section = '{next(iter(SECTIONS))}'"
    )
    return len(rows)
