"""The one module that talks to MLflow: runs, the model registry, aliases, loading.

Where the store is, first match wins: ``tracking.uri`` in the config; the
``MLFLOW_TRACKING_URI`` environment variable (which ``mlflow run`` sets); a SQLite file
``$ONTRACK_HOME/mlflow/mlflow.db`` when ``ONTRACK_HOME`` is set (one store shared by every
command of a project, whatever its ``--out``); else ``OUT/mlflow/mlflow.db``. Artifacts of
the two SQLite defaults sit beside the file in ``mlflow/artifacts`` (no server). Registered models are named ``<prefix>-<model>`` (``ontrack-grade8``). Every
training registers a version with alias ``challenger``; the first version of a model
also becomes ``champion``; ``promote`` moves ``champion`` and records who and why.

Loading (:func:`load_registered`) resolves an alias or version, downloads the bundle and
verifies it against the manifest digest recorded on the registered version, so an
artifact changed in the store after training is refused, the stored pyfunc code file
included (its digest is in the manifest). Nothing is unpickled.
"""

from __future__ import annotations

import getpass
import logging
import os
import sqlite3
import stat
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import ColSpec, Schema

from ontrack.config import Config
from ontrack.errors import OnTrackError
from ontrack.modeling.bundle import (
    LoadedModel,
    ModelIntegrityError,
    load_bundle,
    verify_code,
)
from ontrack.paths import write_atomically

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
MODEL_NAME_IN_RUN = "model"
CHAMPION, CHALLENGER = "champion", "challenger"


# The user's own choice, read before MLflow's set_tracking_uri (which also sets this
# variable) can make one output folder's store look like the user's choice for the next.
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


class RegistryError(OnTrackError):
    """The model registry has no such model, version or alias."""


HOME_VARIABLE = "ONTRACK_HOME"


def default_store(out_dir: Path) -> Path:
    """Folder of the default MLflow store: ``$ONTRACK_HOME/mlflow`` when that variable is
    set (so ``train``, ``promote`` and ``score`` with different ``--out`` folders share one
    registry), else ``OUT/mlflow``."""
    home = os.environ.get(HOME_VARIABLE, "").strip()
    return Path(home or out_dir).expanduser().resolve() / "mlflow"


def tracking_uri(config: Config, out_dir: Path) -> str:
    """The config's tracking URI, else ``MLFLOW_TRACKING_URI``, else the SQLite file of
    :func:`default_store`."""
    if config.tracking.uri:
        return config.tracking.uri
    if _USER_TRACKING_URI:
        return _USER_TRACKING_URI
    return f"sqlite:///{default_store(out_dir) / 'mlflow.db'}"


def _uses_default_store(config: Config) -> bool:
    return not (config.tracking.uri or _USER_TRACKING_URI)


def registered_name(config: Config, model: str) -> str:
    """Registry name of a model, e.g. ``ontrack-grade8``."""
    return f"{config.tracking.registered_model_prefix}-{model}"


