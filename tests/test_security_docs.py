"""docs/security.md names a test for each guarantee: every named test exists, and each
of issue 20's eleven findings has its entry."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")


def test_every_test_the_page_names_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC)
    assert len(named) >= 30
    missing = [f"{path}::{name}" for path, name in named
               if not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)]
    assert not missing, f"docs/security.md must name existing tests. Got {missing} instead."


def test_every_finding_has_an_entry() -> None:
    numbers = [int(n) for n in re.findall(r"^ {0,1}(\d+)\. \*\*", DOC, re.M)]
    assert numbers == list(range(1, 12))
