"""Dependencies declared as used: every third-party package the runtime code imports
is a dependency in pyproject.toml, and every dependency is imported at run time (or is
a declared pin of another package's dependency)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("ontrack", "features", "flows", "reports", "models")
IMPORT_NAMES = {"scikit-learn": "sklearn", "pyyaml": "yaml", "prefect-dask": "prefect_dask"}
PINS_ONLY = {"fastapi"}  # constrained for prefect's sake (see pyproject.toml), never imported


def _declared(group: list[str]) -> dict[str, str]:
    names = (re.split(r"[<>=!~; \[]", spec, maxsplit=1)[0].lower() for spec in group)
    return {IMPORT_NAMES.get(n, n.replace("-", "_")): n for n in names}


def _imported() -> set[str]:
    found: set[str] = set()
    for folder in RUNTIME:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in RUNTIME}


def test_runtime_imports_are_the_declared_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = _declared(project["dependencies"])
    imported = _imported()
    assert sorted(imported - set(declared)) == [], "imported at run time but not declared"
    unused = {declared[m] for m in set(declared) - imported} - PINS_ONLY
    assert sorted(unused) == [], "declared but never imported at run time"
