"""Markdown (the model card, the datasheet) as HTML that runs nothing.

The card carries text from the data (group labels): raw HTML in it is escaped before
Markdown sees it, and every link or image Markdown makes is checked afterwards.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import markdown
from markdown.treeprocessors import Treeprocessor

SAFE_LINK = re.compile(r"(https?://[^\s<>\"']+|#[A-Za-z0-9_-]*|[A-Za-z0-9_][A-Za-z0-9_./-]*\.html(#[A-Za-z0-9_-]*)?)")


def markdown_html(text: str, images: dict[str, str] | None = None) -> str:
    """A card's Markdown as an HTML fragment that runs nothing.

    Raw HTML is escaped before Markdown sees it; a link keeps its URL only when it is
    ``http(s)://``, ``#anchor`` or a relative ``.html`` page (anything else, e.g.
    ``javascript:`` or ``data:``, becomes its plain text); an image is kept only when
    ``images`` maps its source (``plots/x.png``) to a data URI, else its text is shown.
    """
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    engine = markdown.Markdown(extensions=["tables"])
    engine.treeprocessors.register(_SafeLinks(engine, images or {}), "ontrack_safe_links", 0)
    return engine.convert(safe)


class _SafeLinks(Treeprocessor):
    """Disarm every link and image the card's Markdown produced (see :func:`markdown_html`)."""

    def __init__(self, md: markdown.Markdown, images: dict[str, str]) -> None:
        super().__init__(md)
        self.images = images

    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            if element.tag == "a" and not SAFE_LINK.fullmatch(element.get("href", "").strip()):
                _to_text(element, element.text)
            elif element.tag == "img":
                source = self.images.get(element.get("src", ""))
                if source is None or not source.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")):
                    _to_text(element, element.get("alt", ""))
                else:
                    element.set("src", source)
            for name in [a for a in element.attrib if a.lower().startswith("on")]:
                del element.attrib[name]


def _to_text(element: ET.Element, text: str | None) -> None:
    """Turn a link or image into a plain span holding its text."""
    tail, children = element.tail, list(element)
    element.clear()
    element.tag, element.text, element.tail = "span", text, tail
    element.extend(children)
