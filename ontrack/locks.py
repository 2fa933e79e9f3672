"""One run at a time where two would corrupt each other's files.

Two ``train`` runs of one model write the same ``OUT/models/<model>/`` folder and register
versions of the same name; two ``score`` runs rewrite the same school rosters (a school's
file holds every model). :func:`exclusive` takes an operating-system lock on a file under
OUT (``fcntl.flock``: released by the kernel even when the run is killed), so a second
``train`` is refused at once with a clear message and a second ``score`` waits its turn.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ontrack.errors import OnTrackError


@contextmanager
def exclusive(path: Path, *, what: str, wait: bool,
              waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock ``path`` for the block. When another process holds it: with
    ``wait`` block until it is free (telling ``waiting`` first), else refuse with an
    ``OnTrackError`` naming ``what`` is already running."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise OnTrackError(
                    f"{what} must run one at a time. Got another one already running "
                    f"(it holds {path}); wait for it to finish, then run this again."
                ) from None
            if waiting is not None:
                waiting(f"waiting for the other {what} to finish")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
