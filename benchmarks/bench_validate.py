"""Benchmark ``ontrack synth`` and ``ontrack validate``: time and peak memory.

    python benchmarks/bench_validate.py            # 20,000 students x 6 years
    python benchmarks/bench_validate.py --large    # also 200,000 students

Prints the figures and appends them to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record  # noqa: E402

ONTRACK = [sys.executable, "-m", "ontrack"]


def run(n_students: int, workdir: Path) -> None:
    data, out = workdir / f"d{n_students}", workdir / f"o{n_students}"
    shutil.rmtree(data, ignore_errors=True)
    secs, peak = measure([*ONTRACK, "synth", str(data), "--students", str(n_students), "--quiet"])
    print(f"synth    {n_students:>7,} students x 6 years: {secs:7.1f} s  peak {peak:7.0f} MB")
    record("synth", f"{n_students} students x 6 years, parquet", secs, peak)
    secs, peak = measure([*ONTRACK, "validate", str(data), "--out", str(out), "--quiet"])
    print(f"validate {n_students:>7,} students x 6 years: {secs:7.1f} s  peak {peak:7.0f} MB")
    record("validate", f"{n_students} students x 6 years, parquet", secs, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="also run 200,000 students")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-"))
    for n in (20_000, 200_000) if args.large else (20_000,):
        run(n, workdir)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
