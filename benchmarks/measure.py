"""Time and peak memory of a command, measured in a child process.

``measure(cmd)`` runs ``cmd`` through a small wrapper process so that
``RUSAGE_CHILDREN.ru_maxrss`` covers exactly that command (and its own children).
``record(...)`` appends one row to ``benchmarks/results.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "code = subprocess.call(json.loads(sys.argv[1]))\n"
    "secs = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "print(json.dumps({'code': code, 'seconds': secs, 'peak_mb': peak}))\n"
)


def measure(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB). Raises if it fails."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, json.dumps(cmd)],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result['code']}")
    return result["seconds"], result["peak_mb"]


def record(benchmark: str, params: str, seconds: float, peak_mb: float) -> None:
    """Append a result row to benchmarks/results.md (created with a header if new)."""
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nEach row is one run on this project's 2-core "
            "machine, appended by a script in `benchmarks/`.\n\n"
            "| date | benchmark | params | seconds | peak MB |\n|---|---|---|---:|---:|\n",
            encoding="utf-8",
        )
    today = dt.date.today().isoformat()
    host = f"{platform.machine()}"
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(f"| {today} | {benchmark} | {params}, {host} | {seconds:.1f} | {peak_mb:.0f} |\n")