def connect(config: Config, out_dir: Path, *, create: bool = True) -> MlflowClient:
    """Point MLflow at the store (creating the default one if asked) and return a client."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    uri = tracking_uri(config, out_dir)
    if _uses_default_store(config):
        store = default_store(out_dir)
        if not create and not (store / "mlflow.db").is_file():
            raise RegistryError(
                f"the model registry must exist at {store / 'mlflow.db'} (the --out "
                "folder given to `ontrack train`, or ONTRACK_HOME, or tracking.uri in the "
                "config: docs/models.md). Got no such file instead."
            )
        store.mkdir(parents=True, exist_ok=True)
        if create:
            _seed_store(store / "mlflow.db")
    mlflow.set_tracking_uri(uri)
    if _USER_TRACKING_URI is None:  # keep the environment as the user left it
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = _USER_TRACKING_URI
    return MlflowClient(tracking_uri=uri)


def _template_folder() -> Path | None:
    """This user's private folder for the migrated empty store (in the system's temp
    folder, mode 0700), or None when it is not private: a store another user could
    write would be trusted by every later training."""
    folder = Path(tempfile.gettempdir()) / f"ontrack-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return folder if mine and stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077 else None


def _seed_store(database: Path) -> None:
    """Start a new default store as a copy of an empty store MLflow created and migrated
    once per MLflow version (creating one runs MLflow's ~100 schema migrations: seconds
    for every new OUT). The copy is made with SQLite's online-backup API and linked in
    place only if no store appeared meanwhile; MLflow checks the schema revision of every
    store it opens. Any failure leaves the creation to MLflow, as without a template."""
    if database.exists():
        return
    folder = _template_folder()
    if folder is None:
        return
    template = folder / f"mlflow-{mlflow.__version__}.db"
    partial = database.with_name(f".{database.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        if not template.is_file():
            _build_template(template)
        _backup(template, partial)
        os.link(partial, database)  # never replaces a store made meanwhile
    except (OSError, sqlite3.Error):
        return
    finally:
        partial.unlink(missing_ok=True)  # also what a failed backup left


def _build_template(template: Path) -> None:
    """Let MLflow create and migrate an empty store in a folder of its own, then put a
    copy at ``template`` (atomically: concurrent builders each put a complete one)."""
    with tempfile.TemporaryDirectory(dir=template.parent) as work:
        fresh = Path(work) / "mlflow.db"
        MlflowClient(tracking_uri=f"sqlite:///{fresh}").search_experiments(max_results=1)
        write_atomically(template, lambda path: _backup(fresh, path))


def _backup(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` to ``target`` with the online-backup API
    (consistent even while the source is open)."""
    with closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)) as reader, \
            closing(sqlite3.connect(target)) as copy:
        reader.backup(copy)


def experiment_id(client: MlflowClient, config: Config, out_dir: Path, model: str) -> str:
    """The experiment of a model, created with artifacts under ``OUT/mlflow`` by default."""
    name = registered_name(config, model)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if _uses_default_store(config):
        location = (default_store(out_dir) / "artifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)


@dataclass(frozen=True)
class Registered:
    """What a training run left in MLflow."""

    run_id: str
    name: str
    version: str
    aliases: tuple[str, ...]


def log_and_register(
    client: MlflowClient,
    config: Config,
    out_dir: Path,
    *,
    model: str,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    artifact_files: Sequence[tuple[str, Path]],
    bundle_dir: Path,
    manifest_sha256: str,
    features: list[str],
    tags: Mapping[str, str],
) -> Registered:
    """One run: params, metrics, aggregate artifacts, the pyfunc; register it.

    ``artifact_files`` lists (artifact folder, file) pairs: aggregates only.
    """
    name = registered_name(config, model)
    exp = experiment_id(client, config, out_dir, model)
    signature = ModelSignature(inputs=Schema([ColSpec("double", f, required=False) for f in features]))
    # Under `mlflow run` (MLFLOW_RUN_ID set) the project's own run is the training run.
    inside_project = bool(os.environ.get("MLFLOW_RUN_ID"))
    with mlflow.start_run(experiment_id=None if inside_project else exp) as run:
        mlflow.set_tags({"ontrack.model": model, **tags})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for folder, path in artifact_files:
            mlflow.log_artifact(str(path), artifact_path=folder)
        with warnings.catch_warnings():  # no input example, on purpose: it is student rows
            warnings.simplefilter("ignore", UserWarning)
            info = _log_pyfunc(bundle_dir, manifest_sha256, signature, name)
        run_id = run.info.run_id

    version = str(info.registered_model_version)
    client.set_model_version_tag(name, version, "manifest_sha256", manifest_sha256)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    # A first version becomes champion on its own only if it passed its gate (§3).
    if not _has_alias(client, name, CHAMPION) and tags.get("gate_passed") == "true":
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "promoted_by", "ontrack (first version)")
        client.set_model_version_tag(name, version, "promoted_why", "no champion existed and it passed its gate")
        aliases.append(CHAMPION)
    return Registered(run_id, name, version, tuple(aliases))


def _log_pyfunc(bundle_dir: Path, manifest_sha256: str, signature: ModelSignature, name: str):  # noqa: ANN202
    """Log the models-from-code pyfunc with the bundle as its only artifact; register it."""
    return mlflow.pyfunc.log_model(
        name=MODEL_NAME_IN_RUN,
        python_model=str(PYFUNC_CODE),
        artifacts={"bundle": str(bundle_dir)},
        model_config={"manifest_sha256": manifest_sha256},
        signature=signature,
        pip_requirements=[f"ontrack=={_version()}"],
        registered_model_name=name,
    )


