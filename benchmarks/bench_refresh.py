"""Benchmark ``ontrack flow refresh`` in one process against ``--dask local:N``.

Usage::

    .venv/bin/python benchmarks/bench_refresh.py [--students 20000] [--years 4] [--workers 2]
        [--partitions N]

Generates a synthetic district (reused if already there), then times, each in its own
child process on a fresh OUT (so nothing comes from the flow's cache):

1. ``ontrack flow refresh DATA --out OUT1`` (Prefect's default task runner: the parts of
   validation, indicators, features and the roster files run in threads of the one
   process; one validation partition);
2. ``ontrack flow refresh DATA --out OUT2 --dask local:N`` (the parts on N worker
   processes, each table validated in ``--partitions`` partitions, default N; cluster
   start-up included).

It checks that both wrote the same indicator, feature, quarantine and roster CSV files,
byte for byte, and appends one line per run to ``benchmarks/results.md``. Peak RSS is that of the largest
single process of the run (the driver or one local worker), not their sum.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import measure, record  # noqa: E402

SAME = ("indicators/students.csv", "indicators/rates.csv", "indicators/suppression.csv",
        "features/grade8/matrix.parquet", "features/grade9/matrix.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None,
                        help="validation partitions of the Dask run (default: --workers)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "ontrack-bench-refresh")
    args = parser.parse_args()
    data = args.root / f"data-{args.students}-{args.years}"
    if not (data / "students.parquet").exists():
        from ontrack.synth import generate_district

        generate_district(data, n_students=args.students, n_years=args.years, seed=0)
    ontrack = [sys.executable, "-m", "ontrack"]
    partitions = args.partitions or args.workers
    config = args.root / f"partitions-{partitions}.yaml"
    config.write_text(f"resources:\n  validation_partitions: {partitions}\n", encoding="utf-8")
    runs = {"one process": ([], args.root / "out-single"),
            f"--dask local:{args.workers}, {partitions} validation partitions":
                (["--dask", f"local:{args.workers}", "--config", str(config)], args.root / "out-dask")}
    params = f"students={args.students} years={args.years} seed=0, fresh OUT"
    for name, (extra, out) in runs.items():
        shutil.rmtree(out, ignore_errors=True)
        seconds, peak = measure([*ontrack, "flow", "refresh", str(data), "--out", str(out), *extra])
        print(f"{name}: {seconds:.1f} s, peak {peak:.0f} MB")
        record(f"ontrack flow refresh, {name}", params, seconds, peak)
    (_, one), (_, two) = runs.values()
    csvs = sorted(str(p.relative_to(one)) for folder in ("validation/quarantine", "rosters")
                  for p in (one / folder).rglob("*.csv"))
    differ = [f for f in [*SAME, *csvs] if (one / f).read_bytes() != (two / f).read_bytes()]
    if differ:
        raise SystemExit(f"outputs differ between the runs: {differ}")
    print(f"indicator, feature and {len(csvs)} quarantine and roster CSV files byte-identical")


if __name__ == "__main__":
    main()
