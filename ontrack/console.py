"""Terminal output: progress on stderr, summaries on stdout, no student rows ever.

On a terminal, progress is drawn by Rich: each step's line stays printed, and below it
a spinner (a bar for a numbered step such as ``3/9 ...``) shows the step that is running
and the seconds it has taken, so no long step looks like a hang. When stderr is not a
terminal (a pipe, a log file, the tests) the lines are plain text, and a step silent for
:data:`HEARTBEAT` seconds gets a ``still ...`` line, so a log never goes quiet for
long either. Summary tables are Rich tables on a terminal and plain fixed-width text
otherwise. ``--quiet`` silences progress in both modes.
"""

from __future__ import annotations

import io
import re
import shutil
import sys
import threading
import time
import weakref
from typing import Any

HEARTBEAT = 5.0  # seconds of silence before a plain-text "still ..." line
_NUMBERED = re.compile(r"^(\d+)/(\d+) ")
_OPEN: weakref.WeakSet[Progress] = weakref.WeakSet()


def interactive(stream: Any) -> bool:
    """Whether ``stream`` is a terminal a person watches (not a pipe, file or capture)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Reports the steps of one command on stderr unless quiet.

    Examples
    --------
    >>> say = Progress("validate", quiet=True)
    >>> say("reading schools")  # prints nothing when quiet
    >>> say.close()
    """

    def __init__(self, stage: str, quiet: bool = False) -> None:
        self.stage = stage
        self.quiet = quiet
        self.started = time.perf_counter()
        self.rich = not quiet and interactive(sys.stderr)
        self._lock = threading.Lock()
        self._last = ("", self.started)  # the running step and when it was announced
        self._spoke = self.started  # when the last line was printed
        self._bar: Any = None
        self._task: Any = None
        self._beat: threading.Event | None = None
        _OPEN.add(self)

    def __call__(self, message: str) -> None:
        """Report that ``message`` (a step) starts now."""
        if self.quiet:
            return
        now = time.perf_counter()
        with self._lock:
            self._last, self._spoke = (message, now), now
            if self.rich:
                self._draw(message, now)
            else:
                self._plain(message, now)
                self._start_heartbeat()

    def _plain(self, message: str, now: float) -> None:
        print(f"[{self.stage} {now - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def _draw(self, message: str, now: float) -> None:
        """Print the line above the live display and show the step in it."""
        bar = self._live_bar()
        from rich.text import Text

        line = Text(f"[{self.stage} {now - self.started:6.1f}s] ", style="dim")
        bar.console.print(line + Text(message), highlight=False, soft_wrap=True)
        numbered = _NUMBERED.match(message)
        done, total = (int(numbered[1]) - 1, int(numbered[2])) if numbered else (0, None)
        if self._task is not None:
            bar.remove_task(self._task)
        self._task = bar.add_task(_escape(message), total=total, completed=done)

    def _live_bar(self) -> Any:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import (BarColumn, Progress as Bar, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn)

            self._bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            TimeElapsedColumn(), console=Console(file=sys.stderr),
                            transient=True, redirect_stdout=False, redirect_stderr=True)
            self._bar.start()
        return self._bar

    def _start_heartbeat(self) -> None:
        if self._beat is None:
            self._beat = threading.Event()
            threading.Thread(target=_heartbeat, args=(weakref.ref(self), self._beat),
                             name=f"ontrack-progress-{self.stage}", daemon=True).start()

    def beat(self) -> None:
        """Print a ``still ...`` line when the running step has been silent too long."""
        with self._lock:
            message, since = self._last
            now = time.perf_counter()
            if message and now - self._spoke >= HEARTBEAT:
                self._plain(f"still {_lower_first(message)} ({now - since:.0f} s so far)", now)
                self._spoke = now

    def close(self) -> None:
        """Stop the live display and the heartbeat (idempotent); later calls print again."""
        with self._lock:
            if self._beat is not None:
                self._beat.set()
                self._beat = None
            if self._bar is not None:
                self._bar.stop()
                self._bar, self._task = None, None
            self._last = ("", time.perf_counter())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _heartbeat(ref: weakref.ReferenceType[Progress], stop: threading.Event) -> None:
    """Wake a few times per heartbeat; ends when the Progress closes or is garbage
    collected (it holds only a weak reference)."""
    while not stop.wait(min(1.0, HEARTBEAT / 4)):
        progress = ref()
        if progress is None:
            return
        progress.beat()
        del progress


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def finish() -> None:
    """Close every open progress display: call before printing a summary on stdout."""
    for progress in list(_OPEN):
        progress.close()


def table(rows: list[list[str]], header: list[str], *, title: str | None = None) -> str:
    """A table for the terminal: drawn by Rich when stdout is a terminal, else plain
    fixed-width text (what pipes, logs and tests read)."""
    if interactive(sys.stdout):
        return _rich_table(rows, header, title)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=False)).rstrip()  # noqa: E731
    out = [title] if title else []
    out += [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _rich_table(rows: list[list[str]], header: list[str], title: str | None) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    drawn = Table(*header, title=title, title_justify="left", box=box.SIMPLE_HEAD,
                  header_style="bold")
    for row in rows:
        drawn.add_row(*(_escape(str(x)) for x in row))
    width = shutil.get_terminal_size((120, 24)).columns
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=width).print(drawn)
    return buffer.getvalue().rstrip("\n")
