"""Benchmark ``ontrack flow refresh`` in one process against ``--dask local:N``.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_refresh.py [--students 20000] [--years 4]
        [--workers 2] [--partitions N] [--root DIR] [--data DIR] [--config FILE]
        [--runs single dask]

Generates a synthetic district under ``--root`` (reused if already there; ``--data`` uses
one generated beforehand instead, e.g. by ``ontrack synth``), then times, each in its own
child process on a fresh OUT under ``--root`` (so nothing comes from the flow's cache):

1. ``ontrack flow refresh DATA --out OUT1`` (Prefect's default task runner: the parts of
   validation, indicators, features and the roster files run in threads of the one
   process; one validation partition);
2. ``ontrack flow refresh DATA --out OUT2 --dask local:N`` (the parts on N worker
   processes, each table validated in ``--partitions`` partitions, default N; cluster
   start-up included).

``--pin COMMIT`` runs that commit's code instead of the checkout's (others commit to
the checkout during a long run): its packages are exported with ``git archive`` into
``--root``/src-COMMIT, laid out as installed (``features/`` as ``ontrack/features`` ...), and
put first on the children's ``PYTHONPATH``.

``--config`` is a district YAML both runs use (e.g. ``resources: {memory_limit: 4GB}``);
the Dask run gets a copy with ``resources.validation_partitions`` set. ``--runs`` picks one
or both. When both ran, it checks that they wrote the same indicator, feature, quarantine
and roster CSV files, byte for byte. It appends one line per run to
``benchmarks/results.md`` with the load average before and after, the machine and the
commit. Peak RSS is that of the largest single process of the run (the driver or one
local worker), not their sum.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from bench_million import machine
from measure import measure, record

PACKAGES = ("ontrack", "features", "flows", "reports", "models")
SAME = ("indicators/students.csv", "indicators/rates.csv", "indicators/suppression.csv",
        "features/grade8/matrix.parquet", "features/grade9/matrix.parquet")


def configs(args: argparse.Namespace, partitions: int) -> tuple[list[str], Path]:
    """The one-process run's ``--config`` arguments, and the Dask run's config file (the
    given config, if any, with ``resources.validation_partitions`` set)."""
    given: dict = {}
    if args.config is not None:
        given = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    given.setdefault("resources", {})["validation_partitions"] = partitions
    args.root.mkdir(parents=True, exist_ok=True)
    dask_config = args.root / f"partitions-{partitions}.yaml"
    dask_config.write_text(yaml.safe_dump(given, sort_keys=False), encoding="utf-8")
    single = ["--config", str(args.config.resolve())] if args.config is not None else []
    return single, dask_config


def pinned(commit: str, root: Path) -> tuple[Path, str]:
    """The source tree of ``commit`` laid out as the installed package, and its short hash."""
    repo = Path(__file__).resolve().parent.parent
    short = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", commit],
                           capture_output=True, text=True, check=True).stdout.strip()
    tree = root / f"src-{short}"
    if not (tree / "ontrack" / "__init__.py").exists():
        export = root / f"src-{short}.export"
        shutil.rmtree(export, ignore_errors=True)
        export.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(repo), "archive", short, *PACKAGES],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
        for folder in PACKAGES[1:]:
            (export / folder).rename(export / "ontrack" / folder)
        shutil.rmtree(tree, ignore_errors=True)
        export.rename(tree)
    return tree, short


def parse() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None,
                        help="validation partitions of the Dask run (default: --workers)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "ontrack-bench-refresh")
    parser.add_argument("--data", type=Path, default=None,
                        help="a district generated beforehand (--students/--years then only label it)")
    parser.add_argument("--config", type=Path, default=None, help="district YAML for both runs")
    parser.add_argument("--runs", nargs="+", choices=("single", "dask"), default=["single", "dask"])
    parser.add_argument("--note", default="", help="added to the params column of results.md")
    parser.add_argument("--pin", default=None, help="run this commit's code (see above)")
    return parser.parse_args()


def compare(one: Path, two: Path) -> None:
    """Fail unless both runs wrote the same indicator, feature, quarantine and roster CSVs."""
    csvs = sorted(str(p.relative_to(one)) for folder in ("validation/quarantine", "rosters")
                  for p in (one / folder).rglob("*.csv"))
    differ = [f for f in [*SAME, *csvs] if (one / f).read_bytes() != (two / f).read_bytes()]
    if differ:
        raise SystemExit(f"outputs differ between the runs: {differ}")
    print(f"indicator, feature and {len(csvs)} quarantine and roster CSV files byte-identical")


def main() -> None:
    """Generate (or reuse) the district, run the chosen refreshes, record and compare them."""
    args = parse()
    args.root = args.root.resolve()
    args.config = args.config.resolve() if args.config is not None else None
    data = (args.data or args.root / f"data-{args.students}-{args.years}").resolve()
    if not (data / "students.parquet").exists():
        from ontrack.synth import generate_district

        generate_district(data, n_students=args.students, n_years=args.years, seed=0)
    ontrack = [sys.executable, "-m", "ontrack"]
    partitions = args.partitions or args.workers
    single, dask_config = configs(args, partitions)
    commit = None
    if args.pin is not None:
        tree, commit = pinned(args.pin, args.root)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
        os.chdir(tree)  # `python -m` puts the working directory first: not the checkout
    runs = {"single": ("one process", single, args.root / "out-single"),
            "dask": (f"--dask local:{args.workers}, {partitions} validation partitions",
                     ["--dask", f"local:{args.workers}", "--config", str(dask_config)],
                     args.root / "out-dask")}
    limit = f", config {args.config.name}" if args.config is not None else ""
    params = (f"students={args.students} years={args.years} seed=0{limit}, fresh OUT"
              f"{'; ' + args.note if args.note else ''}")
    for key in args.runs:
        name, extra, out = runs[key]
        shutil.rmtree(out, ignore_errors=True)
        before, where = os.getloadavg()[0], machine(commit)
        seconds, peak = measure([*ontrack, "flow", "refresh", str(data), "--out", str(out), *extra])
        after = os.getloadavg()[0]
        print(f"{name}: {seconds:.1f} s, peak {peak:.0f} MB, load {before:.1f} -> {after:.1f}")
        record(f"ontrack flow refresh, {name}",
               f"{params}; load {before:.1f} -> {after:.1f}; {where}", seconds, peak)
    if len(args.runs) == 2:
        compare(runs["single"][2], runs["dask"][2])


if __name__ == "__main__":
    main()
