"""Benchmark the whole pipeline, stage by stage, on a large district under a memory limit.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_million.py --data /work/bench-data/d1m \\
        --out /work/bench-data/out-1m [--memory-limit 4GB] [--models grade8 grade9] \\
        [--stages validate indicators features train promote score] [--stop-at 13:40]

Runs the command chain ``validate → indicators → features → train → score`` on
DATA (generated beforehand, e.g. with ``ontrack synth``) into OUT, every command in its
own child process under ``/usr/bin/time -v``, with a config whose
``resources.memory_limit`` is ``--memory-limit`` (DuckDB spills beyond it to
``OUT/.tmp``). For each stage it appends one row to ``benchmarks/results.md``: wall time,
peak RSS (the largest single process of the command, from ``/usr/bin/time``), the load
average before and after, the machine (``uname -m``, cores, RAM) and the commit.

A stage that fails is recorded with its exit status and the error line ontrack printed
(ontrack's errors never carry student rows); a stage still running at ``--stop-at``
(HH:MM, local time) or after ``--stage-timeout`` seconds is stopped and recorded as such.
Both end the chain (the later stages need its outputs). When a trained version failed its
gate, it is promoted with ``--force`` (untimed; a benchmark, not a deployment decision) so
that ``score`` ranks with the model just trained. Logs go to ``OUT``'s sibling
``<OUT>-logs/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import record

REPO = Path(__file__).resolve().parent.parent
STAGES = ("validate", "indicators", "features", "train", "score")
PER_MODEL = ("features", "train", "score")
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_CPU = re.compile(r"(?:User|System) time \(seconds\): ([\d.]+)")


@dataclass
class Outcome:
    """What one stage's command did: wall seconds, peak RSS in MB, and how it ended."""

    seconds: float
    peak_mb: float
    status: str  # "ok", "exit N: <error line>", or "stopped after N s (<why>)"
    cpu: str = ""  # user + system seconds, and the share of a core they were of the wall


def machine(pinned: str | None = None) -> str:
    """Cores and RAM of this machine and the commit checked out now (``record`` adds
    ``uname -m``). Taken when a stage starts: others commit to this checkout meanwhile.
    ``pinned``: the commit whose exported code ran instead of the checkout's."""
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "ontrack",
                            "flows", "features", "reports"],
                           capture_output=True, text=True, check=False).stdout.strip()
    note = " (+ uncommitted product changes)" if dirty else ""
    if pinned is not None:
        commit, note = pinned, " (pinned: its exported code, not the checkout's)"
    return f"{os.cpu_count()} cores, {ram_gb:.0f} GB RAM, commit {commit}{note}"


def load() -> str:
    """The 1-minute load average, as ``uptime`` prints it first."""
    return f"{os.getloadavg()[0]:.1f}"


def deadline_seconds(stop_at: str | None, stage_timeout: float) -> tuple[float, str]:
    """Seconds the next stage may run, and why it would be stopped."""
    if stop_at is None:
        return stage_timeout, f"--stage-timeout {stage_timeout:.0f} s"
    hour, minute = (int(x) for x in stop_at.split(":"))
    now = dt.datetime.now()
    stop = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    left = (stop - now).total_seconds()
    if left < stage_timeout:
        return max(left, 0.0), f"--stop-at {stop_at}"
    return stage_timeout, f"--stage-timeout {stage_timeout:.0f} s"


def error_line(stderr: str) -> str:
    """The last line ontrack printed as an error (or the last line at all), shortened."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()
             and not line.startswith(("\t", "Command being timed"))]
    errors = [line for line in lines if line.lower().startswith(("error", "traceback"))
              or "Error" in line.split(":")[0]]
    chosen = (errors or lines or ["(no output)"])[-1]
    return chosen.replace("|", "/")[:200]


def run_stage(cmd: list[str], log: Path, limit: float, why: str) -> Outcome:
    """Run ``cmd`` under ``/usr/bin/time -v`` (stderr to ``log``, stdout beside it as
    ``.out``), stopping its whole process group after ``limit`` seconds."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as err:
        with log.with_suffix(".out").open("w", encoding="utf-8") as out:
            child = subprocess.Popen(["/usr/bin/time", "-v", *cmd], stdout=out, stderr=err,
                                     start_new_session=True)
        try:
            code = child.wait(timeout=limit)
            stopped = False
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                code = child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                code = child.wait()
            stopped = True
    seconds = time.perf_counter() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    found = _MAXRSS.findall(text)
    peak = int(found[-1]) / 1024 if found else float("nan")
    times = [float(x) for x in _CPU.findall(text)[-2:]]
    cpu = f"cpu {sum(times):.0f} s ({sum(times) / seconds:.0%} of a core)" if times else "cpu n/a"
    if stopped:
        return Outcome(seconds, peak, f"stopped after {seconds:.0f} s ({why})", cpu)
    if code != 0:
        return Outcome(seconds, peak, f"exit {code}: {error_line(text)}", cpu)
    return Outcome(seconds, peak, "ok", cpu)


