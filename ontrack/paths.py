"""Writing output files safely: names from IDs, and whole files only.

File names made from IDs in the data: a school, staff or student ID names a file only
through :func:`file_stem`, so a crafted ID can never reach outside its folder. Every
output file is written through :func:`write_atomically`, so a killed run never leaves
half a file; a set of files that belong together (the rosters) is written into
:func:`staging_folder` and put in place by :func:`swap_in`, so a killed run never
leaves a set mixed from two runs.

An ID made only of letters, digits, ``-``, ``_`` and ``.`` (not starting with a dot, at
most 100 characters) is its own file name: ``OUT/rosters/<school_id>.csv`` exactly as
CONTRACT §4 writes it. Any other ID (``/``, ``..``, spaces, non-ASCII, control
characters) gets a name that cannot collide with a plain one: ``id-`` and the ID's
bytes in hex, cut to a length every file system accepts and ended by a short digest.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import shutil
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


def staging_folder(final: Path) -> Path:
    """A fresh folder beside ``final`` to write a whole new set of files into, holding
    hard links to every file ``final`` holds now (what this run does not rewrite stays as
    it was: other models' files, lock files keep their inode). Everything written into
    it must be written by :func:`write_atomically` (a new file, never through a link).
    Swap it in with :func:`swap_in`; a killed run leaves ``final`` untouched."""
    final = Path(final)
    _recover(final)
    for left in final.parent.glob(f".{final.name}.*.staging"):  # of runs killed before their swap
        pid = left.name.removeprefix(f".{final.name}.").removesuffix(".staging")
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    staged = final.with_name(f".{final.name}.{os.getpid()}.staging")
    shutil.rmtree(staged, ignore_errors=True)
    if final.is_dir():
        shutil.copytree(final, staged, copy_function=os.link, symlinks=True,
                        ignore=shutil.ignore_patterns(f".{final.name}.*"))
    else:
        staged.mkdir(parents=True)
    return staged


def swap_in(staged: Path, final: Path) -> None:
    """Put ``staged`` where ``final`` is in one step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``: a reader sees the old folder or the new one, never none), then
    delete the old one. Elsewhere two renames, and a run killed between them is undone
    by the next :func:`staging_folder`."""
    staged, final = Path(staged), Path(final)
    if final.exists() and _exchange(staged, final):
        shutil.rmtree(staged, ignore_errors=True)  # the old folder, now at the staged name
        return
    retired = final.with_name(f".{final.name}.retired")
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        final.rename(retired)
    staged.rename(final)
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically; False when the system cannot (not Linux, old libc)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd, exchange = -100, 2  # AT_FDCWD, RENAME_EXCHANGE
    done = renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), exchange)
    if done == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(second))


def _recover(final: Path) -> None:
    """Undo a two-rename swap killed half way: the old folder goes back in place."""
    retired = final.with_name(f".{final.name}.retired")
    if retired.is_dir() and not final.exists():
        retired.rename(final)


def _alive(pid: int) -> bool:
    """Whether a process with this ID runs (a folder named after a dead one is left over)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
