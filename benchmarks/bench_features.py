"""Benchmark the grade-9 feature matrix: time and peak memory.

    python benchmarks/bench_features.py                    # 20,000 students
    python benchmarks/bench_features.py --students 200000  # the issue's target size
    python benchmarks/bench_features.py --part-rows 4000    # one part per checkpoint (20k)
    python benchmarks/bench_features.py --data D --validated-from OUT0 --out OUT \
        --config C --model grade9     # `ontrack features D` on an existing district

The last form copies ``OUT0/validated`` and ``OUT0/validation`` into a fresh ``OUT`` and
measures the command itself (every checkpoint of every year, as a district runs it),
with the load average before and after.

A synthetic district (grades 6-12, two school years, daily attendance) is generated and
validated first (not measured here: see bench_validate.py); then, in a child process,
the grade-9 cohort of the last school year at its 3 checkpoints, all its features and
both labels are built and written (``ontrack.dataset.build.write_features``).
Prints the figures and appends them to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAST_YEAR = 2025


def build(out: Path, memory_limit: str, part_rows: int | None = None) -> None:
    """The measured work (run in a child process): cohort, features, labels, files."""
    sys.path.insert(0, str(ROOT))
    from ontrack.dataset.build import write_features
    from ontrack.config import config_from_dict

    resources = {} if part_rows is None else {"feature_part_rows": part_rows}
    config = config_from_dict({"engine": {"memory_limit": memory_limit}, "resources": resources})
    meta = write_features(
        out,
        config,
        model="grade9",
        school_years=[LAST_YEAR],
        data_end=date(LAST_YEAR, 6, 30),
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(f"{meta['rows']:,} rows x {len(meta['features'])} features", file=sys.stderr)


def command(args: argparse.Namespace) -> None:
    """Measure ``ontrack features`` on ``args.data`` into a fresh ``args.out``."""
    if args.out.exists():
        raise SystemExit(f"--out must be a new folder. Got {args.out} (it exists) instead.")
    for name in ("validated", "validation"):
        if (args.validated_from / name).is_dir():
            shutil.copytree(args.validated_from / name, args.out / name)
    load_before = os.getloadavg()[0]
    secs, peak = measure(
        [sys.executable, "-m", "ontrack", "features", str(args.data), "--model", args.model,
         "--out", str(args.out), "--quiet", *(["--config", str(args.config)] if args.config else [])]
    )
    params = (f"ontrack features {args.data.name} --model {args.model}"
              f"{f' --config {args.config.name}' if args.config else ''}, fresh OUT with "
              f"copied validated/; load {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"features {params}: {secs:7.1f} s  peak {peak:7.0f} MB")
    record("features (command)", params, secs, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--memory-limit", default="600MB", help="DuckDB memory limit")
    parser.add_argument("--part-rows", type=int, default=None,
                        help="resources.feature_part_rows (default: the config's default)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None,
                        help="an existing district: measure `ontrack features` on it")
    parser.add_argument("--validated-from", type=Path, default=None,
                        help="with --data: an OUT whose validated/ and validation/ to copy")
    parser.add_argument("--out", type=Path, default=None, help="with --data: a new OUT")
    parser.add_argument("--config", type=Path, default=None, help="with --data: the config")
    parser.add_argument("--model", default="grade9", help="with --data: the model")
    parser.add_argument("--build", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data is not None:
        if args.out is None or args.validated_from is None:
            raise SystemExit("--data needs --out and --validated-from.")
        command(args)
        return
    if args.build is not None:
        build(args.build, args.memory_limit, args.part_rows)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ontrack-bench-features-"))
    data, out = workdir / f"d{args.students}", workdir / f"o{args.students}"
    if not (out / "validated" / "students.parquet").exists():
        ontrack = [sys.executable, "-m", "ontrack"]
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run(
            [*ontrack, "synth", str(data), "--students", str(args.students), "--years", "2", "--last-year", str(LAST_YEAR),
             "--quiet"], check=True, cwd=ROOT,
        )
        subprocess.run([*ontrack, "validate", str(data), "--out", str(out), "--quiet"],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    secs, peak = measure(
        [sys.executable, str(Path(__file__).resolve()), "--build", str(out),
         "--memory-limit", args.memory_limit,
         *(["--part-rows", str(args.part_rows)] if args.part_rows else [])]
    )
    params = (f"{args.students} students, grade 9 x 3 checkpoints, daily attendance, "
              f"duckdb {args.memory_limit}"
              + (f", parts of <= {args.part_rows} rows" if args.part_rows else ""))
    print(f"features {params}: {secs:7.1f} s  peak {peak:7.0f} MB")
    record("features", params, secs, peak)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
