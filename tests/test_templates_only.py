"""Pages are built only by autoescaping Jinja2 templates (reports/templates/): no Python
f-string or ``%``/``.format`` string puts text into HTML markup, where one unescaped
name or ID from the data would become live markup.

The check reads every module's source with ``ast``: an f-string whose literal parts
hold an HTML tag is a finding; so is a ``.format`` or ``%`` on a string literal holding
one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("ontrack", "features", "flows", "reports", "models")
TAG = re.compile(r"<(/?)(html|head|body|div|section|details|summary|table|thead|tbody|tr|td|th|"
                 r"span|a|p|h[1-6]|ul|ol|li|img|svg|g|text|rect|line|path|script|style)[\s>/]",
                 re.IGNORECASE)


def html_built_in_python(source: str) -> list[int]:
    """Line numbers where ``source`` formats text into HTML markup outside a template."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant)
                              and isinstance(v.value, str))
            if TAG.search(literal) and any(isinstance(v, ast.FormattedValue) for v in node.values):
                found.append(node.lineno)
        formatted = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and node.func.attr == "format" and isinstance(node.func.value, ast.Constant))
        percent = isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
        template = node.func.value if formatted else node.left if percent else None
        if template is not None and isinstance(template.value, str) and TAG.search(template.value):
            found.append(node.lineno)
    return sorted(found)


@pytest.mark.parametrize(("source", "lines"), [
    ('x = f"<td>{name}</td>"\n', [1]),
    ('x = "<a href={}>".format(url)\n', [1]),
    ('x = "<li>%s</li>" % item\n', [1]),
    ('x = f"{a} < {b}"\ny = "<td>"  # a constant, nothing formatted into it\n', []),
    ('x = f"risk {risk:.0%} <- up"\n', []),
])
def test_the_check_finds_html_formatted_in_python(source: str, lines: list[int]) -> None:
    assert html_built_in_python(source) == lines


def test_no_page_is_built_outside_a_template() -> None:
    findings = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = html_built_in_python(path.read_text(encoding="utf-8"))
            findings += [f"{path.relative_to(ROOT)}:{n}" for n in lines]
    assert not findings, (
        "HTML must be rendered by a template in reports/templates/ (autoescaped). "
        f"Got markup formatted in Python at {findings} instead."
    )
