"""One Jinja2 environment for every HTML page ontrack writes (rosters, profiles, the
district report, the model card).

Templates live in ``reports/templates/``; autoescape is on, so every value from the data
reaches a page as escaped text, and StrictUndefined turns a misspelled variable into an
error instead of an empty cell. Pages extend ``_page.html.j2``, the self-contained shell:
a Content-Security-Policy that loads nothing from anywhere, one inlined stylesheet
(``_style.css``) and one inlined sortable-table script (``_sortable.js``). The stylesheet
and the script are read as plain text, never parsed as templates.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Nothing is loaded from anywhere: style and script are inline, images are data: URIs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


@cache
def environment() -> jinja2.Environment:
    """The shared environment, built once per process (templates compile once too)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(
        csp=Markup(CSP),  # a constant of ours: its quotes stay quotes in the attribute
        page_style=Markup(_asset("_style.css")),
        page_script=Markup(_asset("_sortable.js")),
    )
    return env


def template(name: str) -> jinja2.Template:
    """The compiled template ``reports/templates/<name>``."""
    return environment().get_template(name)


def render(name: str, **context: object) -> str:
    """The template ``name`` rendered with ``context`` (autoescaped, strict)."""
    return template(name).render(**context)


def _asset(name: str) -> str:
    """An inlined file (stylesheet or script), made safe to sit inside its element."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"{name} must not contain '</' (it is inlined in the page). Got it instead.")
    return text
