"""Validate once per data and rules: a stored validation is reused while both are unchanged.

Every command that needs validated tables (``features``, ``train``, ``score``,
``indicators``, ``validate`` itself) goes through :func:`validate_or_reuse`. It reuses
``OUT/validated`` and ``OUT/validation`` when all of these match what was recorded
(``OUT/validation/reuse.json``) by the validation that wrote them:

- the content digest of the data directory (:func:`directory_digest`: SHA-256 over every
  file's relative name and bytes, so one changed byte anywhere revalidates);
- the rules fingerprint (calendars and mark scales: what shapes the validated tables),
  computed by the caller (``ontrack.indicators.run.rules_fingerprint``, a higher layer);
- ontrack's version (a new validator may accept or reject other rows);
- the size and modification time of every file that validation wrote (a validated table
  deleted or rewritten since is not trusted; the check costs a ``stat`` per file).

Otherwise it validates again. The record is removed before validating and written only
after validation finished, so a killed validation is never reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from ontrack import __version__
from ontrack.config import Config
from ontrack.paths import write_atomically
from ontrack.validation.run import (
    RunWave,
    TableReport,
    ValidationReport,
    validate_directory,
)

RECORD = "reuse.json"
BLOCK = 1 << 20
_WRITTEN = ("validated", "validation")  # the folders under OUT that validation writes


def directory_digest(folder: Path) -> str:
    """SHA-256 over every file's relative name and bytes, in name order."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix().encode("utf-8", "surrogateescape")
        digest.update(len(name).to_bytes(8, "big") + name)  # length-prefixed: no two splits collide
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def validate_or_reuse(data_dir: Path | str, out_dir: Path | str, config: Config, fingerprint: str, *,
                      marker: str, progress: Callable[[str], None] | None = None,
                      run_wave: RunWave | None = None) -> ValidationReport:
    """The validation of ``data_dir`` into ``out_dir``: the stored one when the data, the
    rules (``fingerprint``) and its outputs are unchanged, else a new one. ``marker`` is
    the file (under ``OUT/validation``) that records the rules the tables were read with;
    ``run_wave`` runs a new validation's jobs (``validate_directory``)."""
    say = progress or (lambda _msg: None)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    digest = directory_digest(data_dir) if data_dir.is_dir() else ""
    stored = stored_validation(out_dir, digest, fingerprint, marker)
    if stored is not None:
        say(f"validation reused: data and rules unchanged since {stored[1]}")
        return stored[0]
    record = out_dir / "validation" / RECORD
    record.unlink(missing_ok=True)  # a validation killed half way must never look reusable
    report = validate_directory(data_dir, out_dir, config, progress=progress, run_wave=run_wave)
    path = out_dir / "validation" / marker
    write_atomically(path, lambda tmp: tmp.write_text(fingerprint + "\n", encoding="utf-8"))
    payload = {"data_digest": digest, "rules_fingerprint": fingerprint, "ontrack_version": __version__,
               "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "outputs": _outputs(out_dir)}
    write_atomically(record, lambda tmp: tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8"))
    return report


def stored_validation(out_dir: Path, digest: str, fingerprint: str,
                      marker: str) -> tuple[ValidationReport, str] | None:
    """The stored report and when it was made, when it may be reused; else None."""
    record_path = Path(out_dir) / "validation" / RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        recorded_rules = (Path(out_dir) / "validation" / marker).read_text(encoding="utf-8").strip()
        report = load_report(Path(out_dir) / "validation" / "report.json")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    same = (digest and record.get("data_digest") == digest
            and record.get("rules_fingerprint") == fingerprint == recorded_rules
            and record.get("ontrack_version") == __version__
            and record.get("outputs") == _outputs(Path(out_dir)))
    return (report, str(record.get("validated_at"))) if same else None


def load_report(path: Path) -> ValidationReport:
    """A :class:`ValidationReport` read back from ``OUT/validation/report.json``."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    table_fields = {f.name for f in fields(TableReport)}
    tables = {}
    for name, table in payload["tables"].items():
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items() if k in table_fields}
        tables[name] = TableReport(**kept)
    report_fields = {f.name for f in fields(ValidationReport)} - {"tables"}
    rest = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.items() if k in report_fields}
    return ValidationReport(tables=tables, **rest)


def _outputs(out_dir: Path) -> dict[str, list[int]]:
    """Size and modification time (ns) of every file validation wrote, but the record."""
    found = {}
    for folder in _WRITTEN:
        root = out_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != RECORD:
                stat = path.stat()
                found[path.relative_to(out_dir).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return found
