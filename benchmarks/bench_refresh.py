"""Benchmark ``ontrack flow refresh`` in one process against ``--dask local:N``.

Usage::

    .venv/bin/python benchmarks/bench_refresh.py [--students 20000] [--years 4] [--workers 2]

Generates a synthetic district (reused if already there), then times, each in its own
child process on a fresh OUT (so nothing comes from the flow's cache):

1. ``ontrack flow refresh DATA --out OUT1`` (Prefect's default task runner: the parts of
   indicators and features run in threads of the one process);
2. ``ontrack flow refresh DATA --out OUT2 --dask local:N`` (the parts on N worker
   processes; cluster start-up included).

It checks that both wrote the same indicator and feature files, byte for byte, and
appends one line per run to ``benchmarks/results.md``. Peak RSS is that of the largest
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
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "ontrack-bench-refresh")
    args = parser.parse_args()
    data = args.root / f"data-{args.students}-{args.years}"
    if not (data / "students.parquet").exists():
        from ontrack.synth import generate_district

        generate_district(data, n_students=args.students, n_years=args.years, seed=0)
    ontrack = [sys.executable, "-m", "ontrack"]
    runs = {"one process": ([], args.root / "out-single"),
            f"--dask local:{args.workers}": (["--dask", f"local:{args.workers}"], args.root / "out-dask")}
    params = f"students={args.students} years={args.years} seed=0, fresh OUT"
    for name, (extra, out) in runs.items():
        shutil.rmtree(out, ignore_errors=True)
        seconds, peak = measure([*ontrack, "flow", "refresh", str(data), "--out", str(out), *extra])
        print(f"{name}: {seconds:.1f} s, peak {peak:.0f} MB")
        record(f"ontrack flow refresh, {name}", params, seconds, peak)
    (_, one), (_, two) = runs.values()
    differ = [f for f in SAME if (one / f).read_bytes() != (two / f).read_bytes()]
    if differ:
        raise SystemExit(f"outputs differ between the runs: {differ}")
    print("indicator and feature files byte-identical")


if __name__ == "__main__":
    main()
