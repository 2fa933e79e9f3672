"""Each chart drawn once per process for the same input.

A chart's SVG depends on nothing but its arguments (numbers, words, colours), and
drawing one with matplotlib costs 10-60 ms. A process that renders the same district
again (the test suite does it dozens of times, a refresh re-renders after a change
elsewhere) gets the SVG it drew before instead of drawing it again.

The key is the arguments themselves, each value tagged with its type and floats by
their ``repr`` (``0.0`` and ``-0.0``, ``2025`` and ``2025.0`` print differently, so
they never share an entry). An argument of any other kind (an array, a frame) is not
keyed: that call simply draws. The kept SVG text is bounded; the oldest goes first.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

# Characters of SVG kept (about 8 MB): a few hundred small charts.
LIMIT = 8_000_000

_KEPT: OrderedDict[tuple, str] = OrderedDict()
_SIZE = [0]
_LOCK = threading.Lock()  # flows may render in worker threads
Draw = TypeVar("Draw", bound=Callable[..., str])


class _NotKeyed(Exception):
    """An argument this memo cannot key exactly."""


def _frozen(value: object) -> object:
    """``value`` as a hashable key that equals another only for the same drawing input."""
    if value is None or isinstance(value, (str, bool, int)):
        return (type(value).__name__, value)
    if isinstance(value, float):
        return (type(value).__name__, repr(value))
    if isinstance(value, (tuple, list)):
        return ("seq", tuple(_frozen(v) for v in value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__qualname__, tuple(_frozen(getattr(value, f.name)) for f in fields))
    raise _NotKeyed(type(value).__name__)


def remembered(draw: Draw) -> Draw:
    """``draw`` (a chart function returning SVG text), remembering its answers."""

    @functools.wraps(draw)
    def drawn_once(*args: object, **kwargs: object) -> str:
        try:
            key = (draw.__qualname__, _frozen(args), _frozen(sorted(kwargs.items())))
        except _NotKeyed:
            return draw(*args, **kwargs)
        with _LOCK:
            if key in _KEPT:
                _KEPT.move_to_end(key)
                return _KEPT[key]
        svg = draw(*args, **kwargs)
        with _LOCK:
            _keep(key, svg)
        return svg

    return drawn_once  # type: ignore[return-value]


def _keep(key: tuple, svg: str) -> None:
    """Keep ``svg`` under ``key``, dropping the oldest entries beyond ``LIMIT`` (under ``_LOCK``)."""
    _SIZE[0] -= len(_KEPT.pop(key, ""))  # another thread drew the same chart meanwhile
    _KEPT[key] = svg
    _SIZE[0] += len(svg)
    while _SIZE[0] > LIMIT and len(_KEPT) > 1:
        _, dropped = _KEPT.popitem(last=False)
        _SIZE[0] -= len(dropped)


def forget() -> None:
    """Drop every kept chart (tests and benchmarks measure the drawing itself)."""
    with _LOCK:
        _KEPT.clear()
        _SIZE[0] = 0


def kept() -> int:
    """How many charts are kept."""
    return len(_KEPT)
