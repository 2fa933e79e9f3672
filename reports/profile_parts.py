"""The profile pages of a scoring run, in parts: groups of whole schools.

A school's pages depend only on its own students' rows, so the pages split by school
with the same bytes whichever way they are written:

- in this process (:func:`write_all_profiles` without a task runner): the roster's
  schools in groups sized from ``resources.memory_limit`` (:func:`profile_groups`); a
  group's criteria at every checkpoint are computed once (``warm_criteria``), then its
  schools are split in two halves written by two forked processes when there are many;
- with a task runner (the flows' ``--dask``): each :class:`ProfilePart` is one task,
  :func:`write_profile_part`, a pure function of the part and OUT's files, which computes
  its own students' criteria and writes their pages (a cluster's workers, in parallel).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from ontrack.reports.profiles import profiles_through, write_profiles
from ontrack.reports.workers import can_fork, forked_map

from ontrack.config import Config
from ontrack.resources import duckdb_limit_bytes
from ontrack.scoring.parts import part_count, school_sets
from ontrack.scoring.profile_data import forget_criteria, warm_criteria
from ontrack.scoring.run import ScoreResult

PROFILES_POOL_FROM = 1000  # students: below, one process writes every profile page
# What a group's profiles hold per student while its criteria are computed (the
# student's rows of every table copied into DuckDB): a group is as many students as
# 1/PROFILE_SHARE of DuckDB's share of resources.memory_limit holds.
PROFILE_BYTES_PER_STUDENT = 40_000
PROFILE_SHARE = 2
# A task runner's part: about this many students (computing a part's criteria has a
# fixed cost), and at least two parts of a group of two schools or more.
PART_STUDENTS = 2000


@dataclass(frozen=True)
class ProfilePart:
    """The pages of whole schools: their roster rows and what the run hands the pages
    (small enough to send to a worker; nothing in it is read from an untrusted file)."""

    rows: pd.DataFrame
    run: dict
    through: date
    ranked_by_reason: str | None = None
    contributions: pd.DataFrame | None = None
    base_value: float | None = None


# What warm_criteria keeps is one per process: parts run by threads of one process (a
# flow's default task runner, a Dask worker with several threads) take turns.
_ONE_PART_AT_A_TIME = threading.Lock()


def write_profile_part(out_dir: Path, config: Config, part: ProfilePart) -> int:
    """Write the part's pages (its students' criteria computed here first); the pages written."""
    with _ONE_PART_AT_A_TIME:
        warm_criteria(out_dir, config, part.rows["student_id"].astype(str).tolist(), through=part.through)
        try:
            return _pages(out_dir, config, part)
        finally:
            forget_criteria()


def _pages(out_dir: Path, config: Config, part: ProfilePart) -> int:
    """The part's pages (what was warmed is used); how many."""
    return write_profiles(out_dir, config, part.rows, part.run, ranked_by_reason=part.ranked_by_reason,
                          contributions=part.contributions, base_value=part.base_value, through=part.through).pages


def write_all_profiles(out_dir: Path, config: Config, result: ScoreResult,
                       run_wave: Callable[[list], list] | None = None) -> None:
    """Every rostered student's page: by the task runner ``run_wave`` when given (one
    task per :func:`profile_parts` part), else in this process and two forked writers."""
    through = profiles_through(out_dir, config, result.run)
    reason = result.summary.get("ranked_by_reason")

    def part(rows: pd.DataFrame) -> ProfilePart:
        shap = None if result.contributions is None else result.contributions.loc[rows.index]
        return ProfilePart(rows, result.run, through, reason, shap, result.base_value)

    if run_wave is not None:
        run_wave([part(rows) for rows in profile_parts(result.roster, config)])
        return

    def write(rows: pd.DataFrame) -> None:
        _pages(out_dir, config, part(rows))

    try:
        for group in profile_groups(result.roster, config):
            warm_criteria(out_dir, config, group["student_id"].astype(str).tolist(), through=through)
            if len(group) < PROFILES_POOL_FROM or group["school_id"].nunique() < 2 or not can_fork():
                write(group)
            else:  # both forked writers inherit the group's criteria
                forked_map(write, [group[group["school_id"].astype(str).isin(half)] for half in _halves(group)],
                           workers=2)
    finally:
        forget_criteria()


def profile_groups(roster: pd.DataFrame, config: Config) -> list[pd.DataFrame]:
    """The roster's rows in groups of whole schools (in school order) of at most as many
    students as 1 / :data:`PROFILE_SHARE` of DuckDB's share of ``resources.memory_limit``
    holds at :data:`PROFILE_BYTES_PER_STUDENT` each; a larger school is a group of its own."""
    most = group_size(config)
    groups: list[list[pd.DataFrame]] = [[]]
    size = 0
    for _school, rows in roster.groupby(roster["school_id"].astype(str), sort=True):
        if groups[-1] and size + len(rows) > most:
            groups.append([])
            size = 0
        groups[-1].append(rows)
        size += len(rows)
    return [pd.concat(parts) for parts in groups if parts]


def profile_parts(roster: pd.DataFrame, config: Config) -> list[pd.DataFrame]:
    """A task runner's parts: each :func:`profile_groups` group split into sets of whole
    schools of about :data:`PART_STUDENTS` students (at least two when it has two schools)."""
    parts = []
    for group in profile_groups(roster, config):
        schools = group["school_id"].astype(str)
        count = part_count(schools, PART_STUDENTS)
        parts.extend(group[schools.isin(chosen)] for chosen in school_sets(group["school_id"], count) if chosen)
    return parts


def group_size(config: Config) -> int:
    """The most students of a profile group (:func:`profile_groups`): one group when the roster holds no more."""
    return max(1, duckdb_limit_bytes(config) // PROFILE_SHARE // PROFILE_BYTES_PER_STUDENT)


def _halves(roster: pd.DataFrame) -> list[set[str]]:
    """The schools in two sets of about as many students each: each forked writer gets
    half the pages, whatever the school sizes."""
    return school_sets(roster["school_id"], 2)
