"""Functions stay short: at most 60 lines, unless a comment says why (issue #18, item 9).

A function longer than ``MAX_LINES`` (from its ``def`` to its last line, decorators not
counted) needs a comment on the line right above its ``def`` (or above its first
decorator) starting ``# long:`` and saying why, e.g. one SQL query that is one idea.

Like ``tests/test_layering.py`` it reads the source with ``ast`` over the repository's
folders, so it needs nothing installed and runs in a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("ontrack", "features", "flows", "reports", "models")
MAX_LINES = 60
MARK = "# long:"

def long_functions(source: str) -> list[tuple[str, int]]:
    """(name, lines) of every function longer than MAX_LINES without a ``# long:``
    comment right above it (nested functions and methods included)."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        above = lines[first - 2].strip() if first >= 2 else ""
        if length > MAX_LINES and not above.startswith(MARK):
            found.append((node.name, length))
    return found


def repository_long_functions() -> dict[tuple[str, str], int]:
    """(path, name) -> lines of every unexplained long function in the repository."""
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for name, length in long_functions(path.read_text(encoding="utf-8")):
                found[(relative, name)] = length
    return found


def _function(lines: int, comment: str | None = None) -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 2))
    head = f"{comment}\n" if comment else ""
    return f"{head}def f():\n    '''Doc.'''\n{body}"


def test_the_check_catches_a_long_function_and_accepts_a_reason() -> None:
    assert long_functions(_function(61)) == [("f", 61)]
    assert long_functions(_function(60)) == []
    assert long_functions(_function(61, "# long: one query, one idea")) == []
    assert long_functions(_function(61, "# a comment that gives no reason")) == [("f", 61)]
    method = "class A:\n" + "".join(f"    {line}\n" for line in _function(70).splitlines())
    assert long_functions(method) == [("f", 70)]


def test_no_function_is_longer_than_60_lines_without_a_reason() -> None:
    found = repository_long_functions()
    assert not found, (
        f"functions must be at most {MAX_LINES} lines (or say why in a '{MARK}' comment "
        f"right above the def). Got {sorted(found.items())} instead."
    )
