"""Prefect tasks: derived from the stage declarations of ``ontrack.pipeline``.

``TASKS`` runs a whole stage (one per stage); a stage that declares parts is driven in
the flow's process (its plan, waves and combine: ``ontrack.pipeline.Parts.drive``) and
``PART_TASKS`` runs one of its parts, submitted to the flow's task runner (on a Dask
cluster, a worker). A task's result is never stored by Prefect: Prefect's result
records name their own serializer and a pickle record would be unpickled on a cache
hit. Whether a step is done is kept by the flow in ontrack's own JSON records
(``flows.caching``). A stage declares its retries (those that
read or write the district's files retry). A new stage is new tasks here with no code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ontrack import pipeline
from ontrack.config import load_config

# No Prefect result persistence, no Prefect cache look-up (see the module docstring).
UNCACHED = {"cache_policy": NO_CACHE, "persist_result": False}


def context(data_dir: Path, out_dir: Path, config_path: Path | None) -> pipeline.Context:
    """The run's context as every task (and the flow's driver) builds it."""
    return pipeline.Context(Path(data_dir), Path(out_dir), load_config(config_path))


def run_declared(stage: str, data_dir: Path, out_dir: Path, config_path: Path | None,
                 model: str | None, key: str) -> dict:
    """Run one declared stage (for ``model``); its brief, with the key it ran under."""
    declared = pipeline.stage(stage)
    ctx = context(data_dir, out_dir, config_path)
    return finish(declared, model, key, pipeline.run_stage(declared, ctx, model))


def finish(declared: pipeline.Stage, model: str | None, key: str, result: Any) -> dict:
    """The stage's brief (counts only), logged and stamped with its key and model."""
    brief = declared.brief(result)
    get_run_logger().info("%s done: %s", declared.step(model),
                          ", ".join(f"{k} {v}" for k, v in brief.items() if isinstance(v, int | float)))
    return {"key": key, **({"model": model} if model is not None else {}), **brief}


def run_part(stage: str, data_dir: Path, out_dir: Path, config_path: Path | None,
             model: str | None, part: Any) -> Any:
    """One part of a stage: a pure function of the part and OUT's files (a Dask worker)."""
    split = pipeline.stage(stage).parts
    return split.run(context(data_dir, out_dir, config_path), model, part)


def _task(declared: pipeline.Stage) -> Task:
    return task(run_declared, name=declared.name, retries=declared.retries,
                retry_delay_seconds=5 if declared.retries else 0, **UNCACHED)


TASKS: dict[str, Task] = {declared.name: _task(declared) for declared in pipeline.STAGES}
SPLIT = [declared for declared in pipeline.STAGES if declared.parts is not None]


def _named_part(stage: str) -> Callable[..., Any]:
    """``run_part`` for one stage, named ``<stage>_part``: Dask names its tasks' keys after
    the function, so the scheduler's records tell which stage a task was a part of."""
    def part(data_dir: Path, out_dir: Path, config_path: Path | None, model: str | None,
             part: Any) -> Any:
        return run_part(stage, data_dir, out_dir, config_path, model, part)

    part.__name__ = part.__qualname__ = f"{stage}_part"
    return part


PART_TASKS: dict[str, Task] = {
    d.name: task(_named_part(d.name), name=f"{d.name}-part", retries=d.retries,
                 retry_delay_seconds=5 if d.retries else 0, **UNCACHED) for d in SPLIT}
