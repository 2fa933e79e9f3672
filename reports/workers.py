"""The file writers of a scoring run: one school's (or counselor's) files as a pure
function of its arguments, and the forked process pool that writes many of them.

Split from :mod:`ontrack.reports.publish`, which decides what each file holds; this
module only writes and fans out. Forked workers read their arguments from the parent's
memory (nothing pickled on the way in, ontrack already imported), so the parent's peak
memory is what a run costs.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from ontrack.reports.rosters import RosterMeta, write_roster, write_table_csv

# From this many files on, rosters are written by two processes (starting them costs ~2 s).
POOL_FROM = 24


def publish_school(rows: pd.DataFrame, meta: RosterMeta, folder: Path, stem: str,
                   followup: pd.DataFrame | None = None, followup_path: Path | None = None) -> list[Path]:
    """One school's (or counselor's) published files: ``folder/<stem>.csv``, ``.xlsx``,
    ``.html`` and, for a school, its follow-up list at ``followup_path``. A pure function
    of its arguments that writes only its own files (each atomically): the unit that runs
    in a worker process here and that a Dask task can run as it is."""
    paths = list(write_roster(rows, meta, folder, stem).values())
    if followup is not None and followup_path is not None:
        paths.append(write_table_csv(followup, followup_path))
    return paths


def _publish_job(job: tuple) -> list[Path]:
    return publish_school(*job)


def in_process(jobs: list[tuple]) -> list[Path]:
    """Every job's files (:func:`publish_school`) one after the other, in this process."""
    return [path for job in jobs for path in _publish_job(job)]


def run_jobs(jobs: list[tuple]) -> list[Path]:
    """Every school's and counselor's files (:func:`publish_school`); from
    :data:`POOL_FROM` jobs on, in two worker processes. Forked where the system can: a
    forked worker has ontrack imported and reads its jobs from the parent's memory, where
    a spawned one pays ~1.5 s of imports and a pickled copy of every frame. Threads gain
    nothing: rendering is pure Python and holds the GIL (benchmarks/results.md)."""
    workers = min(2, os.cpu_count() or 1)
    if len(jobs) < POOL_FROM or workers < 2:
        return in_process(jobs)
    chunk = max(1, len(jobs) // (8 * workers))
    if can_fork():
        return [path for paths in forked_map(_publish_job, jobs, workers=workers, chunksize=chunk)
                for path in paths]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [path for paths in pool.map(_publish_job, jobs, chunksize=chunk) for path in paths]


def can_fork() -> bool:
    """Whether this system starts worker processes by forking (not on Windows or macOS's default)."""
    return "fork" in multiprocessing.get_all_start_methods()


_FORKED: list[tuple[Callable[[Any], Any], Any]] = []  # (function, argument) a forked worker reads by index


def forked_map(function: Callable[[Any], Any], arguments: list, *, workers: int,
               chunksize: int = 1) -> list:
    """``function`` over ``arguments`` in forked worker processes, which read them from
    this process's memory (nothing pickled on the way in, ontrack already imported).
    Each worker first freezes what it inherited out of the garbage collector's sight
    (``gc.freeze``): the parent's millions of objects are never garbage of the worker's,
    yet every full collection there scanned them all (the XLSX and HTML rosters of the
    6,917-student bench: 2.27 -> 1.78 s and 0.84 -> 0.67 s CPU once frozen)."""
    _FORKED[:] = [(function, argument) for argument in arguments]
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=gc.freeze) as pool:
            return list(pool.map(_forked_call, range(len(arguments)), chunksize=chunksize))
    finally:
        _FORKED.clear()


def _forked_call(index: int) -> Any:
    function, argument = _FORKED[index]
    return function(argument)


# The function a process forked by ``beside`` runs, by key: the forked process reads its own
# copy; a key per call keeps calls from two threads apart.
_BESIDE: dict[int, Callable[[], Any]] = {}
_BESIDE_KEYS = itertools.count()


@contextmanager
def beside(function: Callable[[], Any], *, fork: bool) -> Iterator[Callable[[], Any]]:
    """Start ``function()`` in one forked process, to run while the ``with`` body runs
    in this one; the body calls the yielded ``wait()`` for its result (its error is
    raised there). Without ``fork`` (or where the system cannot fork) ``wait()`` runs
    it here and then. Leaving the body early (an error) still waits for the forked
    process to end, so nothing is left writing into folders the caller removes. The
    forked process freezes what it inherited out of the garbage collector's sight, as
    :func:`forked_map`'s workers do."""
    if not (fork and can_fork()):
        yield function
        return
    key = next(_BESIDE_KEYS)
    _BESIDE[key] = function
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=gc.freeze)
    try:
        yield pool.submit(_beside_call, key).result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        del _BESIDE[key]


def _beside_call(key: int) -> Any:
    return _BESIDE[key]()
