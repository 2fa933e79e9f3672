"""Cache keys by content: an unchanged input never recomputes, a changed one always does.

A task's key is the SHA-256 of: the task's name, ontrack's version, the resolved config's
hash, the output folder, the content digest of whatever it reads (the district's files
for ``validate``; the upstream task's key for every later step, so a change anywhere
upstream changes every key downstream) and the task's own parameters. Whether the
outputs a step promises still exist is checked by the flow, which refreshes the cache of
a step whose outputs were deleted (``outputs_missing``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ontrack import __version__

BLOCK = 1 << 20


def directory_digest(folder: Path) -> str:
    """SHA-256 over every file's relative name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                digest.update(block)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of one file, or "missing"."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
