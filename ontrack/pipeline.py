"""The pipeline, declared once: every stage, what it reads, writes and is keyed on.

:data:`STAGES` lists the stages in the order they run. Each :class:`Stage` names the
core function it runs, what it reads (the district's data directory, earlier stages),
the files it writes under OUT, the parameters it accepts and what its cache key depends
on. Everything that runs the pipeline reads this one list:

- :func:`run_stages` runs stages in process: each CLI command runs its stage and the
  stages it needs (``ontrack features`` validates, then builds features), and
  ``ontrack demo`` runs them all;
- ``ontrack.flows`` wraps each stage as a Prefect task cached on :func:`key_parts`, and
  its refresh and train flows run the stages of a :attr:`Stage.cadence`.

A stage that declares :class:`Parts` (validation per table and partition, indicators per
school year, features per checkpoint and bucket of students, scoring and profile pages
per group of whole schools, each school's roster files)
runs them in this process, and in the flows as tasks of their task runner (``--dask``).

Adding a stage is adding one entry to :data:`STAGES`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ontrack.config import Config
from ontrack.errors import ConfigError
from ontrack.locks import exclusive
from ontrack.storage import local_data

DATA = "data"  # the district's data directory: an input that is not a stage
Say = Callable[[str], None]


@dataclass(frozen=True)
class Context:
    """What every stage of one run shares: where the data is, OUT, the config."""

    data: Path
    out: Path
    config: Config
    progress: Say = field(default=lambda _msg: None)


RunWave = Callable[[list], list]  # runs a wave's parts; their partials, in order


@dataclass(frozen=True)
class Parts:
    """How a stage splits into parts, in ordered waves (declared once, run two ways).

    ``drive(ctx, model, run_wave, **params)`` is the stage: it plans, hands each wave of
    parts to ``run_wave(parts)`` (a wave's parts are independent of each other; a later
    wave may read what an earlier one wrote or returned), combines the partials and
    writes the stage's outputs. ``run(ctx, model, part, **params)`` computes one part, a
    pure function of its part (a small value) and OUT's files. In process ``run_wave`` is
    None: the drive runs the parts here itself (one after the other, on one connection or
    a local process pool); the flows pass one that submits each part to their task runner
    (a Dask cluster's workers) and waits for the wave. Both run the same ``run``.
    """

    drive: Callable[..., Any]
    run: Callable[..., Any]
    run_params: tuple[str, ...] = ()  # the stage's parameters run() takes

    def __call__(self, ctx: Context, model: str | None, **params: Any) -> Any:
        """The stage run in this process: its drive, running the parts itself."""
        return self.drive(ctx, model, None, **params)


def single_wave(plan: Callable[..., list], run: Callable[..., Any], combine: Callable[..., Any], *,
                plan_params: tuple[str, ...] = (), run_params: tuple[str, ...] = (),
                combine_params: tuple[str, ...] = ()) -> Parts:
    """The parts of a stage of one wave: ``plan(ctx, model)`` lists them, ``combine(ctx,
    model, partials)`` turns their partials, in plan order, into the stage's result."""
    def drive(ctx: Context, model: str | None, run_wave: RunWave | None, **params: Any) -> Any:
        parts = plan(ctx, model, **only(params, plan_params))
        partials = [run(ctx, model, p, **only(params, run_params)) for p in parts] \
            if run_wave is None else run_wave(parts)
        return combine(ctx, model, partials, **only(params, combine_params))
    return Parts(drive, run, run_params)


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline, declared as data (see the module docstring)."""

    name: str
    run: Callable[..., Any]  # run(context, model, **params) -> the core function's result; a
    # stage that splits into parts is its Parts (called, it drives them in this process)
    doing: str  # what it does, in words ("{model}" filled in per model)
    needs: tuple[str, ...] = ()  # earlier stages (or DATA) that must have run
    uses: tuple[str, ...] = ()  # earlier stages it also reads when they ran
    outputs: tuple[str, ...] = ()  # paths under OUT ("{model}" filled in per model)
    per_model: bool = False  # runs once per model of ``config.models``
    params: tuple[str, ...] = ()  # keyword parameters a caller may pass
    key_on: tuple[str, ...] = ()  # what its cache key depends on besides its inputs
    cadence: tuple[str, ...] = ()  # the scheduled runs it belongs to ("weekly", "yearly")
    brief: Callable[[Any], dict] = field(default=lambda _result: {})  # counts only
    retries: int = 0  # retries when it runs as a task (it reads or writes the district's files)

    @property
    def parts(self) -> Parts | None:
        """How the stage splits into parts, or None when it runs whole."""
        return self.run if isinstance(self.run, Parts) else None

    def output_paths(self, out: Path, model: str | None = None) -> list[Path]:
        """The files this stage writes under ``out`` (for ``model``)."""
        return [Path(out) / p.format(model=model) for p in self.outputs]

    def step(self, model: str | None = None) -> str:
        """The step's name in progress and flow results: ``features grade8``."""
        return f"{self.name} {model}" if self.per_model else self.name


def _quiet(call: Callable[[], Any]) -> Any:
    """Training and scoring warn about library internals the user cannot act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def _validation(ctx: Context, _model: None, run_wave: RunWave | None) -> Any:
    from ontrack.indicators.run import FINGERPRINT_FILE, rules_fingerprint
    from ontrack.validation.reuse import validate_or_reuse

    # Reused when the data's content digest and the rules fingerprint (the marker: the
    # rules the tables were read with) match the stored validation; else validated again,
    # in waves of jobs: prepare every table, then check and finish level by level.
    return validate_or_reuse(ctx.data, ctx.out, ctx.config, rules_fingerprint(ctx.config),
                             marker=FINGERPRINT_FILE, progress=ctx.progress, run_wave=run_wave)


def _validation_job(ctx: Context, _model: None, job: Any) -> Any:
    from ontrack.validation.run import run_job

    return run_job(ctx.data, ctx.out, ctx.config, job)


VALIDATION_PARTS = Parts(_validation, _validation_job)


def _indicator_year(ctx: Context, _model: None, year: int | None, as_of: Any = None) -> Any:
    from ontrack.indicators.by_year import year_part

    ctx.progress(f"computing student indicators of {year}")
    return year_part(ctx.out, ctx.config, year, as_of)


def _indicators(ctx: Context, _model: None, run_wave: RunWave | None, as_of: Any = None) -> Any:
    """The indicators stage: a task runner gets one part per school year; in this
    process a small district's years are one pass (``compute_years``)."""
    from ontrack.indicators.run import combine_years, compute_years, indicator_years, must_reuse

    must_reuse(ctx.out, ctx.config)  # the validate stage wrote OUT/validated with these rules
    years = indicator_years(ctx.out, ctx.config)
    if run_wave is None:
        for year in years:
            ctx.progress(f"computing student indicators of {year}")
    parts = run_wave(years) if run_wave is not None else compute_years(ctx.out, ctx.config, years, as_of)
    return combine_years(ctx.out, ctx.config, parts, as_of=as_of, progress=ctx.progress)


INDICATOR_PARTS = Parts(_indicators, _indicator_year, run_params=("as_of",))


def _feature_parts(ctx: Context, model: str, **params: Any) -> list:
    from ontrack.dataset.build import plan_features

    return plan_features(ctx.out, ctx.config, model=model, progress=ctx.progress, **params)


def _feature_part(ctx: Context, model: str, part: dict, feature_set: str | None = None) -> dict:
    from ontrack.dataset.build import feature_part

    return feature_part(ctx.out, ctx.config, model=model, part=part, feature_set=feature_set,
                        progress=ctx.progress)


def _features_combined(ctx: Context, model: str, parts: list, **params: Any) -> dict:
    from ontrack.dataset.build import combine_features

    return combine_features(ctx.out, ctx.config, parts, model=model, progress=ctx.progress, **params)


FEATURE_PARTS = single_wave(_feature_parts, _feature_part, _features_combined,
                            plan_params=("as_of_dates", "school_years", "data_end"),
                            run_params=("feature_set",), combine_params=("feature_set", "data_end"))


def _train(ctx: Context, model: str, target: str | None = None, split_kind: str | None = None) -> Any:
    from ontrack.modeling import train_model

    lock = ctx.out / "models" / model / ".train.lock"  # two trainings of a model would mix files
    with exclusive(lock, what=f"`ontrack train --model {model}`", wait=False):
        return _quiet(lambda: train_model(ctx.out, ctx.config, model=model, target=target,
                                          split_kind=split_kind, progress=ctx.progress))


def _scoring(ctx: Context, model: str, run_wave: RunWave | None, as_of: Any = None) -> Any:
    from ontrack.reports.publish import score_and_publish

    # Rosters of a school hold every model: one scoring run at a time per OUT, the next waits.
    # Parts, in waves: the features, risks and reasons of a group of whole schools; who
    # ranks, tiers and history here; the profile pages of a group of schools; then each
    # school's and counselor's files (publish_school) written into the run's staging
    # folder, swapped in here once every part is done.
    with exclusive(ctx.out / "rosters" / ".score.lock", what="`ontrack score`", wait=True,
                   waiting=ctx.progress):
        return _quiet(lambda: score_and_publish(ctx.out, ctx.config, model=model, as_of=as_of,
                                                progress=ctx.progress, run_wave=run_wave))


def _score_part(ctx: Context, _model: str, job: Any) -> Any:
    from ontrack.reports.publish import publish_part

    return publish_part(ctx.out, ctx.config, job)


SCORE_PARTS = Parts(_scoring, _score_part)


def _impact(ctx: Context, _model: None) -> dict:
    from ontrack.impact import run_impact

    return _quiet(lambda: run_impact(ctx.out, ctx.config, progress=ctx.progress))


def _report(ctx: Context, _model: None, pair: Any = None) -> Path:
    from ontrack.reports.district import render_report

    return render_report(ctx.out, ctx.config, pair=pair, progress=ctx.progress)


def _trained(result: Any) -> dict:
    e, rule = result.evaluation, result.evaluation["baselines"]["rule"]
    return {"version": e["model_version"], "label": e["label"], "roc_auc": e["roc_auc"],
            "rule_roc_auc": rule["roc_auc"], "recall_at_rule_rate": e["recall_at_rule_rate"],
            "rule_recall_at_rule_rate": rule["recall_at_rule_rate"], "ece": e["ece"],
            "test_cohorts": e["test_cohorts"]}


SCORE_COUNTS = ("model", "model_version", "as_of_date", "students", "schools", "tiers", "alerts",
                "ranked_by", "ranked_by_reason")

STAGES: tuple[Stage, ...] = (
    Stage("validate", VALIDATION_PARTS, "validating every table", needs=(DATA,),
          outputs=("validated/students.parquet", "validation/report.json"),
          cadence=("weekly", "yearly"), retries=2,
          brief=lambda r: {"report": r.to_json()}),
    Stage("indicators", INDICATOR_PARTS, "computing the rule-based indicators", needs=("validate",),
          outputs=(*(f"indicators/{n}.csv" for n in ("students", "rates", "suppression", "lowest_group")),
                   "indicators/_complete.json"),  # written last: a flow reruns a killed run's step
          params=("as_of",), cadence=("weekly",),
          brief=lambda r: {"rate_rows": r.n_rates, "folder": str(r.rates_path.parent)}),
    Stage("features", FEATURE_PARTS, "building the {model} feature matrix and labels", needs=("validate",),
          outputs=tuple(f"features/{{model}}/{n}" for n in
                        ("matrix.parquet", "cohort.parquet", "dictionary.csv", "meta.json",
                         "_complete.json")),
          per_model=True, params=("feature_set", "as_of_dates", "school_years", "data_end"),
          cadence=("weekly", "yearly"),
          brief=lambda m: {"rows": m["rows"], "features": len(m["features"])}),
    Stage("train", _train, "training, calibrating and evaluating {model} against the rule",
          needs=("features",), outputs=("models/{model}/evaluation.json",), per_model=True,
          params=("target", "split_kind"), cadence=("yearly",), brief=_trained),
    Stage("score", SCORE_PARTS, "scoring the current {model} cohort with the champion", needs=("validate",),
          outputs=("rosters/summary_{model}.json",), per_model=True, params=("as_of",),
          key_on=("champion",), cadence=("weekly",),
          brief=lambda r: {k: r.summary[k] for k in SCORE_COUNTS}),
    Stage("impact", _impact, "estimating whether support helped", needs=("validate", "indicators"),
          uses=("score",), outputs=("impact/impact.json",), cadence=("weekly",),
          brief=lambda r: {"status": r["status"], "types": len(r["interventions"])}),
    Stage("report", _report, "rendering the district report", needs=("indicators",),
          uses=("score", "impact"),
          outputs=("report/index.html",), params=("pair",), cadence=("weekly",), retries=1,
          brief=lambda index: {"index": str(index)}),
)


def stage(name: str) -> Stage:
    """The declared stage called ``name``."""
    for declared in STAGES:
        if declared.name == name:
            return declared
    raise ConfigError(f"a stage must be one of {', '.join(names())}. Got {name!r} instead.")


def names(cadence: str | None = None) -> list[str]:
    """Every stage's name in run order, or those of one cadence ("weekly", "yearly")."""
    return [s.name for s in STAGES if cadence is None or cadence in s.cadence]


def upto(target: str, *, given: Iterable[str] = ()) -> list[str]:
    """``target`` and every stage it needs, in run order, leaving out the stages
    ``given`` (their outputs are reused from an earlier run)."""
    wanted, todo = set(), [target]
    while todo:
        name = todo.pop()
        if name != DATA and name not in wanted:
            wanted.add(name)
            todo.extend(stage(name).needs)
    skip = set(given)
    return [n for n in names() if n in wanted and n not in skip]


def run_stage(declared: Stage, ctx: Context, model: str | None = None, **params: Any) -> Any:
    """Run one stage (for ``model`` when it runs per model) and return its core result."""
    unknown = sorted(set(params) - set(declared.params))
    if unknown:
        raise ConfigError(f"the {declared.name} stage's parameters must be among "
                          f"{list(declared.params)}. Got {unknown} instead.")
    if declared.per_model and model is None:
        raise ConfigError(f"the {declared.name} stage must be given a model. Got none instead.")
    return declared.run(ctx, model, **params)


def run_parts(split: Parts, ctx: Context, model: str | None, run_wave: RunWave | None = None,
              **params: Any) -> Any:
    """A partitioned stage: its drive, the parts run by ``run_wave`` (None: in this
    process; the flows pass their task runner's)."""
    return split.drive(ctx, model, run_wave, **params)


def only(params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The parameters among ``names`` (what one of a stage's part functions takes)."""
    return {k: v for k, v in params.items() if k in names}


def run_stages(stage_names: Sequence[str], data: Path | str, out: Path | str, config: Config,
               models: Sequence[str] | None = None, progress: Say | None = None, *,
               params: dict[str, dict] | None = None,
               announce: Callable[[int, str], None] | None = None) -> dict[str, Any]:
    """Run the named stages in declared order, in this process.

    A per-model stage runs once per model (default: every model of ``config.models``).
    ``params`` maps a stage's name to its keyword parameters; ``announce(i, words)`` is
    told before each step. Returns each stage's result by name ({model: result} for a
    per-model stage). Stages left out are taken as done by an earlier run.
    """
    chosen = [stage(n) for n in stage_names]  # unknown names fail before anything runs
    order = [s for s in STAGES if s in chosen]
    ctx = Context(local_data(data, out, progress), Path(out), config, progress or (lambda _msg: None))
    models = list(config.models) if models is None else list(models)
    params = params or {}
    results: dict[str, Any] = {}
    for index, declared in enumerate(order):
        for model in models if declared.per_model else [None]:
            if announce is not None:
                announce(index, declared.doing.format(model=model))
            done = run_stage(declared, ctx, model, **params.get(declared.name, {}))
            if declared.per_model:
                results.setdefault(declared.name, {})[model] = done
            else:
                results[declared.name] = done
    return results


def key_parts(declared: Stage, config: Config, out: Path, model: str | None,
              upstream: dict[str, str]) -> dict[str, str]:
    """What the stage's cache key is made of, but for the data directory's digest (the
    flows add it for a stage that needs DATA): the config's hash, OUT, the model, the
    keys of the steps it reads (``upstream``: step name -> key, of this run) and, for a
    stage keyed on the champion, the champion's version and how it may rank."""
    parts = {"config": config.config_hash, "out": str(out)}
    if model is not None:
        parts["model"] = model
    reads = [stage(n) for n in declared.needs + declared.uses if n != DATA]
    for source in reads:
        if source.per_model and declared.per_model:
            steps = [source.step(model)]
        else:
            steps = sorted(s for s in upstream if s.split(" ")[0] == source.name)
        for step in steps:
            if step in upstream:
                parts[f"up:{step}"] = upstream[step]
    if "champion" in declared.key_on:
        parts["champion"] = champion_key(out, config, model)
    return parts


def champion_key(out: Path, config: Config, model: str | None) -> str:
    """The champion's version and how it may rank, or "none": scoring then ranks by the rule."""
    from ontrack.modeling import tracking

    try:
        client = tracking.connect(config, out, create=False)
    except tracking.RegistryError:
        return "none"
    tags = tracking.champion_tags(client, tracking.registered_name(config, str(model)))
    if tags is None:
        return "none"
    return f"{tags['version']}:{tags.get('gate_passed')}:{tags.get('forced')}"