def _version() -> str:
    from ontrack import __version__

    return __version__


def _has_alias(client: MlflowClient, name: str, alias: str) -> bool:
    try:
        client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return False
    return True


class GateRefusal(OnTrackError):
    """A version that failed its gate may not become champion without --force --why."""


def promote(client: MlflowClient, name: str, version: str, *, why: str, who: str | None = None,
            force: bool = False) -> str:
    """Move ``champion`` to ``version``; record who and why on it. Returns the old one.

    A version that failed its gate (tag ``gate_passed`` not ``true``) is refused with
    the failed checks named, unless ``force``; a forced promotion is recorded on the
    version (``forced``, who, why) and printed on every roster it ranks. A version whose
    bundle does not load and verify against its manifest is refused, forced or not.
    """
    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        raise RegistryError(
            f"model {name} must have version {version} to promote it. Got "
            f"versions {', '.join(_versions(client, name)) or 'none'} instead."
        ) from None
    passed = found.tags.get("gate_passed") == "true"
    if not passed and not force:
        failed = found.tags.get("gate_failed") or "it was registered before the gate existed"
        raise GateRefusal(
            f"version {version} of {name} must pass its gate to become champion. Got a "
            f"failed gate instead: {failed}. Promote it anyway only with --force --why TEXT."
        )
    # A champion must load: a version whose bundle was changed or mixed with another
    # run's (two trainings at once) is refused here, not found broken by the next score.
    load_registered(client, name, str(version))
    previous = ""
    if _has_alias(client, name, CHAMPION):
        previous = str(client.get_model_version_by_alias(name, CHAMPION).version)
    who = who or getpass.getuser()
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promoted_by", who)
    client.set_model_version_tag(name, version, "promoted_why", why)
    client.set_model_version_tag(name, version, "forced", "true" if (force and not passed) else "false")
    if previous:
        client.set_model_version_tag(name, version, "promoted_from_version", previous)
    return previous


def champion_tags(client: MlflowClient, name: str) -> dict | None:
    """The champion's version number and tags, or None when there is no champion."""
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return {"version": str(version.version), **version.tags}


def _versions(client: MlflowClient, name: str) -> list[str]:
    try:
        return sorted((str(v.version) for v in client.search_model_versions(f"name='{name}'")), key=int)
    except MlflowException:
        return []


def resolve(client: MlflowClient, name: str, alias_or_version: str):  # noqa: ANN201
    """The registered version object for an alias (``champion``) or version number."""
    try:
        if str(alias_or_version).isdigit():
            return client.get_model_version(name, str(alias_or_version))
        return client.get_model_version_by_alias(name, alias_or_version)
    except MlflowException:
        raise RegistryError(
            f"model {name} must have {alias_or_version!r} in the registry (train it with "
            f"`ontrack train`). Got versions {', '.join(_versions(client, name)) or 'none'} "
            "instead."
        ) from None


def load_registered(client: MlflowClient, name: str, alias_or_version: str = CHAMPION) -> tuple[LoadedModel, dict]:
    """Download and verify a registered model; return it and its version's tags."""
    version = resolve(client, name, alias_or_version)
    expected = version.tags.get("manifest_sha256")
    if not expected:
        raise ModelIntegrityError(
            f"model {name} version {version.version} must carry a manifest_sha256 tag. "
            "Got none instead: it was not registered by ontrack; refusing to load it."
        )
    # The bundle is read into memory, so its download folder goes when loading ends.
    with tempfile.TemporaryDirectory(prefix="ontrack-model-") as target:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version.version}", dst_path=target,
            tracking_uri=client.tracking_uri,
        )
        model = load_bundle(Path(local) / "artifacts" / "bundle", expected)
        # The pyfunc code MLflow stored beside the bundle is pinned by the manifest too.
        verify_code(Path(local), Path(local) / "artifacts" / "bundle", required=(PYFUNC_CODE.name,))
    return model, {"version": str(version.version), "run_id": version.run_id, **version.tags}
