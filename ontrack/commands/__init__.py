"""One module per CLI command; each defines ``add_parser(subparsers)``.

``ontrack.cli`` imports every module listed in ``COMMAND_MODULES`` that exists and calls
its ``add_parser``, which registers a subcommand and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "synth",
    "validate",
    "indicators",
    "features",
    "import_edfi",
    "train",
    "promote",
    "evaluate",
    "score",
    "report",
    "serve",
    "flow",
)
