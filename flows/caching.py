"""Cache keys by content: an unchanged input never recomputes, a changed one always does.

A task's key is the SHA-256 of: the task's name, ontrack's version, the resolved config's
hash, the output folder, the content digest of whatever it reads (the district's files
for ``validate``; the upstream task's key for every later step, so a change anywhere
upstream changes every key downstream) and the task's own parameters. Whether the
outputs a step promises still exist is checked by the flow, which refreshes the cache of
a step whose outputs were deleted (``outputs_missing``).

A step that ran leaves a record, ``OUT/.cache/steps/<key>.json``: its brief (counts), as
JSON and nothing else. The flow reads it back with ``json`` only; a record that is not
such JSON (a pickle planted under a step's key, a torn write) is ignored and the step
recomputes. Prefect's own result store, whose records name their serializer (pickle
among them), is never used (``flows.tasks``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ontrack import __version__
from ontrack.paths import write_atomically
from ontrack.validation.reuse import directory_digest  # noqa: F401 (the one digest of a data directory)

BLOCK = 1 << 20
RECORDS = Path(".cache", "steps")  # under OUT
RECORD_FORMAT = "ontrack-step-record/1"


def content_key(task_name: str, parameters: dict) -> str:
    """The cache key of a task run (see the module docstring)."""
    payload = {
        "task": task_name,
        "ontrack": __version__,
        "parameters": {k: str(v) for k, v in sorted(parameters.items())},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def outputs_missing(outputs: list[Path]) -> bool:
    """True when any promised output is gone: the step must run again."""
    return not all(Path(p).exists() for p in outputs)


def _record_path(out: Path, key: str) -> Path:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"a step key must be 64 hex digits. Got {key!r} instead.")
    return Path(out) / RECORDS / f"{key}.json"


def read_record(out: Path, key: str) -> dict | None:
    """The brief a step left under ``key``, or None (no record, or not a JSON record of
    this key: the step then runs again). Read as JSON only, never unpickled."""
    path = _record_path(out, key)
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    ok = (isinstance(record, dict) and record.get("format") == RECORD_FORMAT
          and record.get("key") == key and isinstance(record.get("brief"), dict))
    return record["brief"] if ok else None


def write_record(out: Path, key: str, brief: dict) -> None:
    """Leave the step's brief under its key (atomically)."""
    path = _record_path(out, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": RECORD_FORMAT, "key": key, "brief": brief}, sort_keys=True)
    write_atomically(path, lambda temporary: temporary.write_text(text + "\n", encoding="utf-8"))
