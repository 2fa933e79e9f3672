"""``ontrack demo [--out DIR]``: the whole product on a synthetic district, one command.

Every stage declared in ``ontrack.pipeline`` runs for real on freshly generated data,
in process, for every model of the config: from validation to the district report,
models trained, calibrated, evaluated and registered in MLflow (the first version
becomes champion) and the current cohort scored into rosters. The summary prints a
line or a few per stage (``SUMMARIES``) and where each output is.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from ontrack import pipeline
from ontrack.config import Config, load_config
from ontrack.console import Progress, finish, table

if TYPE_CHECKING:
    from ontrack.indicators import IndicatorsResult
    from ontrack.modeling.train import TrainResult
    from ontrack.scoring.run import ScoreResult
    from ontrack.validation import ValidationReport


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="generate a synthetic district and run the whole pipeline on it",
        description="Generate a synthetic district, then validate it, compute the "
        "indicators and run every later stage that exists; print where everything is. "
        "Every stage runs for real; the summary says where each output is.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("ontrack-demo"), metavar="DIR",
        help="where the demo writes its data and outputs (default: ./ontrack-demo)",
    )
    parser.add_argument("--students", type=int, default=2000, help="district size (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--years", type=int, default=8,
        help="school years of history (default 8: enough for 3 training cohorts of grade8)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run every declared stage on a synthetic district and print a summary.

    Scoring runs twice: first at the checkpoint before the latest, then at the latest, so
    the rosters show change since the last run, the risk history has two points and the
    follow-up list has what a success team would see in a real week. The supports the
    generator assigns by a cutoff are declared in ``impact.cutoffs`` (unless the config
    declares its own), so the impact stage estimates them at the cutoff too."""
    from ontrack.synth import generate_district

    say = Progress("demo", args.quiet)
    started = time.perf_counter()
    _warm_up()
    data, out = args.out / "data", args.out / "out"
    steps = len(pipeline.STAGES) + 2
    say(f"1/{steps} generating a synthetic district of ~{args.students:,} students in {data}")
    generate_district(data, n_students=args.students, n_years=args.years, seed=args.seed)
    config = _with_synth_cutoffs(load_config(args.config), data)
    stages = pipeline.names()
    before, rest = stages[: stages.index("score")], stages[stages.index("score"):]
    def numbered(first: int) -> Callable[[int, str], None]:
        return lambda index, doing: say(f"{first + index}/{steps} {doing}")

    store = _warm_up(lambda: _open_store(config, out))  # MLflow's start-up, during features
    pre = before[: before.index("train")]
    results = pipeline.run_stages(pre, data, out, config, progress=say, announce=numbered(2))
    store.join()  # training writes to the store: it is ready, or ready to be made again
    results.update(pipeline.run_stages(["train"], data, out, config, progress=say,
                                       announce=numbered(2 + len(pre))))
    earlier = _earlier_checkpoint(out, config)
    if earlier is not None:
        say(f"{len(before) + 2}/{steps} scoring at the checkpoint before ({earlier}), as "
            "a last run, so that this run has a history to compare with")
        _score_history(out, config, earlier, say)
    results.update(pipeline.run_stages(rest, data, out, config, progress=say,
                                       announce=numbered(len(before) + 3)))
    lines = ["", "ontrack demo", "============", f"data:        {data}"]
    for name, result in results.items():
        lines += SUMMARIES[name](result, out) if name in SUMMARIES else []
    lines += _where_to_start(out)
    from ontrack.modeling.tracking import tracking_uri

    lines.append(f"finished in {time.perf_counter() - started:.0f} s")
    bin_dir = _bin_dir()
    lines += [
        "",
        "open the MLflow UI on the runs and the model registry:",
        f"  {bin_dir}mlflow ui --backend-store-uri {tracking_uri(config, out)}",
        "run the same pipeline as Prefect flows, then open the Prefect UI on their runs:",
        f"  {bin_dir}ontrack flow refresh {data} --out {out}",
        f"  {bin_dir}prefect server start   # then http://127.0.0.1:4200",
    ]
    finish()
    print("\n".join(lines))
    return 0