def champion_if_needed(model: str, train_out: Path, base: list[str], config: Path,
                       out: Path) -> None:
    """Make the version ``train`` just registered the champion when its gate kept it from
    being one (``--force``: a benchmark, not a deployment decision), so ``score`` ranks
    with it. Not timed: it moves an alias."""
    text = train_out.read_text(encoding="utf-8", errors="replace")
    if "is not champion" not in text:
        return
    found = re.findall(r"version (\d+) \(", text)
    if not found:
        raise SystemExit(f"train's output must name the registered version. Got none in {train_out} instead.")
    subprocess.run([*base, "promote", "--model", model, "--version", found[-1], "--force",
                    "--why", "benchmark run, not a deployment", "--who", "bench_million",
                    "--out", str(out), "--config", str(config), "--quiet"], check=True)


def command(stage: str, model: str | None, args: argparse.Namespace, config: Path) -> list[str]:
    """The ``ontrack`` command line of one stage (and model)."""
    base = [sys.executable, "-m", "ontrack", stage, str(args.data)]
    if model is not None:
        base += ["--model", model]
    base += ["--out", str(args.out), "--config", str(config)]
    extra = {"indicators": ["--reuse-validated"], "train": ["--reuse-features"],
             "score": ["--reuse-validated"]}
    return [*base, *extra.get(stage, [])]


def plan(stages: list[str], models: list[str]) -> list[tuple[str, str | None]]:
    """The (stage, model) steps in chain order: per-model stages once per model."""
    return [(stage, model) for stage in STAGES if stage in stages
            for model in (models if stage in PER_MODEL else [None])]


def parse() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a generated district")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--memory-limit", default="4GB", help="resources.memory_limit")
    parser.add_argument("--models", nargs="+", default=["grade8", "grade9"])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--label", default="", help="what DATA is, for results.md")
    parser.add_argument("--stop-at", default=None, help="HH:MM: stop a stage still running then")
    parser.add_argument("--stage-timeout", type=float, default=3600.0)
    parser.add_argument("--fresh", action="store_true", help="delete OUT first")
    parser.add_argument("--no-record", action="store_true", help="do not touch results.md")
    return parser.parse_args()


def main() -> None:
    """Run the chain, print and record every stage."""
    args = parse()
    args.data, args.out = args.data.resolve(), args.out.resolve()
    if args.fresh and args.out.exists():
        subprocess.run(["rm", "-rf", str(args.out)], check=True)
    logs = args.out.parent / f"{args.out.name}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    config = logs / "config.yaml"
    config.write_text(f"resources:\n  memory_limit: {args.memory_limit}\n", encoding="utf-8")
    for stage, model in plan(args.stages, args.models):
        name = stage if model is None else f"{stage}-{model}"
        limit, why = deadline_seconds(args.stop_at, args.stage_timeout)
        before, where = load(), machine()
        outcome = run_stage(command(stage, model, args, config), logs / f"{name}.time", limit, why)
        line = (f"{name}: {outcome.seconds:.1f} s, peak {outcome.peak_mb:.0f} MB, "
                f"{outcome.cpu}, load {before} -> {load()}: {outcome.status}")
        print(line, flush=True)
        if not args.no_record:
            params = (f"{args.label}; resources.memory_limit {args.memory_limit}; {outcome.cpu}; "
                      f"load {before} -> {load()}; {outcome.status}; {where}")
            record(f"bench_million {name} (/usr/bin/time -v)", params, outcome.seconds, outcome.peak_mb)
        if outcome.status != "ok":
            raise SystemExit(f"stopped the chain at {name}: {outcome.status}")
        if stage == "train":
            champion_if_needed(str(model), logs / f"{name}.out",
                               [sys.executable, "-m", "ontrack"], config, args.out)


if __name__ == "__main__":
    main()
