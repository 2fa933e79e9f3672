"""The pipeline's Prefect flows: the stages of ``ontrack.pipeline`` as cached tasks.

Each flow runs declared stages in their declared order: ``refresh`` the weekly ones
(every stage but training), what a district schedules weekly; ``train`` the yearly ones; ``ingest``, ``indicators``, ``score`` and ``report`` one stage
and the stages it needs. A step's cache key is computed from what the stage declares it
depends on (``ontrack.pipeline.key_parts``, the data's digest for a stage that reads the
data directory); a step whose declared outputs are gone recomputes. Each flow publishes
Markdown artifacts (counts only) so the Prefect UI tells the story of the run, and
returns, per step, whether it ``ran`` or came from the ``cache``. A stage that declares
parts (validation per table and partition, in waves that follow the tables' references;
indicators per school year; features per checkpoint and bucket of students; each school's
and counselor's roster files) is driven here and each part submitted to the flow's task
runner: with ``--dask`` they run on the cluster's workers, its plan and combine here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ontrack.flows.caching import (
    content_key,
    directory_digest,
    outputs_missing,
    read_record,
    write_record,
)
from ontrack.flows.tasks import PART_TASKS, TASKS, context, finish
from ontrack.reports.validation import validation_markdown
from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from ontrack import pipeline
from ontrack.config import load_config
from ontrack.storage import local_data


def _key(declared: pipeline.Stage, run: dict, model: str | None) -> str:
    parts = pipeline.key_parts(declared, run["config"], run["out"], model, run["keys"])
    if pipeline.DATA in declared.needs:
        parts["data"] = directory_digest(run["data"])
    return content_key(declared.name, parts)


def _step(declared: pipeline.Stage, run: dict, model: str | None) -> dict:
    """Run one step (unless its JSON record holds its key and its outputs are all there),
    record whether it ran or was cached, return its brief."""
    key = _key(declared, run, model)
    step = declared.step(model)
    run["keys"][step] = key
    cached = None if outputs_missing(declared.output_paths(run["out"], model)) \
        else read_record(run["out"], key)
    if cached is not None:
        run["steps"][step] = "cache"
        return cached
    where = (declared.name, run["data"], run["out"], run["config_path"], model)
    if declared.parts is None:
        brief = TASKS[declared.name](*where, key)  # a whole stage runs in the flow's process
    else:
        brief = _parts(declared.name, where, key)
    write_record(run["out"], key, brief)
    run["steps"][step] = "ran"
    return brief


def _parts(name: str, where: tuple, key: str) -> dict:
    """Drive a stage's parts here (its plan, waves and combine) and submit each part of a
    wave to the flow's task runner (a Dask cluster's workers with ``--dask``), waiting
    for the wave before the next; the stage's brief. With the default runner (threads
    of this process) the drive runs its parts itself, as ``ontrack`` commands do."""
    _stage, data, out, config_path, model = where
    declared = pipeline.stage(name)

    def run_wave(parts: list) -> list:
        futures = [PART_TASKS[name].submit(data, out, config_path, model, part) for part in parts]
        return [future.result() for future in futures]

    # Threads of this process (Prefect's default runner, which starts every task of a
    # wave at once: 2,000 roster files of a 1M district took the flow to 19.5 GB) gain
    # nothing over the stage's own drive, which keeps to the memory limit as the commands do.
    flow_run = FlowRunContext.get()
    here = flow_run is None or isinstance(flow_run.task_runner, ThreadPoolTaskRunner)
    result = pipeline.run_parts(declared.parts, context(data, out, config_path), model, None if here else run_wave)
    return finish(declared, model, key, result)


def _run(names: Sequence[str], data_dir: Path | str, out_dir: Path, config_path: Path | str | None,
         models: Sequence[str] | None = None) -> dict:
    """Run the named stages in declared order; steps, briefs by stage (by model)."""
    config = load_config(config_path)
    run = {"data": local_data(data_dir, out_dir), "out": Path(out_dir), "config": config, "config_path": config_path,
           "keys": {}, "steps": {}, "results": {}}
    chosen = list(config.models) if models is None else list(models)
    for declared in (pipeline.stage(n) for n in pipeline.names() if n in names):
        if declared.per_model:
            result = {m: _step(declared, run, m) for m in chosen}
        else:
            result = _step(declared, run, None)
        run["results"][declared.name] = result
        if declared.name in ARTIFACTS:
            ARTIFACTS[declared.name](result)
    return run


def _validation_artifact(result: dict) -> None:
    create_markdown_artifact(key="validation-summary", markdown=validation_markdown(result["report"]),
                             description="Rows in, accepted and quarantined per table")


def _model_artifact(trained: dict) -> None:
    rows = [f"| {m} | {t['label']} | {t['test_cohorts']} | {t['roc_auc']:.3f} | {t['rule_roc_auc']:.3f} | "
            f"{t['recall_at_rule_rate']:.3f} | {t['rule_recall_at_rule_rate']:.3f} | {t['ece']:.3f} | {t['version']} |"
            for m, t in trained.items()]
    create_markdown_artifact(
        key="model-comparison",
        markdown="# Model vs rule (newest labelled cohort)\n\n| model | label | test cohort | ROC AUC | rule ROC AUC "
                 "| recall @ rule rate | rule recall | ECE | version |\n|---|---|---|---|---|---|---|---|---|\n"
                 + "\n".join(rows) + "\n",
        description="Out-of-time comparison of each trained model with the rule",
    )


def _roster_artifact(scored: dict) -> None:
    rows = [f"| {m} | {r['model_version']} | {r['as_of_date']} | {r['students']:,} | {r['schools']} | "
            + " · ".join(f"{t} {n:,}" for t, n in r["tiers"].items()) + f" | {r['alerts']:,} |"
            for m, r in scored.items()]
    create_markdown_artifact(
        key="roster-counts",
        markdown="# Rosters\n\n| model | version | as of | students | schools | tiers | with alerts |\n"
                 "|---|---|---|---:|---:|---|---:|\n" + "\n".join(rows) + "\n",
        description="Students per tier on the new rosters (counts only)",
    )


# What the UI shows after a stage ran (a stage without an entry publishes nothing).
ARTIFACTS: dict[str, Callable[[dict], None]] = {
    "validate": _validation_artifact, "train": _model_artifact, "score": _roster_artifact,
}


def _steps_artifact(name: str, steps: dict) -> None:
    lines = [f"# {name}", "", "| step | result |", "|---|---|"]
    lines += [f"| {step} | {'recomputed' if how == 'ran' else 'unchanged input: from cache'} |" for step, how in steps.items()]
    create_markdown_artifact(key=f"{name}-steps", markdown="\n".join(lines) + "\n",
                             description="Which steps recomputed and which were unchanged")


@flow(name="ontrack-ingest")
def ingest_flow(data_dir: Path | str, out_dir: Path, config_path: Path | str | None = None) -> dict:
    """Validate a district directory and publish the validation summary."""
    run = _run(pipeline.upto("validate"), data_dir, out_dir, config_path)
    return {"steps": run["steps"], **run["results"]["validate"]["report"]}


@flow(name="ontrack-indicators")
def indicators_flow(data_dir: Path | str, out_dir: Path, config_path: Path | str | None = None) -> dict:
    """Validate, then compute the rule indicators and suppressed rates."""
    return {"steps": _run(pipeline.upto("indicators"), data_dir, out_dir, config_path)["steps"]}


@flow(name="ontrack-train")
def train_flow(data_dir: Path | str, out_dir: Path, config_path: Path | str | None = None,
               models: Sequence[str] | None = None) -> dict:
    """The yearly stages: validate, build features, train + calibrate + evaluate +
    register each model (default: every model of the config)."""
    run = _run(pipeline.names("yearly"), data_dir, out_dir, config_path, models)
    _steps_artifact("train", run["steps"])
    return {"steps": run["steps"], "trained": run["results"]["train"]}


@flow(name="ontrack-score")
def score_flow(data_dir: Path | str, out_dir: Path, config_path: Path | str | None = None,
               models: Sequence[str] | None = None) -> dict:
    """Validate, then score each model's current cohort with its champion."""
    run = _run(pipeline.upto("score"), data_dir, out_dir, config_path, models)
    return {"steps": run["steps"], "scored": run["results"]["score"]}


@flow(name="ontrack-report")
def report_flow(data_dir: Path | str, out_dir: Path, config_path: Path | str | None = None) -> dict:
    """Validate, compute indicators, and render the district report."""
    return {"steps": _run(pipeline.upto("report"), data_dir, out_dir, config_path)["steps"]}


@flow(name="ontrack-refresh")
def refresh_flow(data_dir: Path | str, out_dir: Path, config_path: Path | str | None = None,
                 models: Sequence[str] | None = None) -> dict:
    """The weekly stages, in declared order: every stage but training."""
    run = _run(pipeline.names("weekly"), data_dir, out_dir, config_path, models)
    _steps_artifact("refresh", run["steps"])
    return {"steps": run["steps"]}
