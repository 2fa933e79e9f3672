"""Terminal output: progress on stderr, summaries on stdout, no student rows ever."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints timestamped progress lines to stderr unless quiet.

    Examples
    --------
    >>> say = Progress("validate", quiet=True)
    >>> say("reading schools")  # prints nothing when quiet
    """

    def __init__(self, stage: str, quiet: bool = False) -> None:
        self.stage = stage
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        """Print one progress line with the seconds elapsed since the start."""
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        print(f"[{self.stage} {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain fixed-width text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=False)).rstrip()  # noqa: E731
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)

