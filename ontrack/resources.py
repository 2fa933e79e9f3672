"""How much of the machine a run may use: the ``resources:`` section and DuckDB connections.

``resources.memory_limit`` (default: half of the machine's memory, or of the container's
limit when it is lower) is the limit of the whole PROCESS. DuckDB gets a fixed share of
it (:data:`DUCKDB_SHARE`, :func:`duckdb_memory_limit`): every DuckDB connection ontrack
opens goes through :func:`connect` (or gets the same settings with :func:`apply`) and
spills to ``resources.temp_directory`` (default: ``OUT/.tmp``) beyond that share. The
rest is left for what else the process holds: Python and its libraries, pandas and
Arrow frames (sized from :func:`outside_duckdb_bytes`), and DuckDB's own allocations
outside its buffer pool. A run then stays within the limit on one machine however large
the district (CONTRACT §5).

The section changes how a run uses the machine, never what it writes: it is left out of
the config hash, like ``engine``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from pydantic import Field, field_validator

from ontrack.settings_base import _Frozen

if TYPE_CHECKING:
    from ontrack.config import Config

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_SHARE = re.compile(r"(\d+(\.\d+)?)\s*%")
CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


class ResourcesConfig(_Frozen):
    """The ``resources:`` section: memory and spill space for every DuckDB connection."""

    memory_limit: str = Field(
        "50%", description="The memory a run's process may use: a share of the machine's "
        "memory (`50%`) or a size (`4GB`, `512MiB`). DuckDB gets 60% of it and spills to "
        "`temp_directory` beyond that; the rest is for Python, pandas and Arrow frames and "
        "DuckDB's allocations outside its buffer pool. When left at its default, an "
        "`engine.memory_limit` the config sets is used instead."
    )
    temp_directory: str | None = Field(
        None, description="Where DuckDB spills when over the limit; default `OUT/.tmp`."
    )
    student_buckets: int = Field(
        1, ge=1, le=4096, description="Each part of the features (see `feature_part_rows`) "
        "is split into this many buckets of students (by a hash of the ID): more buckets, "
        "smaller tasks on a Dask cluster."
    )
    feature_part_rows: int = Field(
        200_000, ge=1, le=100_000_000, description="Features are built in parts of "
        "consecutive checkpoints holding at most this many cohort rows (one part for a "
        "small district; a checkpoint above it is split into more buckets of students)."
    )
    validation_partitions: int = Field(
        1, ge=1, le=4096, description="Each table is validated in this many partitions "
        "(by a hash of its key), each a task on a Dask cluster (`--dask`); the same rows "
        "are accepted and quarantined for any number. One is fastest in one process."
    )

    @field_validator("memory_limit")
    @classmethod
    def _limit(cls, value: str) -> str:
        value = value.strip()
        share = _SHARE.fullmatch(value)
        if share and 0 < float(share.group(1)) <= 100:
            return value
        if not share and _SIZE.fullmatch(value):
            return value
        raise ValueError("resources.memory_limit must be a share of memory between 0 and 100% "
                         f"(`50%`) or a size (`4GB`, `512MiB`). Got {value!r} instead.")


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        text = CGROUP_LIMIT.read_text(encoding="ascii").strip()
    except OSError:
        return total
    return min(total, int(text)) if text.isdigit() else total


def memory_limit(config: Config) -> str:
    """The configured process limit, in DuckDB's words (``"12288MiB"``, ``"4GB"``): a
    share of memory is resolved against :func:`machine_memory`."""
    chosen = config.resources.memory_limit
    if "memory_limit" not in config.resources.model_fields_set and \
            "memory_limit" in config.engine.model_fields_set:
        chosen = config.engine.memory_limit  # the older setting, when only it is set
    share = _SHARE.fullmatch(chosen)
    if share is None:
        return chosen.replace(" ", "")
    return f"{max(1, int(machine_memory() * float(share.group(1)) / 100) >> 20)}MiB"


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
# DuckDB's share of the process limit. DuckDB's RSS runs beyond its own limit (memory its
# buffer pool does not count, growing with the limit: +1.0 GB over 3.8 GB, +0.38 GB over
# 2.3 GB at 1M students), and the interpreter holds ~0.1 GB before any frame: at 60%,
# validating 1M students under 4GB peaked at 2.7-2.9 GB (docs/validation.md, "Within
# the memory limit").
DUCKDB_SHARE = 0.6
DUCKDB_FLOOR = 64 << 20  # DuckDB cannot run a query in much less


def memory_limit_bytes(config: Config) -> int:
    """The configured limit of the whole process, in bytes."""
    size = _SIZE.fullmatch(memory_limit(config))
    if size is None:  # pragma: no cover - validated by ResourcesConfig
        raise ValueError(f"resources.memory_limit must be a size. Got {memory_limit(config)!r} instead.")
    return int(float(size.group(1)) * _UNITS[size.group(2).lower()])


def duckdb_limit_bytes(config: Config) -> int:
    """DuckDB's share of the process limit, in bytes (:data:`DUCKDB_SHARE`, at least
    :data:`DUCKDB_FLOOR`, never more than the limit itself)."""
    total = memory_limit_bytes(config)
    return min(total, max(DUCKDB_FLOOR, int(total * DUCKDB_SHARE)))


def duckdb_memory_limit(config: Config) -> str:
    """The ``memory_limit`` every DuckDB connection is given, in DuckDB's words."""
    return f"{duckdb_limit_bytes(config) >> 20}MiB"


