"""What validation reports: per table rows in, accepted, quarantined and why
(``OUT/validation/report.json``, CONTRACT §4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ontrack import __version__


@dataclass(frozen=True)
class TableReport:
    """What happened to one table: rows in, accepted, quarantined and why."""

    table: str
    file: str
    format: str
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    errors: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    missing_optional_columns: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one data directory."""

    data_dir: str
    out_dir: str
    config_hash: str
    config_version: int
    tables: dict[str, TableReport]
    missing_tables: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def validated_dir(self) -> Path:
        """Where the accepted, typed tables were written."""
        return Path(self.out_dir) / "validated"

    def to_json(self) -> dict:
        """The report as written to ``OUT/validation/report.json``."""
        payload = asdict(self)
        payload["ontrack_version"] = __version__
        payload["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return payload
