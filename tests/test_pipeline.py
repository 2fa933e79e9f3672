"""One pipeline: the stages are declared once and every runner runs that declaration.

The demo (in process) and the Prefect flows run the declared stages in the declared
order; no other module spells the sequence of stage names (an ``ast`` scan for a tuple or
list of stage names, and a text scan for "a -> b -> c" in prose). That every stage writes
every output it declares is checked after the suite's one full run, the demo's
(tests/test_project.py::test_demo_runs_every_stage).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from datetime import date
from pathlib import Path

import pytest

from ontrack import pipeline
from ontrack.cli import main

ROOT = Path(__file__).resolve().parents[1]
NAMES = [s.name for s in pipeline.STAGES]


def expanded(names: list[str], models: list[str]) -> list[str]:
    """Step names of ``names`` in declared order, a per-model stage once per model."""
    return [pipeline.stage(n).step(m) for n in names
            for m in (models if pipeline.stage(n).per_model else [None])]


def test_the_declaration_is_well_formed() -> None:
    assert len(set(NAMES)) == len(NAMES) == len(pipeline.STAGES)
    for index, declared in enumerate(pipeline.STAGES):
        earlier = {pipeline.DATA, *NAMES[:index]}
        assert set(declared.needs + declared.uses) <= earlier, declared.name  # only earlier stages
        assert declared.outputs, declared.name
        assert ("{model}" in "".join(declared.outputs)) == declared.per_model, declared.name
    assert [n for n in NAMES if n in set(pipeline.names("weekly")) | set(pipeline.names("yearly"))] == NAMES
    assert pipeline.upto("train") == ["validate", "features", "train"]
    assert pipeline.upto("report", given=["validate"]) == ["indicators", "report"]
    with pytest.raises(Exception, match="must be one of"):
        pipeline.stage("nonsense")
    with pytest.raises(Exception, match="parameters must be among"):
        pipeline.run_stage(pipeline.stage("train"), None, "grade8", nonsense=1)  # type: ignore[arg-type]


def test_demo_runs_the_declared_stages_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``ontrack demo`` runs every declared stage, in order, for every model of the
    config, scoring into the risk history first at the checkpoint before (the stages'
    work replaced by a recorder: the run itself is tests/test_project.py's demo test)."""
    import ontrack.synth
    from ontrack.commands import demo
    from ontrack.config import load_config

    ran: list[str] = []
    recording = tuple(
        dataclasses.replace(s, run=lambda _ctx, model, _name=s.name, **_: ran.append(f"{_name} {model}"))
        for s in pipeline.STAGES
    )
    monkeypatch.setattr(pipeline, "STAGES", recording)
    monkeypatch.setattr(ontrack.synth, "generate_district", lambda *_, **__: None)
    monkeypatch.setattr(demo, "SUMMARIES", {})
    monkeypatch.setattr(demo, "_earlier_checkpoint", lambda *_: date(2025, 10, 31))
    monkeypatch.setattr(demo, "_open_store", lambda *_: None)
    monkeypatch.setattr(demo, "_score_history", lambda _out, _config, as_of, _say: ran.append(f"history {as_of}"))
    assert main(["demo", "--quiet", "--out", str(tmp_path)]) == 0
    models = list(load_config(None).models)
    first = NAMES.index("score")
    assert [r.removesuffix(" None") for r in ran] == (
        expanded(NAMES[:first], models) + ["history 2025-10-31"] + expanded(NAMES[first:], models))


