"""Prefect tasks: one per stage of ``ontrack.pipeline``, derived from its declaration.

Every task runs its stage through :func:`ontrack.pipeline.run_stage`, takes the ``key``
its flow computed from the stage's declared inputs (``flows.caching``) and is cached on
it, so a rerun on unchanged inputs is served from the cache and a change recomputes.
Results are the stage's declared ``brief`` (small JSON dicts of counts, never student
rows), persisted with the JSON serializer. A stage declares its retries (those that read
or write the district's files retry). A new stage in the declaration is a new task here
with no code.
"""

from __future__ import annotations

from pathlib import Path

from prefect import Task, get_run_logger, task

from ontrack import pipeline
from ontrack.config import load_config


def by_key(_context: object, parameters: dict) -> str:
    """The cache key is the one the flow computed from content."""
    return str(parameters["key"])


CACHED = {"cache_key_fn": by_key, "persist_result": True, "result_serializer": "json"}


def run_declared(stage: str, data_dir: Path, out_dir: Path, config_path: Path | None,
                 model: str | None, key: str) -> dict:
    """Run one declared stage (for ``model``); its brief, with the key it ran under."""
    declared = pipeline.stage(stage)
    context = pipeline.Context(Path(data_dir), Path(out_dir), load_config(config_path))
    brief = declared.brief(pipeline.run_stage(declared, context, model))
    get_run_logger().info("%s done: %s", declared.step(model),
                          ", ".join(f"{k} {v}" for k, v in brief.items() if isinstance(v, int | float)))
    return {"key": key, **({"model": model} if model is not None else {}), **brief}


def _task(declared: pipeline.Stage) -> Task:
    return task(run_declared, name=declared.name, retries=declared.retries,
                retry_delay_seconds=5 if declared.retries else 0, **CACHED)


TASKS: dict[str, Task] = {declared.name: _task(declared) for declared in pipeline.STAGES}
