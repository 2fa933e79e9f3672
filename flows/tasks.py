"""Prefect tasks: thin calls into ``ontrack``, cached by content key, returning counts.

Every task takes the ``key`` its flow computed (``flows.caching``) and is cached on it,
so a rerun on unchanged inputs is served from the cache and a change recomputes. Results
are small JSON dicts of counts (never student rows), persisted with the JSON serializer.
Only the steps that read or write the district's files retry.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from prefect import get_run_logger, task

from ontrack.config import load_config


def by_key(_context: object, parameters: dict) -> str:
    """The cache key is the one the flow computed from content."""
    return str(parameters["key"])


CACHED = {"cache_key_fn": by_key, "persist_result": True, "result_serializer": "json"}


@task(name="validate", retries=2, retry_delay_seconds=5, **CACHED)
def validate_task(data_dir: Path, out_dir: Path, config_path: Path | None, key: str) -> dict:
    """Validate the district's files into OUT; the validation report (counts per table)."""
    from ontrack.validation import validate_directory

    report = validate_directory(data_dir, out_dir, load_config(config_path)).to_json()
    tables = report["tables"].values()
    get_run_logger().info("validated %d tables, %d rows quarantined", len(tables),
                          sum(t["rows_quarantined"] for t in tables))
    return {"key": key, "report": report}


@task(name="indicators", **CACHED)
def indicators_task(data_dir: Path, out_dir: Path, config_path: Path | None, key: str) -> dict:
    """Rule indicators and suppressed rates from the validated tables."""
    from ontrack.indicators import run_indicators

    result = run_indicators(data_dir, out_dir, load_config(config_path), reuse_validated=True)
    with open(Path(out_dir) / "indicators" / "rates.csv", encoding="utf-8") as handle:
        rows = sum(1 for _ in handle) - 1
    get_run_logger().info("indicators written: %d rate rows", rows)
    return {"key": key, "rate_rows": rows, "folder": str(Path(out_dir) / "indicators"), "ok": result is not None}


@task(name="features", **CACHED)
def features_task(out_dir: Path, config_path: Path | None, model: str, key: str) -> dict:
    """The model's point-in-time features and labels."""
    from ontrack.dataset.build import write_features

    meta = write_features(out_dir, load_config(config_path), model=model)
    get_run_logger().info("%s features: %d rows x %d features", model, meta["rows"], len(meta["features"]))
    return {"key": key, "model": model, "rows": meta["rows"], "features": len(meta["features"])}


@task(name="train", **CACHED)
def train_task(out_dir: Path, config_path: Path | None, model: str, key: str) -> dict:
    """Train, calibrate, evaluate, audit and register one model."""
    from ontrack.modeling import train_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_model(out_dir, load_config(config_path), model=model)
    e = result.evaluation
    get_run_logger().info("%s registered as version %s", model, e["model_version"])
    return {"key": key, "model": model, "version": e["model_version"], "label": e["label"],
            "roc_auc": e["roc_auc"], "rule_roc_auc": e["baselines"]["rule"]["roc_auc"],
            "recall_at_rule_rate": e["recall_at_rule_rate"],
            "rule_recall_at_rule_rate": e["baselines"]["rule"]["recall_at_rule_rate"],
            "ece": e["ece"], "test_cohorts": e["test_cohorts"]}


@task(name="score", **CACHED)
def score_task(out_dir: Path, config_path: Path | None, model: str, key: str) -> dict:
    """Score the current cohort with the champion; rosters."""
    from ontrack.reports.publish import score_and_publish

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = score_and_publish(out_dir, load_config(config_path), model=model).summary
    get_run_logger().info("%s: %d students scored in %d schools", model, summary["students"], summary["schools"])
    return {"key": key, **{k: summary[k] for k in ("model", "model_version", "as_of_date", "students",
                                                   "schools", "tiers", "alerts", "ranked_by", "ranked_by_reason")}}


@task(name="report", retries=1, retry_delay_seconds=5, **CACHED)
def report_task(out_dir: Path, config_path: Path | None, key: str) -> dict:
    """Render the district report."""
    from ontrack.reports.district import render_report

    index = render_report(out_dir, load_config(config_path))
    get_run_logger().info("report written")
    return {"key": key, "index": str(index)}
