"""Layers point inward: every import goes down the data flow, never back up.

From the top: the command line, its commands, the Prefect flows, the pipeline (its
stages declared once), the renderers (reports), scoring, modeling, the declared
features, the data set (as-of views, cohorts, labels, splits), the rule indicators,
validation, the data sources (Ed-Fi, synthetic) and the ground floor (config, tables,
console, errors, model specs). A module may import its own layer or any layer below it.
Only ``ontrack.flows`` imports Prefect;
only ``ontrack.modeling.tracking`` (and the pyfunc it logs) imports MLflow.

The check reads the source with ``ast`` (imports inside functions count too), so it
needs nothing installed and runs in a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Repository folder -> installed package (pyproject.toml's package-dir).
FOLDERS = {"ontrack": "ontrack", "features": "ontrack.features", "flows": "ontrack.flows",
           "reports": "ontrack.reports", "models": "ontrack.models"}
LAYERS: tuple[tuple[str, ...], ...] = (  # top first
    ("ontrack.cli", "ontrack.__main__"),
    ("ontrack.commands",),
    ("ontrack.flows",),
    ("ontrack.pipeline",),
    ("ontrack.reports",),
    ("ontrack.impact",),
    ("ontrack.scoring",),
    ("ontrack.modeling",),
    ("ontrack.features",),
    ("ontrack.dataset",),
    ("ontrack.indicators",),
    ("ontrack.validation",),
    ("ontrack.edfi", "ontrack.synth"),
    ("ontrack.config", "ontrack.pipeline_settings", "ontrack.support_settings",
     "ontrack.paths", "ontrack.locks", "ontrack.district_rules", "ontrack.tables", "ontrack.console",
     "ontrack.errors", "ontrack.models", "ontrack.storage", "ontrack.resources", "ontrack"),
)
ONLY = {"prefect": ("ontrack.flows",), "prefect_dask": ("ontrack.flows",),
        "mlflow": ("ontrack.modeling.tracking", "ontrack.modeling.pyfunc_model")}


def layer_of(module: str) -> int:
    """Index of the layer a module belongs to (0 = top), by its longest prefix."""
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found is None:
        raise AssertionError(f"module {module} must belong to a layer. Got none instead.")
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts[0] = FOLDERS[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def violations(module: str, source: str) -> list[str]:
    """Every upward import of ``module`` and every import of a library reserved for
    another module, in words."""
    out = []
    here = layer_of(module)
    for line, target in imported(source):
        top = target.split(".")[0]
        if top in ONLY and not any(module == m or module.startswith(m + ".") for m in ONLY[top]):
            out.append(f"{module}:{line} imports {target}, which only {', '.join(ONLY[top])} may import")
        if top == "ontrack" and layer_of(target) < here:
            out.append(f"{module}:{line} imports {target}, a layer above it")
    return out


def source_files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def test_every_import_points_down_the_data_flow() -> None:
    problems = [v for path in source_files() for v in violations(module_name(path), path.read_text("utf-8"))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("ontrack.scoring.run", "from ontrack.reports.rosters import write_roster\n", "a layer above it"),
        ("ontrack.dataset.cohorts", "def f():\n    import ontrack.modeling.train\n", "a layer above it"),
        ("ontrack.flows.tasks", "from ontrack.commands.features import run\n", "a layer above it"),
        ("ontrack.scoring.run", "import mlflow\n", "only ontrack.modeling.tracking"),
        ("ontrack.reports.publish", "from prefect import task\n", "only ontrack.flows"),
    ],
)
def test_an_upward_import_is_caught(module: str, source: str, expected: str) -> None:
    found = violations(module, source)
    assert found and expected in found[0]


def test_every_source_file_has_a_layer() -> None:
    for path in source_files():
        layer_of(module_name(path))
