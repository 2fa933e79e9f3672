"""One module per CLI command; each defines ``add_parser(subparsers)``.

``ontrack.cli`` imports every module listed in ``COMMAND_MODULES`` that exists and calls
its ``add_parser``, which registers a subcommand and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
from pathlib import Path

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


def add_data_and_out(parser: argparse.ArgumentParser, *, model: bool = False) -> None:
    """The arguments most commands share: ``DATA``, ``--out OUT`` and, for the model
    commands, ``--model grade8|grade9``."""
    parser.add_argument("data", type=Path, metavar="DATA", help="district data directory")
    if model:
        from ontrack.dataset.cohorts import MODEL_GRADES

        parser.add_argument("--model", required=True, choices=list(MODEL_GRADES))
    parser.add_argument("--out", type=Path, required=True, metavar="OUT", help="output directory")
