"""The champion to score with, read without MLflow when the registry is the local default.

``ontrack score`` needs three facts from the registry: which version the alias
``champion`` points at, that version's tags (the manifest digest, the gate, whether it was
forced) and where its bundle is. Through MLflow that costs its import, SQLAlchemy's
store set-up and a copy of the bundle into a temporary folder (about 1.5 s at every
start). When the registry is the default SQLite file (``OUT/mlflow/mlflow.db`` or
``$ONTRACK_HOME/mlflow/mlflow.db``, no ``tracking.uri``, no ``MLFLOW_TRACKING_URI``),
:func:`read_champion` reads those facts with the standard library's ``sqlite3``,
read-only, in one short transaction, and loads the bundle in place.

Why read the registry itself rather than keep a champion record file beside it: the
registry stays the one source of truth (an alias moved from MLflow's UI or API is seen at
once; a record could go stale and would need a second writer in every promote path), and
there is nothing new to keep consistent. It is as safe as MLflow's own path:

- the bundle is verified against the manifest digest recorded on the version (the same
  :func:`ontrack.modeling.bundle.load_bundle`; nothing is unpickled);
- the bundle must lie inside the store's own ``artifacts`` folder, as the default store
  puts it; anything else (another artifact location, a deleted or pending version, an
  alias found in more than one workspace, a schema this reader does not know) is left
  to MLflow: :func:`read_champion` returns :data:`ASK_MLFLOW` and the caller takes the
  usual path.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from ontrack.config import Config
from ontrack.modeling.bundle import LoadedModel, ModelIntegrityError, load_bundle

CHAMPION = "champion"
ASK_MLFLOW = "ask MLflow"  # read_champion's answer when only MLflow can answer safely
HOME_VARIABLE = "ONTRACK_HOME"

_VERSION_SQL = """
SELECT v.version, v.run_id, v.storage_location, v.status, v.current_stage
FROM registered_model_aliases a
JOIN model_versions v ON v.name = a.name AND v.version = a.version
WHERE a.name = ? AND a.alias = ?
"""
_TAGS_SQL = "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?"


def local_store(config: Config, out_dir: Path) -> Path | None:
    """The default store's folder when the registry is the local SQLite default (the
    rule of ``ontrack.modeling.tracking.tracking_uri``); None for any other registry."""
    if config.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    home = os.environ.get(HOME_VARIABLE, "").strip()
    return Path(home or out_dir).expanduser().resolve() / "mlflow"


def read_champion(config: Config, out_dir: Path, name: str) -> tuple[LoadedModel, dict] | tuple[None, None] | str:
    """The verified champion of ``name`` and its version's tags (as
    ``tracking.load_registered`` returns them); (None, None) when the local registry or
    its champion does not exist (scoring then ranks by the rule); :data:`ASK_MLFLOW`
    when the registry is not the local default or this reader cannot be sure."""
    store = local_store(config, out_dir)
    if store is None:
        return ASK_MLFLOW
    database = store / "mlflow.db"
    if not database.is_file():
        return None, None
    try:
        found = _query(database, name)
    except sqlite3.Error:
        return ASK_MLFLOW
    if found is None or isinstance(found, str):
        return (None, None) if found is None else found
    version, run_id, location, tags = found
    bundle = _bundle_path(location, store)
    if bundle is None:
        return ASK_MLFLOW
    expected = tags.get("manifest_sha256")
    if not expected:
        raise ModelIntegrityError(
            f"model {name} version {version} must carry a manifest_sha256 tag. "
            "Got none instead: it was not registered by ontrack; refusing to load it."
        )
    model = load_bundle(bundle, expected, native=True)  # LightGBM's library, not its package
    return model, {"version": version, "run_id": run_id, **tags}


def _query(database: Path, name: str) -> tuple[str, str, str, dict] | str | None:
    """(version, run_id, storage location, tags) of the champion, None without one."""
    con = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        with con:  # one read transaction: the alias and the version's tags agree
            rows = con.execute(_VERSION_SQL, (name, CHAMPION)).fetchall()
            if not rows:
                return None
            if len(rows) > 1:
                return ASK_MLFLOW
            version, run_id, location, status, stage = rows[0]
            if status != "READY" or str(stage).startswith("Deleted") or not location:
                return ASK_MLFLOW
            tags = dict(con.execute(_TAGS_SQL, (name, version)).fetchall())
    finally:
        con.close()
    return str(version), str(run_id or ""), str(location), {str(k): str(v) for k, v in tags.items()}


def _bundle_path(location: str, store: Path) -> Path | None:
    """The bundle folder of a version stored under ``store/artifacts``, else None."""
    parsed = urlparse(location)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    root = Path(unquote(parsed.path)).resolve()
    artifacts = (store / "artifacts").resolve()
    if not root.is_relative_to(artifacts):
        return None
    bundle = root / "artifacts" / "bundle"
    return bundle if bundle.is_dir() else None


def registered_name(config: Config, model: str) -> str:
    """Registry name of a model, e.g. ``ontrack-grade8`` (as ``tracking.registered_name``,
    without importing MLflow)."""
    return f"{config.tracking.registered_model_prefix}-{model}"
