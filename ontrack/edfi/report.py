"""What an Ed-Fi import did: rows in and out, unmapped descriptors, rejections, notes.

The report is the importer's accounting. Every source row that does not become a
contract row is either a counted rejection (with its reason) or, for descriptors, an
unmapped value with its row count; nothing is dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class UnmappedValue:
    """A descriptor code value that the mapping file does not cover."""

    descriptor: str  # mapping section, e.g. "GradeLevelDescriptor"
    namespace: str  # Descriptor.Namespace ("" if the id is not in Descriptor)
    code_value: str  # Descriptor.CodeValue, or "<id N not in Descriptor>"
    source: str  # "Table.Column" the value was read from
    rows: int  # source rows carrying it
    effect: str  # what the importer did with those rows


@dataclass(frozen=True)
class Rejection:
    """Source rows that did not become contract rows, for one reason."""

    table: str  # contract table the rows were meant for
    source: str  # Ed-Fi table they came from
    reason: str
    rows: int


@dataclass(frozen=True)
class EdfiImportReport:
    """Outcome of :func:`ontrack.edfi.import_edfi`.

    Attributes
    ----------
    rows_written : Mapping[str, int]
        Rows per contract table written to ``dest/<table>.csv``.
    rows_read : Mapping[str, int]
        Rows per Ed-Fi source table read.
    unmapped : tuple[UnmappedValue, ...]
        Descriptor values the mapping does not cover, with counts and effect.
    rejections : tuple[Rejection, ...]
        Source rows not imported, by contract table, source table and reason.
    notes : tuple[str, ...]
        Derivations, assumptions and gaps worth reading (e.g. how instructional days
        were derived, tables that were absent).
    """

    source: Path
    dest: Path
    school_year: int | None
    mapping_files: tuple[str, ...]
    rows_written: Mapping[str, int] = field(default_factory=dict)
    rows_read: Mapping[str, int] = field(default_factory=dict)
    unmapped: tuple[UnmappedValue, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rows_written", "rows_read"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def rejected(self, table: str, source: str | None = None) -> dict[str, int]:
        """Rejected rows by reason for one contract table (optionally one source)."""
        out: dict[str, int] = {}
        for item in self.rejections:
            if item.table == table and (source is None or item.source == source):
                out[item.reason] = out.get(item.reason, 0) + item.rows
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole report."""
        return {
            "source": str(self.source),
            "dest": str(self.dest),
            "school_year": self.school_year,
            "mapping_files": list(self.mapping_files),
            "rows_written": dict(self.rows_written),
            "rows_read": dict(self.rows_read),
            "unmapped": [asdict(u) for u in self.unmapped],
            "rejections": [asdict(r) for r in self.rejections],
            "notes": list(self.notes),
            "seconds": self.seconds,
        }

    def write_json(self, path: Path) -> None:
        """Save the report as JSON (no student-level data in it)."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def summary(self) -> str:
        """A readable multi-line summary for the command line."""
        lines = [
            f"Imported Ed-Fi export {self.source} -> {self.dest} "
            f"in {self.seconds:.1f} s"
        ]
        lines.append("Rows written:")
        lines += [f"  {t:<16} {n:>10,}" for t, n in self.rows_written.items()]
        lines.append("Unmapped descriptor values:" + ("" if self.unmapped else " none"))
        for u in self.unmapped:
            lines.append(
                f"  {u.descriptor} {u.code_value!r} in {u.source}: {u.rows:,} rows "
                f"({u.effect})"
            )
        lines.append("Rejected rows:" if self.rejections else "Rejected rows: none")
        for r in self.rejections:
            lines.append(f"  {r.table} <- {r.source}: {r.rows:,} {r.reason}")
        if self.notes:
            lines.append("Notes:")
            lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class ImportLog:
    """Mutable accumulator the mapping steps write to; frozen into the report later."""

    rows_written: dict[str, int] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    unmapped: list[UnmappedValue] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, table: str, source: str, counts: Mapping[str, int]) -> None:
        """Record rejected-row counts by reason (zero counts are skipped)."""
        for reason, rows in sorted(counts.items()):
            if rows:
                self.rejections.append(Rejection(table, source, reason, int(rows)))

    def note(self, text: str) -> None:
        """Record a note once."""
        if text not in self.notes:
            self.notes.append(text)
