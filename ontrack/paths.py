"""Writing output files safely: names from IDs, and whole files only.

File names made from IDs in the data: a school, staff or student ID names a file only
through :func:`file_stem`, so a crafted ID can never reach outside its folder. Every
output file is written through :func:`write_atomically`, so a killed run never leaves
half a file.

An ID made only of letters, digits, ``-``, ``_`` and ``.`` (not starting with a dot, at
most 100 characters) is its own file name: ``OUT/rosters/<school_id>.csv`` exactly as
CONTRACT §4 writes it. Any other ID (``/``, ``..``, spaces, non-ASCII, control
characters) gets a name that cannot collide with a plain one: ``id-`` and the ID's
bytes in hex, cut to a length every file system accepts and ended by a short digest.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
_MAX_HEX = 160


def file_stem(identifier: object) -> str:
    """A safe file name (without extension) for ``identifier``.

    >>> file_stem("00123"), file_stem("MS-7")
    ('00123', 'MS-7')
    >>> file_stem("../etc/passwd")
    'id-2e2e2f6574632f706173737764'
    >>> file_stem("") == file_stem(" ")
    False
    """
    text = str(identifier)
    if _PLAIN.fullmatch(text) and not text.startswith("id-"):
        return text
    raw = text.encode("utf-8", "surrogatepass")
    hexed = raw.hex()
    if len(hexed) <= _MAX_HEX:
        return f"id-{hexed}"
    return f"id-{hexed[:_MAX_HEX]}-{hashlib.sha256(raw).hexdigest()[:12]}"


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Have ``write`` write a temporary file beside ``path``, then move it into place in
    one step (``os.replace``): a reader, or the next run after a killed one, sees the old
    file or the new one, never half of one. The temporary name is unique to the process
    and thread, so concurrent writers never share one; it is removed if ``write`` fails."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
