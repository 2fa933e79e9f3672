"""The pipeline's Prefect flows: ingest, indicators, features, train, score, report, refresh.

Each flow computes its steps' content keys (``flows.caching``), runs the cached tasks of
``flows.tasks`` and publishes a Markdown artifact (counts only) so the Prefect UI tells
the story of the run. ``refresh`` (ingest -> indicators -> features -> score -> report) is
what a district schedules weekly; ``train`` yearly. Every flow returns, per step,
whether it ``ran`` or came from the ``cache``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from ontrack.flows.caching import content_key, directory_digest, outputs_missing
from ontrack.flows.tasks import (
    features_task,
    indicators_task,
    report_task,
    score_task,
    train_task,
    validate_task,
)
from ontrack.config import load_config
from ontrack.reports.validation import validation_markdown

MODELS: tuple[str, ...] = ("grade8", "grade9")


def _run(step_task, steps: dict, name: str, outputs: list[Path], **kwargs):  # noqa: ANN001, ANN202
    """Run a task (refreshing its cache when its outputs are gone), record whether it
    ran or was cached, return its result."""
    if outputs_missing(outputs):
        step_task = step_task.with_options(refresh_cache=True)
    state = step_task(**kwargs, return_state=True)
    steps[name] = "cache" if state.name == "Cached" else "ran"
    return state.result()


def _keys(data_dir: Path, out_dir: Path, config_path: Path | None) -> dict:
    out = Path(out_dir)
    config = load_config(config_path).config_hash
    validate = content_key("validate", {"data": directory_digest(data_dir), "config": config, "out": out})
    return {"config": config, "validate": validate, "out": out}


def _ingest(data_dir: Path, out_dir: Path, config_path: Path | None, steps: dict, keys: dict) -> dict:
    out = keys["out"]
    result = _run(validate_task, steps, "validate",
                  [out / "validated" / "students.parquet", out / "validation" / "report.json"], data_dir=data_dir, out_dir=out_dir,
                  config_path=config_path, key=keys["validate"])
    create_markdown_artifact(key="validation-summary", markdown=validation_markdown(result["report"]),
                             description="Rows in, accepted and quarantined per table")
    return result


def _indicators(data_dir: Path, out_dir: Path, config_path: Path | None, steps: dict, keys: dict) -> dict:
    out = keys["out"]
    keys["indicators"] = content_key("indicators", {"up": keys["validate"]})
    return _run(indicators_task, steps, "indicators",
                [out / "indicators" / "rates.csv", out / "indicators" / "students.csv"], data_dir=data_dir, out_dir=out_dir,
                config_path=config_path, key=keys["indicators"])


def _features(out_dir: Path, config_path: Path | None, models: Sequence[str], steps: dict, keys: dict) -> dict:
    results = {}
    for model in models:
        key = content_key("features", {"up": keys["validate"], "model": model})
        keys[f"features:{model}"] = key
        results[model] = _run(features_task, steps, f"features {model}",
                              [keys["out"] / "features" / model / "matrix.parquet"], out_dir=out_dir,
                              config_path=config_path, model=model, key=key)
    return results


def _champion(out_dir: Path, config_path: Path | None, model: str) -> str:
    """The champion's version and how it may rank (its cache key), or "none": scoring
    then ranks by the rule."""
    from ontrack.modeling import tracking

    config = load_config(config_path)
    try:
        client = tracking.connect(config, out_dir, create=False)
    except tracking.RegistryError:
        return "none"
    tags = tracking.champion_tags(client, tracking.registered_name(config, model))
    if tags is None:
        return "none"
    return f"{tags['version']}:{tags.get('gate_passed')}:{tags.get('forced')}"


def _score(out_dir: Path, config_path: Path | None, models: Sequence[str], steps: dict, keys: dict) -> dict:
    results = {}
    for model in models:
        key = content_key("score", {"up": keys["validate"], "champion": _champion(out_dir, config_path, model),
                                    "model": model})
        keys[f"score:{model}"] = key
        results[model] = _run(score_task, steps, f"score {model}",
                              [keys["out"] / "rosters" / f"summary_{model}.json"], out_dir=out_dir,
                              config_path=config_path, model=model, key=key)
    rows = [f"| {m} | {r['model_version']} | {r['as_of_date']} | {r['students']:,} | {r['schools']} | "
            + " · ".join(f"{t} {n:,}" for t, n in r["tiers"].items()) + f" | {r['alerts']:,} |"
            for m, r in results.items()]
    create_markdown_artifact(
        key="roster-counts",
        markdown="# Rosters\n\n| model | version | as of | students | schools | tiers | with alerts |\n"
                 "|---|---|---|---:|---:|---|---:|\n" + "\n".join(rows) + "\n",
        description="Students per tier on the new rosters (counts only)",
    )
    return results


def _report(out_dir: Path, config_path: Path | None, steps: dict, keys: dict) -> dict:
    ups = sorted(v for k, v in keys.items() if k == "indicators" or k.startswith("score:"))
    keys["report"] = content_key("report", {"up": ",".join(ups)})
    return _run(report_task, steps, "report", [keys["out"] / "report" / "index.html"], out_dir=out_dir, config_path=config_path, key=keys["report"])


def _steps_artifact(name: str, steps: dict) -> None:
    lines = [f"# {name}", "", "| step | result |", "|---|---|"]
    lines += [f"| {step} | {'recomputed' if how == 'ran' else 'unchanged input: from cache'} |" for step, how in steps.items()]
    create_markdown_artifact(key=f"{name}-steps", markdown="\n".join(lines) + "\n",
                             description="Which steps recomputed and which were unchanged")


@flow(name="ontrack-ingest")
def ingest_flow(data_dir: Path, out_dir: Path, config_path: Path | None = None) -> dict:
    """Validate a district directory and publish the validation summary."""
    steps: dict = {}
    result = _ingest(data_dir, out_dir, config_path, steps, _keys(data_dir, out_dir, config_path))
    return {"steps": steps, **result["report"]}


@flow(name="ontrack-indicators")
def indicators_flow(data_dir: Path, out_dir: Path, config_path: Path | None = None) -> dict:
    """Validate, then compute the rule indicators and suppressed rates."""
    steps: dict = {}
    keys = _keys(data_dir, out_dir, config_path)
    _ingest(data_dir, out_dir, config_path, steps, keys)
    _indicators(data_dir, out_dir, config_path, steps, keys)
    return {"steps": steps}


@flow(name="ontrack-train")
def train_flow(data_dir: Path, out_dir: Path, config_path: Path | None = None,
               models: Sequence[str] = MODELS) -> dict:
    """Validate, build features, train + calibrate + evaluate + register each model."""
    steps: dict = {}
    keys = _keys(data_dir, out_dir, config_path)
    _ingest(data_dir, out_dir, config_path, steps, keys)
    _features(out_dir, config_path, models, steps, keys)
    trained = {}
    for model in models:
        key = content_key("train", {"up": keys[f"features:{model}"], "model": model})
        trained[model] = _run(train_task, steps, f"train {model}",
                              [keys["out"] / "models" / model / "evaluation.json"], out_dir=out_dir,
                              config_path=config_path, model=model, key=key)
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
    _steps_artifact("train", steps)
    return {"steps": steps, "trained": trained}


@flow(name="ontrack-score")
def score_flow(data_dir: Path, out_dir: Path, config_path: Path | None = None,
               models: Sequence[str] = MODELS) -> dict:
    """Validate, then score each model's current cohort with its champion."""
    steps: dict = {}
    keys = _keys(data_dir, out_dir, config_path)
    _ingest(data_dir, out_dir, config_path, steps, keys)
    scored = _score(out_dir, config_path, models, steps, keys)
    return {"steps": steps, "scored": scored}


@flow(name="ontrack-report")
def report_flow(data_dir: Path, out_dir: Path, config_path: Path | None = None) -> dict:
    """Validate, compute indicators, and render the district report."""
    steps: dict = {}
    keys = _keys(data_dir, out_dir, config_path)
    _ingest(data_dir, out_dir, config_path, steps, keys)
    _indicators(data_dir, out_dir, config_path, steps, keys)
    _report(out_dir, config_path, steps, keys)
    return {"steps": steps}


@flow(name="ontrack-refresh")
def refresh_flow(data_dir: Path, out_dir: Path, config_path: Path | None = None,
                 models: Sequence[str] = MODELS) -> dict:
    """The regular run: ingest -> indicators -> features -> score -> report."""
    steps: dict = {}
    keys = _keys(data_dir, out_dir, config_path)
    _ingest(data_dir, out_dir, config_path, steps, keys)
    _indicators(data_dir, out_dir, config_path, steps, keys)
    _features(out_dir, config_path, models, steps, keys)
    _score(out_dir, config_path, models, steps, keys)
    _report(out_dir, config_path, steps, keys)
    _steps_artifact("refresh", steps)
    return {"steps": steps}