# What the later stages import (LightGBM, scikit-learn, SciPy, MLflow, SHAP's peers):
# 5-13 s of start-up on a busy 2-core machine, paid while the generator and DuckDB work.
WARM_UP = ("ontrack.modeling.train", "ontrack.modeling.tracking", "ontrack.reports.publish")


def _warm_up(work: Callable[[], object] | None = None) -> threading.Thread:
    """Run start-up work in a background thread: by default import the modelling stack
    (imports are thread-safe: a stage that needs a module first waits for it instead of
    importing it twice). A failure is left to the stage that needs the work done."""
    import importlib

    def load() -> None:
        try:
            if work is None:
                for name in WARM_UP:
                    importlib.import_module(name)
            else:
                work()
        except Exception:  # noqa: BLE001 - the stage that needs it reports it
            return

    thread = threading.Thread(target=load, name="ontrack-warm-up", daemon=True)
    thread.start()
    return thread


def _open_store(config: Config, out: Path) -> None:
    """Create (or open) the MLflow store and its tables: 5-20 s on first use."""
    from ontrack.modeling import tracking

    tracking.connect(config, out).search_experiments(max_results=1)


def _with_synth_cutoffs(config: Config, data: Path) -> Config:
    """The config, with the cutoffs the generator assigned support by (``_synth.json``)
    as ``impact.cutoffs`` when the config declares none."""
    from ontrack.config import ImpactConfig, ImpactCutoff
    from ontrack.synth import MARKER

    marker = data / MARKER
    if config.impact.cutoffs or not marker.is_file():
        return config
    declared = json.loads(marker.read_text(encoding="utf-8")).get("interventions", {})
    cutoffs = tuple(ImpactCutoff(**kind["cutoff"]) for kind in declared.values()
                    if isinstance(kind, dict) and "cutoff" in kind)
    impact = ImpactConfig(cutoffs=cutoffs, confidence=config.impact.confidence)
    return config.model_copy(update={"impact": impact})


def _score_history(out: Path, config: Config, as_of: date, say: Callable[[str], None]) -> None:
    """Score every model as of ``as_of`` into the risk history only: the rosters, reasons
    and profiles of that run would be rewritten by the latest run a minute later (the
    latest run reads the earlier one from ``OUT/history``: change, follow-up items)."""
    import warnings

    from ontrack.scoring.run import score_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library internals the user cannot act on
        for model in config.models:
            score_model(out, config, model=model, as_of=as_of, progress=say)


def _earlier_checkpoint(out: Path, config: Config) -> date | None:
    """The district's checkpoint just before the one scoring picks by default."""
    from ontrack.dataset.asof import data_end_date
    from ontrack.dataset.cohorts import cohort_checkpoints
    from ontrack.validation.store import open_validated

    con = open_validated(out, config)
    try:
        points = cohort_checkpoints(con, config, data_end=data_end_date(con))
    finally:
        con.close()
    days = sorted({pd.Timestamp(d).date() for d in points["as_of_date"]})
    return days[-2] if len(days) >= 2 else None


def _where_to_start(out: Path) -> list[str]:
    """Where a counselor starts on Monday: the school with the most to follow up."""
    lists = sorted((out / "followup").glob("*.csv"))
    counts = {path: len(pd.read_csv(path, dtype=str)) for path in lists}
    if not counts:
        return []
    busiest = max(counts, key=lambda path: (counts[path], path.name))
    stem = busiest.stem
    return [
        "",
        "where a counselor starts (Monday morning):",
        f"  1. the follow-up list: {busiest} ({counts[busiest]} items; "
        f"{sum(counts.values())} across {len(counts)} schools)",
        f"  2. the same items atop the roster: {out / 'rosters' / (stem + '.html')}",
        f"  3. each student's page (a click from the roster): {out / 'profiles' / stem}/",
        "  how to read them: docs/counselors.md",
    ]


def _bin_dir() -> str:
    """Where this Python's commands are (``.venv/bin/`` in the checkout, relative when
    it is under the current directory), so the printed commands run as they are."""
    folder = Path(sys.executable).parent
    try:
        return f"{folder.relative_to(Path.cwd())}/"
    except ValueError:
        return f"{folder}/"


