"""Benchmark ``ontrack synth``: wall time and peak memory of a whole district.

    python benchmarks/bench_synth.py                # 20,000 students x 6 years
    python benchmarks/bench_synth.py --format csv   # the same as CSV
    python benchmarks/bench_synth.py --large        # also 200,000 students

Each run is a child process (peak RSS is that process's own ``ru_maxrss``). Prints the
figures and appends one row per run to benchmarks/results.md (``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record  # noqa: E402


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def run(n_students: int, fmt: str, workdir: Path, *, keep_record: bool) -> None:
    """Generate one district and report time, peak memory and size on disk."""
    data = workdir / f"synth-{n_students}-{fmt}"
    shutil.rmtree(data, ignore_errors=True)
    cmd = [sys.executable, "-m", "ontrack", "synth", str(data), "--students",
           str(n_students), "--format", fmt, "--quiet"]  # fmt: skip
    secs, peak = measure(cmd)
    size = _size_mb(data)
    print(
        f"synth {n_students:>7,} students x 6 years, {fmt:<7}: {secs:7.1f} s  "
        f"peak {peak:6.0f} MB  on disk {size:7.0f} MB"
    )
    if keep_record:
        params = f"{n_students} students x 6 years, {fmt}, {size:.0f} MB on disk"
        record("synth", params, secs, peak)
    shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    """Parse the options and run the cases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--large", action="store_true", help="also run 200,000 students"
    )
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory")
    parser.add_argument(
        "--no-record", action="store_true", help="do not touch results.md"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-synth-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        for n in (20_000, 200_000) if args.large else (20_000,):
            run(n, args.format, workdir, keep_record=not args.no_record)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