def test_flows_run_the_declared_stages_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The refresh and train flows (their bodies, without Prefect's engine) run the
    declared stages of their cadence, in order, as the derived tasks."""
    from ontrack.flows import pipeline as flows
    from ontrack.flows.tasks import TASKS

    assert list(TASKS) == NAMES
    ran: list[str] = []

    def fake_step(declared: pipeline.Stage, run: dict, model: str | None) -> dict:
        ran.append(declared.step(model))
        run["steps"][declared.step(model)] = "ran"
        return {"report": {"tables": {}}}

    monkeypatch.setattr(flows, "_step", fake_step)
    monkeypatch.setattr(flows, "ARTIFACTS", {})
    monkeypatch.setattr(flows, "_steps_artifact", lambda *_: None)
    models = ["grade8", "grade9"]
    flows.refresh_flow.fn(tmp_path, tmp_path / "out", None, models)
    assert ran == expanded(pipeline.names("weekly"), models)
    ran.clear()
    flows.train_flow.fn(tmp_path, tmp_path / "out", None, models)
    assert ran == expanded(pipeline.names("yearly"), models)
    assert "train" in pipeline.names("yearly") and "train" not in pipeline.names("weekly")


def test_in_process_and_a_task_runner_run_the_same_part_functions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Validation and the roster files run through their declared part functions
    (``run_job``, ``publish_school``; the profile pages are a wave of their own before the
    roster files when a runner is given) in process (the loop on one connection, the local
    pool) and when a wave of parts is handed to a runner (what the flows' Dask runner is
    given; here each wave in reverse order): the same jobs, the same outputs, and every
    table finished before a table that references it is checked."""
    import json

    from conftest import write_district
    from ontrack.reports import publish, workers

    import ontrack.validation.run as validation
    from ontrack.config import load_config
    from ontrack.tables import TABLE_ORDER

    jobs: list[tuple] = []
    files: list[str] = []
    run_job, publish_school = validation.run_job, workers.publish_school
    monkeypatch.setattr(validation, "run_job", lambda *a, **k: (
        jobs.append((a[3].step, a[3].table, a[3].partition)), run_job(*a, **k))[1])

    def recorded(*a):
        files.append(a[3])
        return publish_school(*a)

    monkeypatch.setattr(workers, "publish_school", recorded)  # in process: run_jobs
    monkeypatch.setattr(publish, "publish_school", recorded)  # a runner's part: publish_part
    data, config = write_district(tmp_path / "data"), load_config(None)
    pipeline.run_stages(["validate", "score"], data, tmp_path / "here", config, models=["grade8"])
    here = (list(jobs), list(files))
    jobs.clear(), files.clear()
    ctx, waves = pipeline.Context(data, tmp_path / "runner", config), []

    def runner(split: pipeline.Parts, model: str | None):
        def run_wave(parts: list) -> list:
            waves.append(len(parts))
            return [split.run(ctx, model, part) for part in reversed(parts)][::-1]
        return run_wave

    for name, model in (("validate", None), ("score", "grade8")):
        split = pipeline.stage(name).parts
        pipeline.run_parts(split, ctx, model, runner(split, model))
    assert sorted(jobs) == sorted(here[0]) and files == here[1] == ["001"]
    assert waves[0] == len(TABLE_ORDER) and waves[-1] == len(files)  # prepare all, ..., rosters
    steps = [(step, table) for step, table, _ in jobs]
    assert steps.index(("finish", "enrollments")) < steps.index(("check", "attendance"))
    assert max(steps.index(("finish", t)) for t in ("schools", "students")) < min(
        steps.index(("check", t)) for t in ("enrollments", "attendance"))
    report = [json.loads((out / "validation" / "report.json").read_text())["tables"]
              for out in (tmp_path / "here", tmp_path / "runner")]
    assert report[0] == report[1]
    assert (tmp_path / "here" / "rosters" / "001.csv").read_bytes() == \
        (tmp_path / "runner" / "rosters" / "001.csv").read_bytes()


def spelled_sequences(source: str) -> list[str]:
    """Where ``source`` spells two or more stage names as a tuple, list or set literal,
    or three or more joined by arrows in text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2:
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if len(values) == len(node.elts) and all(v in NAMES for v in values):
                found.append(f"line {node.lineno}: {values}")
    word = r"(?:ingest|" + "|".join(NAMES) + r")"
    arrow = rf"{word}\s*(?:->|→|>)\s*{word}\s*(?:->|→|>)\s*{word}"
    found += [f"text: {m.group(0)}" for m in re.finditer(arrow, source)]
    return found


def test_the_scan_catches_a_second_list() -> None:
    assert spelled_sequences('STEPS = ("validate", "features", "train")\n')
    assert spelled_sequences('"""ingest -> indicators -> report"""\n')
    assert not spelled_sequences('FLOWS = ("refresh", "train", "score")\nx = ["train"]\n')


def test_no_other_module_spells_the_stage_sequence() -> None:
    here = ROOT / "ontrack" / "pipeline.py"
    offenders = {}
    for folder in ("ontrack", "flows", "reports", "features"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            hits = [] if path == here else spelled_sequences(path.read_text(encoding="utf-8"))
            if hits:
                offenders[str(path.relative_to(ROOT))] = hits
    assert not offenders, f"the stage sequence must be declared only in ontrack/pipeline.py. Got {offenders} instead."