def _validated(report: ValidationReport, out: Path) -> list[str]:
    total_in = sum(t.rows_in for t in report.tables.values())
    total_bad = sum(t.rows_quarantined for t in report.tables.values())
    return [f"validation:  {total_in:,} rows read, {total_bad:,} quarantined (the "
            f"generator plants a little realistic mess) -> {out / 'validation'}"]


def _indicators(result: IndicatorsResult, out: Path) -> list[str]:
    from ontrack.commands.indicators import summary

    return [f"indicators:  {out / 'indicators'}"] + [f"  {line}" for line in summary(result).splitlines()]


def _features(metas: dict[str, dict], _out: Path) -> list[str]:
    lines = []
    for model, meta in metas.items():
        labelled = ", ".join(f"{n} {k:,}" for n, k in meta["labels"].items())
        lines.append(
            f"features:    {model}: {meta['rows']:,} student-checkpoints x "
            f"{len(meta['features'])} features; labelled rows: {labelled} -> {meta['folder']}"
        )
    return lines


def _trained(results: dict[str, TrainResult], _out: Path) -> list[str]:
    """One row per model: the gate, the out-of-time comparison with the rule, the
    registered version; then where each model's files are."""
    rows = []
    for model, result in results.items():
        e, rule = result.evaluation, result.evaluation["baselines"]["rule"]
        rows.append([
            model, e["label"], "passed" if e["gate"]["passed"] else "FAILED: the rule ranks",
            ", ".join(str(y) for y in e["test_cohorts"]),
            f"{e['roc_auc']:.3f} vs {rule['roc_auc']:.3f}",
            f"{e['recall_at_rule_rate']:.1%} vs {rule['recall_at_rule_rate']:.1%}",
            f"{e['registered_model']} v{e['model_version']} ({', '.join(e['aliases'])})",
        ])
    header = ["model", "label", "gate", "test cohorts", "ROC AUC vs rule",
              "recall @ rule rate vs rule", "registered"]
    lines = ["models (out of time, against the district's rule):", table(rows, header)]
    return lines + [f"  {model}: {result.folder}" for model, result in results.items()]


def _scored(results: dict[str, ScoreResult], _out: Path) -> list[str]:
    """One row per model's rosters: as-of date, students, tiers, alerts, ranked by."""
    rows = []
    for model, result in results.items():
        s = result.summary
        ranked = "model" if s["ranked_by"] != "rule" else f"rule ({s['ranked_by_reason']})"
        rows.append([model, str(s["as_of_date"]), f"{s['students']:,}", str(s["schools"]),
                     ", ".join(f"{k} {v:,}" for k, v in s["tiers"].items()),
                     f"{s['alerts']:,}", ranked])
    header = ["rosters", "as of", "students", "schools", "tiers", "alerts", "ranked by"]
    lines = [table(rows, header)]
    return lines + [f"  {model}: {result.folder}" for model, result in results.items()]


def _impact(result: dict, out: Path) -> list[str]:
    lines = [f"impact:      {out / 'impact' / 'impact.json'}"]
    if result.get("why"):
        return lines + [f"  {result['why']}"]
    for kind in result["interventions"]:
        lines.append(f"  {kind['intervention_type']}: " + _effect_words(kind["matched"], "compared"))
        for cut in kind["discontinuity"]:
            lines.append(f"    at the cutoff ({cut['variable']} {cut['treated']} {cut['threshold']} "
                         f"as of {cut['as_of']}): " + _effect_words(cut, "estimated"))
    return lines


def _effect_words(entry: dict, verb: str) -> str:
    if entry.get("effect") is None:
        return str(entry.get("why") or "no estimate")
    return (f"{verb} {entry['effect'] * 100:+.1f} points on track "
            f"({entry['ci_low'] * 100:+.1f} to {entry['ci_high'] * 100:+.1f})")


def _reported(index: Path, _out: Path) -> list[str]:
    return [f"report:      open {index} in a browser (self-contained, works offline)"]


# The demo's summary line(s) per stage; a stage without an entry prints none.
SUMMARIES: dict[str, Callable[[Any, Path], list[str]]] = {
    "validate": _validated, "indicators": _indicators, "features": _features,
    "train": _trained, "score": _scored, "impact": _impact, "report": _reported,
}
