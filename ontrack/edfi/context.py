"""Shared state of one import: connection, source, mapping, output folder, accounting.

Each mapping step (``mappings``, ``attendance``, ``marks``, ``events``) receives an
:class:`ImportContext` and uses its helpers to read source tables, join descriptors,
write a contract table and record rejections, so that every step accounts for its
rows the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ontrack.edfi.mapping_file import EdfiMapping
from ontrack.edfi.reader import EdfiSource
from ontrack.edfi.report import ImportLog, UnmappedValue


@dataclass(frozen=True)
class DescriptorUse:
    """A source column holding descriptor ids of one mapping section."""

    section: str
    table: str
    column: str
    effect: str  # what happens to a row whose value is unmapped


@dataclass
class ImportContext:
    """Everything a mapping step needs; see the module docstring."""

    con: duckdb.DuckDBPyConnection
    src: EdfiSource
    mapping: EdfiMapping
    dest: Path
    school_year: int | None
    progress: Callable[[str], None] | None = None
    log: ImportLog = field(default_factory=ImportLog)
    uses: list[DescriptorUse] = field(default_factory=list)
    step: str = "starting"

    def say(self, message: str) -> None:
        """Report progress, if the caller asked for it (and remember the step)."""
        self.step = message
        if self.progress is not None:
            self.progress(message)

    def rel(self, table: str, columns: Sequence[str]) -> str:
        """Subquery over a source table (EdfiSource.relation); counts its rows read."""
        if self.src.has(table) and table not in self.log.rows_read:
            self.log.rows_read[table] = self.src.row_count(table)
        return self.src.relation(table, columns)

    def dj(self, section: str, id_expr: str, alias: str) -> str:
        """LEFT JOIN of ``edfi_dres`` as ``alias`` on the descriptor id ``id_expr``."""
        return (
            f"LEFT JOIN edfi_dres {alias} ON {alias}.section = '{section}' "
            f"AND {alias}.descriptor_id = {id_expr}"
        )

    def use(self, section: str, table: str, column: str, effect: str) -> None:
        """Declare that ``table.column`` holds ``section`` descriptors (for reports)."""
        item = DescriptorUse(section, table, column, effect)
        if item not in self.uses:
            self.uses.append(item)

    def year_filter(self, year_expr: str) -> str:
        """SQL condition: true when the record's school year passes --school-year."""
        if self.school_year is None:
            return "true"
        return f"coalesce({year_expr} = {int(self.school_year)}, false)"

    def fetch(self, sql: str) -> list[tuple]:
        """Run a query and fetch all rows (DuckDB 2: fetch before the next query)."""
        return self.con.execute(sql).fetchall()

    def reasons(self, table: str, source: str, sql: str) -> None:
        """Record rejections from a query returning (reason, count) rows."""
        rows = self.fetch(sql)
        counts = {str(reason): int(n) for reason, n in rows if reason is not None}
        self.log.reject(table, source, counts)

    def rejected_from(
        self, table: str, source: str, staged: str, where: str = ""
    ) -> None:
        """Record the rejections of a staging table, from its ``reason`` column."""
        condition = f"AND ({where})" if where else ""
        self.reasons(
            table,
            source,
            f"SELECT reason, count(*) FROM {staged} "
            f"WHERE reason IS NOT NULL {condition} GROUP BY 1",
        )

    def stage_ids(self) -> None:
        """Create ``edfi_student_ids`` and ``edfi_school_ids`` (the known ids)."""
        students = self.rel("Student", ["StudentUSI"])
        schools = self.rel("School", ["SchoolId"])
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE edfi_student_ids AS SELECT DISTINCT "
            f"StudentUSI AS id FROM {students} WHERE StudentUSI IS NOT NULL"
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE edfi_school_ids AS SELECT DISTINCT "
            f"SchoolId AS id FROM {schools} WHERE SchoolId IS NOT NULL"
        )

    def write(self, table: str, sql: str) -> int:
        """Write ``sql`` to ``dest/<table>.csv``; return its rows.

        A table with no rows is not written (an empty file would make the table
        unusable for ``ontrack validate``); a note says so.
        """
        final = self.dest / f"{table}.csv"
        partial = self.dest / f".{table}.csv.partial"
        self.say(f"writing {final.name}")
        path = str(partial).replace("'", "''")
        copied = self.fetch(f"COPY ({sql}) TO '{path}' (HEADER, DELIMITER ',')")
        rows = int(copied[0][0])
        if rows == 0:
            partial.unlink(missing_ok=True)
            self.log.note(f"{table}: no rows to import; {final.name} was not written.")
            return 0
        os.replace(partial, final)
        self.log.rows_written[table] = rows
        return rows

    def collect_unmapped(self) -> None:
        """Count source rows per unmapped (or unknown) descriptor id, for every use."""
        for use in self.uses:
            if not self.src.has_column(use.table, use.column):
                continue
            rel = self.src.relation(use.table, [use.column])
            rows = self.fetch(
                f"SELECT r.v, d.namespace, d.code_value, count(*) FROM "
                f"(SELECT \"{use.column}\" AS v FROM {rel}) r "
                f"LEFT JOIN edfi_dres d ON d.section = '{use.section}' "
                f"AND d.descriptor_id = r.v "
                "WHERE r.v IS NOT NULL "
                "AND coalesce(d.status, 'unmapped') = 'unmapped' "
                f"GROUP BY ALL ORDER BY 4 DESC, 1"
            )
            for value, namespace, code, count in rows:
                self.log.unmapped.append(
                    UnmappedValue(
                        descriptor=use.section,
                        namespace=namespace or "",
                        code_value=code
                        if code is not None
                        else f"<id {value} not in Descriptor>",
                        source=f"{use.table}.{use.column}",
                        rows=int(count),
                        effect=use.effect,
                    )
                )
