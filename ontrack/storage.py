"""District data on object storage: DATA (and ``--config``) given as an fsspec URL.

The validation reads tables with DuckDB from a local folder and writes beside OUT with
locks and atomic renames, so a URL such as ``s3://bucket/district`` is not read in
place: :func:`local_data` copies the contract's table files (``NAME.csv`` /
``NAME.parquet``) into a staging folder under OUT, ``OUT/.tmp/data/<sha256 of the URL>/``,
and the run reads that folder. A file whose listing (size, and whatever the store offers:
ETag, checksum, generation, modification time) is unchanged since the last copy is not
copied again, so the nightly refresh of an unchanged bucket downloads nothing.

OUT itself must be a local or shared POSIX folder (a mounted bucket works): a URL for OUT
is refused. Credentials are whatever the protocol's package reads (for s3fs: the AWS
environment variables, ``~/.aws``, an instance role); a URL is never shown with its
``user:password@`` part nor its ``?query``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from ontrack.errors import ConfigError
from ontrack.locks import exclusive
from ontrack.paths import write_atomically
from ontrack.tables import TABLE_ORDER

# scheme://... with a scheme of two letters or more (so C:/ is never taken for one).
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)://(?P<rest>.*)$", re.DOTALL)
TABLE_FILES: frozenset[str] = frozenset(
    f"{table}.{suffix}" for table in TABLE_ORDER for suffix in ("csv", "parquet")
)
SOURCES = ".sources.json"  # in the staging folder: what each staged file was copied from
OUT_REFUSED = (
    "OUT must be a local folder or a shared POSIX filesystem (ontrack takes locks, renames "
    "files atomically and stages data there). Got {out} instead: mount the bucket (e.g. "
    "s3fs-fuse, gcsfuse, blobfuse2) or use a shared filesystem such as NFS or EFS, and "
    "pass that folder as --out."
)


def is_url(text: object) -> bool:
    """Whether ``text`` is an fsspec URL (``s3://``, ``gs://``, ``memory://``, ...)
    rather than a local path. A ``pathlib.Path`` is always a local path."""
    return isinstance(text, str) and _URL.match(text) is not None


def shown(url: str) -> str:
    """``url`` safe to print: without a ``user:password@`` part, a query or a fragment.
    (A user name alone, like the container of ``abfs://container@account/...``, stays.)"""
    found = _URL.match(url)
    if found is None:
        return url
    rest = re.split(r"[?#]", found["rest"], maxsplit=1)[0]
    host, slash, path = rest.partition("/")
    if "@" in host:
        userinfo, _, hostname = host.rpartition("@")
        host = hostname if ":" in userinfo else f"{userinfo}@{hostname}"
    return f"{found['scheme']}://{host}{slash}{path}"


def filesystem(url: str, what: str = "DATA") -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path inside it. A protocol whose package
    is missing (s3fs, gcsfs, adlfs, ...) is a ConfigError naming the package to install."""
    import fsspec
    from fsspec.registry import known_implementations

    scheme = _URL.match(url)["scheme"].lower()  # type: ignore[index]
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError:
        known = known_implementations.get(scheme, {})
        package = known.get("class", scheme).split(".")[0]
        raise ConfigError(
            f"reading {scheme}:// paths needs the {package} package: pip install {package}. "
            f"Got {what}={shown(url)} ."
        ) from None
    except ValueError:  # fsspec: "Protocol not known"
        raise ConfigError(
            f"{what} must be a local path or a URL of a storage fsspec knows (s3://, gs://, "
            f"abfs://, az://, ...). Got {what}={shown(url)} instead."
        ) from None


def read_text(url: str, what: str = "--config") -> str:
    """The text (UTF-8, BOM tolerated) of the file at ``url``."""
    fs, path = filesystem(url, what)
    try:
        with fs.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{what} must name a readable file. Got {shown(url)} instead "
            f"({type(err).__name__})."
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} must be UTF-8 text. Got {shown(url)} instead.") from None


def refuse_url_out(out: object) -> None:
    """OUT as a URL is refused with the reason and what to do instead."""
    if is_url(out):
        raise ConfigError(OUT_REFUSED.format(out=shown(str(out))))


def local_data(data: Path | str, out: Path | str,
               progress: Callable[[str], None] | None = None) -> Path:
    """DATA as a local folder: a local path unchanged; a ``file://`` URL as its path; any
    other URL copied (its table files only, unchanged ones skipped) into
    ``OUT/.tmp/data/<sha256 of the URL>/``, which is returned."""
    if not is_url(data):
        return Path(data)
    url = str(data)
    refuse_url_out(out)
    fs, root = filesystem(url)
    if _is_local(fs):
        return Path(root)
    say = progress or (lambda _msg: None)
    staging = Path(out) / ".tmp" / "data" / hashlib.sha256(url.encode()).hexdigest()
    listed = _table_files(fs, root, url, say)
    with exclusive(staging.with_name(staging.name + ".lock"), what="copying DATA", wait=True,
                   waiting=say):
        staging.mkdir(parents=True, exist_ok=True)
        _sync(fs, listed, staging, url, say)
    return staging


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def _table_files(fs: Any, root: str, url: str, say: Callable[[str], None]) -> dict[str, dict]:
    """The contract's table files in the folder at ``url``: file name -> listing entry."""
    fs.invalidate_cache(root)  # a long-lived process (serve, a worker) must see new files
    try:
        entries = fs.ls(root, detail=True) if fs.isdir(root) else None
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"DATA must be a folder of district tables that can be listed. Got {shown(url)} "
            f"instead ({type(err).__name__})."
        ) from None
    if entries is None:
        raise ConfigError(
            f"DATA must be a folder of district tables. Got {shown(url)} instead: "
            "it does not exist or is not a folder."
        )
    files = {PurePosixPath(e["name"]).name: e for e in entries if e.get("type") == "file"}
    tables = {name: entry for name, entry in files.items() if name in TABLE_FILES}
    others = len(files) - len(tables)
    if others:
        say(f"{shown(url)}: ignoring {others} file(s) that are not contract tables")
    return tables


def fingerprint(entry: dict) -> str:
    """What identifies one version of a listed file: a hash of everything the store's
    listing says about it (size, ETag / checksum / generation, modification time)."""
    text = json.dumps(entry, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _sync(fs: Any, listed: dict[str, dict], staging: Path, url: str,
          say: Callable[[str], None]) -> None:
    """Make ``staging`` hold exactly the listed files, copying only changed ones."""
    record_path = staging / SOURCES
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}

    def save() -> None:
        text = json.dumps(record, indent=1, sort_keys=True)
        write_atomically(record_path, lambda temporary: temporary.write_text(text, encoding="utf-8"))

    for stale in staging.iterdir():  # tables gone from the store, files of killed copies
        if stale.name not in listed and stale.name != SOURCES:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            record.pop(stale.name, None)
    wanted = {name: {"size": entry.get("size"), "fingerprint": fingerprint(entry)}
              for name, entry in listed.items()}
    changed = [name for name, seen in sorted(wanted.items())
               if record.get(name) != seen or not _has_size(staging / name, seen["size"])]
    if not changed:
        say(f"DATA {shown(url)}: {len(wanted)} table file(s) unchanged since the last copy")
    for number, name in enumerate(changed, 1):
        say(f"copying {name} from {shown(url)} ({number} of {len(changed)})")
        remote = listed[name]["name"]
        write_atomically(staging / name, partial(_download, fs, remote))
        record[name] = wanted[name]
        save()  # a killed run keeps what it copied
    record = {name: seen for name, seen in record.items() if name in listed}
    save()


def _has_size(path: Path, size: object) -> bool:
    try:
        return size is None or path.stat().st_size == size
    except OSError:
        return False


def _download(fs: Any, remote: str, temporary: Path) -> None:
    with fs.open(remote, "rb") as source, open(temporary, "wb") as target:
        shutil.copyfileobj(source, target, 8 * 1024 * 1024)