def outside_duckdb_bytes(config: Config) -> int:
    """What the process may hold besides DuckDB's share: the budget for a stage's
    in-memory batches (pandas frames, Arrow tables) and the interpreter itself."""
    return memory_limit_bytes(config) - duckdb_limit_bytes(config)


def temp_directory(config: Config, out: Path | str | None, spill: Path | None = None) -> Path:
    """Where DuckDB spills: ``resources.temp_directory``, else the caller's ``spill``
    folder, else ``OUT/.tmp``, else the system's temporary folder (never the caller's
    working directory)."""
    if config.resources.temp_directory:
        return Path(config.resources.temp_directory)
    if spill is not None:
        return Path(spill)
    if out is not None:
        return Path(out) / ".tmp"
    return Path(tempfile.gettempdir()) / f"ontrack-duckdb-{os.getpid()}"


# DuckDB's settings a connection is given: (memory limit, spill folder, threads or None).
Settings = tuple[str, str, int | None]


def settings(config: Config, out: Path | str | None = None, *, spill: Path | None = None) -> Settings:
    """What :func:`apply` gives a connection for ``config`` (and ``out`` / ``spill``)."""
    return (duckdb_memory_limit(config), str(temp_directory(config, out, spill)), config.engine.threads)


def apply(con: duckdb.DuckDBPyConnection, config: Config, out: Path | str | None = None,
          *, spill: Path | None = None, previous: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """Give an open connection DuckDB's share of the memory limit, the spill folder
    and the threads. ``previous``: what a reused connection was given last; only the
    settings that differ are set again (setting the memory limit costs ~7 ms even
    unchanged)."""
    want = settings(config, out, spill=spill)
    Path(want[1]).mkdir(parents=True, exist_ok=True)
    if previous is None or want[0] != previous[0]:
        con.execute("SET memory_limit = ?", [want[0]])
    if previous is None or want[1] != previous[1]:
        con.execute("SET temp_directory = ?", [want[1]])
    if want[2] != (previous[2] if previous is not None else None):
        con.execute(f"SET threads = {int(want[2])}" if want[2] else "RESET threads")
    return con


def spilling_under(out: Path | str, config: Config | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection for a small read that spills, if ever, under ``OUT/.tmp``
    (DuckDB's own default is ``.tmp`` in the working directory: student rows there),
    within DuckDB's share of ``config``'s memory limit (of the defaults' without one:
    DuckDB's own default, 80% of RAM, would ignore resources.memory_limit)."""
    from ontrack.config import load_config  # ground layer; imported here to keep this module light

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    return apply(con, config or load_config(None), spill=Path(out) / ".tmp")


def connect(config: Config, out: Path | str | None = None, *,
            spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection within the configured resources."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    return apply(con, config, out, spill=spill)


def parts_dir(out: Path | str, stage: str, *keys: str) -> Path:
    """``OUT/.parts/<stage>/<key>...``: where a stage's parts leave what their driver
    combines (OUT is on storage every worker of a cluster shares)."""
    folder = Path(out, ".parts", stage, *keys)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


DASK_LOCAL = re.compile(r"local(?::(\d+))?")
DASK_LOCAL_WORKERS = 2


def dask_local_workers(address: str) -> int | None:
    """How many workers ``--dask local[:N]`` asks for (default 2), or None for a
    scheduler's address (``tcp://host:8786``). Raises ValueError for anything else."""
    found = DASK_LOCAL.fullmatch(address.strip())
    if found is not None:
        workers = int(found.group(1) or DASK_LOCAL_WORKERS)
        if not 1 <= workers <= 256:
            raise ValueError(f"--dask local:N must have N between 1 and 256. Got {address!r} instead.")
        return workers
    if "://" not in address:
        raise ValueError("--dask must be a scheduler's address (tcp://host:8786) or local[:N]. "
                         f"Got {address!r} instead.")
    return None
