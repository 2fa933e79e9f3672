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
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from ontrack.errors import OnTrackError

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
    remove_left_by_dead_runs(final.parent, re.escape(f".{final.name}.") + r"(?P<pid>\d+)\.staging")
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


def remove_left_by_dead_runs(folder: Path, name: str) -> None:
    """Delete what runs killed before they finished left in ``folder``: the files and
    folders whose name matches the regular expression ``name`` in full, its group
    ``pid`` naming a process that no longer runs (a live run's are kept, this one's too)."""
    pattern = re.compile(name)
    for left in Path(folder).iterdir() if Path(folder).is_dir() else ():
        found = pattern.fullmatch(left.name)
        if found is None or process_alive(int(found.group("pid"))):
            continue
        if left.is_dir() and not left.is_symlink():
            shutil.rmtree(left, ignore_errors=True)
        else:
            left.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process with this ID runs (what is named after a dead one is left over)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- completion markers -------------------------------------------------------------------
# A stage that publishes a set of files into one folder (OUT/indicators) writes
# ``_complete.json`` last: the stage, the config hash and each file's size and SHA-256. It
# deletes the marker before it replaces the first file, so a run killed half way leaves no
# marker; a stage that reuses the folder checks it and refuses a partial, changed or stale set.
MARKER = "_complete.json"
MARKER_FORMAT = "ontrack-complete/1"


def clear_marker(folder: Path) -> None:
    """Withdraw ``folder``'s completion marker: call before rewriting any file of the set."""
    (Path(folder) / MARKER).unlink(missing_ok=True)


def write_marker(folder: Path, stage: str, config_hash: str, files: Iterable[str]) -> Path:
    """Write ``folder/_complete.json`` (atomically, after every file in ``files``, names
    relative to ``folder``, is in place): the stage, config hash, ontrack version, when
    the set was completed (``created_at``) and each file's size and SHA-256."""
    from ontrack import __version__

    folder = Path(folder)
    listed = {name: _fingerprint(folder / name) for name in sorted(files)}
    absent = sorted(name for name, found in listed.items() if found is None)
    if absent:
        raise OnTrackError(f"every file a {MARKER} lists must exist in {folder}. "
                           f"Got no {', '.join(absent)} instead (a bug in ontrack).")
    record = {"format": MARKER_FORMAT, "stage": stage, "config_hash": config_hash,
              "ontrack_version": __version__,
              "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "files": listed}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    write_atomically(folder / MARKER, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    return folder / MARKER


def check_marker(folder: Path, stage: str, config_hash: str) -> dict:
    """The marker of a complete ``stage`` output in ``folder`` made with ``config_hash``.

    Raises :class:`OutputIncomplete` (saying what is wrong) when the marker is missing or
    unreadable, names another stage or config, or a file it lists is missing or differs."""
    folder = Path(folder)
    try:
        record = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputIncomplete(folder, stage, f"no {MARKER} (a run killed or still writing, "
                               "or files not written by this stage)") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise OutputIncomplete(folder, stage, f"an unreadable {MARKER}") from None
    if not isinstance(record, dict) or record.get("format") != MARKER_FORMAT \
            or not isinstance(record.get("files"), dict):
        raise OutputIncomplete(folder, stage, f"a {MARKER} that is not ontrack's")
    if record.get("stage") != stage:
        raise OutputIncomplete(folder, stage, f"the output of {record.get('stage')!r}")
    if record.get("config_hash") != config_hash:
        raise OutputIncomplete(folder, stage, f"files made with config {record.get('config_hash')}, "
                               f"not the current {config_hash}")
    for name, expected in record["files"].items():
        if not _inside(folder, name):
            raise OutputIncomplete(folder, stage, f"a {MARKER} listing {name!r}, outside the folder")
        if _fingerprint(folder / name) != expected:
            raise OutputIncomplete(folder, stage, f"{name} changed or missing since the run finished")
    return record


class OutputIncomplete(OnTrackError):
    """A stage's output folder is partial, changed, or from another config."""

    def __init__(self, folder: Path, stage: str, problem: str) -> None:
        self.folder, self.stage, self.problem = Path(folder), stage, problem
        super().__init__(f"{folder} must hold the complete output of `ontrack {stage}` with the "
                         f"current config. Got {problem} instead.")


def _inside(folder: Path, name: object) -> bool:
    """Whether a name from a marker is a plain relative path under ``folder``."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return False
    parts = Path(name).parts
    return not Path(name).is_absolute() and ".." not in parts and "." not in parts


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(path: Path) -> dict | None:
    """Size and SHA-256 of a file (None when it is not there)."""
    try:
        return {"bytes": Path(path).stat().st_size, "sha256": sha256_of(path)}
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
