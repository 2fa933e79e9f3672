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

# The project's own documentation of each command, named at the end of its --help.
COMMAND_DOCS: dict[str, tuple[str, ...]] = {
    "demo": ("README.md", "docs/counselors.md"),
    "synth": ("docs/synthetic-district.md",),
    "validate": ("docs/data-contract.md", "docs/validation.md"),
    "indicators": ("docs/indicators.md",),
    "features": ("docs/features.md",),
    "import_edfi": ("docs/edfi-mapping.md",),
    "train": ("docs/models.md",),
    "promote": ("docs/models.md",),
    "evaluate": ("docs/models.md",),
    "score": ("docs/scoring.md", "docs/counselors.md"),
    "report": ("docs/report.md",),
    "serve": ("docs/flows.md",),
    "flow": ("docs/flows.md",),
}


def docs_epilog(name: str) -> str:
    """The line ending a command's --help: where its documentation is."""
    return "documentation: " + ", ".join(COMMAND_DOCS[name]) + " (in the ontrack repository)"


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model NAME``: one of the config's declared models. The parser cannot know a
    district's models before ``--config`` is read, so ``ontrack.cli`` checks the name
    afterwards (:func:`check_model`); the help lists the default models."""
    from ontrack.config import default_models

    parser.add_argument(
        "--model", required=True, metavar="NAME",
        help="a model declared in the config's models: section (default models: "
        f"{', '.join(default_models())})",
    )
    parser.set_defaults(model_parser=parser)


def check_model(args: argparse.Namespace) -> None:
    """An undeclared ``--model`` is a usage error, like any bad choice: exit 2 with
    "model must be one of grade8, grade9. Got 'grade11' instead." A config that cannot
    be read is left to the command, which reports it (exit 1)."""
    from ontrack.config import load_config
    from ontrack.errors import ConfigError

    parser = getattr(args, "model_parser", None)
    if parser is None:
        return
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError:
        return
    try:
        config.model_spec(args.model)
    except ConfigError as err:
        parser.error(str(err))


def path_or_url(text: str) -> Path | str:
    """argparse ``type`` of DATA and ``--config``: a local path, or an fsspec URL
    (``s3://``, ``gs://``, ``abfs://``, ...) kept as text (``Path`` would fold its ``//``).
    The command's stages copy a URL's tables to OUT (``ontrack.storage.local_data``)."""
    from ontrack.storage import is_url

    return text if is_url(text) else Path(text)


def local_out(text: str) -> Path:
    """argparse ``type`` of ``--out``: a local or shared POSIX folder; a URL is a usage
    error (exit 2) saying to mount the bucket instead."""
    from ontrack.errors import ConfigError
    from ontrack.storage import refuse_url_out

    try:
        refuse_url_out(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return Path(text)


def add_data_and_out(parser: argparse.ArgumentParser, *, model: bool = False) -> None:
    """The arguments most commands share: ``DATA``, ``--out OUT`` and, for the model
    commands, ``--model NAME`` (:func:`add_model_option`)."""
    parser.add_argument("data", type=path_or_url, metavar="DATA",
                        help="district data directory, or its URL (s3://, gs://, abfs://, ...)")
    if model:
        add_model_option(parser)
    parser.add_argument("--out", type=local_out, required=True, metavar="OUT",
                        help="output directory (local or a shared filesystem)")
