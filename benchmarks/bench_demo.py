"""Per-stage wall times of ``ontrack demo`` (median of N runs) beside a baseline.

Each run is ``ontrack demo --out TMP`` in a child process with stderr piped, so the
progress lines are plain text with their elapsed seconds (``[demo   12.3s] 4/9 ...``).
A stage lasts from its numbered line to the next one; the longest gap between two
consecutive lines (of any kind) is the longest silence a user sees. ``--save FILE``
writes the medians as JSON; ``--baseline FILE`` prints them beside an earlier save, e.g.

    .venv/bin/python benchmarks/bench_demo.py --runs 3 --save /tmp/before.json   # old commit
    .venv/bin/python benchmarks/bench_demo.py --runs 3 --baseline /tmp/before.json

The total is also appended to benchmarks/results.md (``measure.record``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import record  # noqa: E402

LINE = re.compile(r"^\[demo +(\d+\.\d)s\] (.*)$")
STEP = re.compile(r"^(\d+)/(\d+) (.*)$")


def stage_times(stderr: str, total: float) -> dict[str, float]:
    """Seconds per numbered stage (repeated names add up), from the lines' own stamps."""
    lines = [(float(m[1]), m[2]) for m in map(LINE.match, stderr.splitlines()) if m]
    steps = [(t, _stage_name(STEP.match(text)[3])) for t, text in lines if STEP.match(text)]
    times: dict[str, float] = {}
    for (start, name), (end, _) in zip(steps, [*steps[1:], (total, "")], strict=True):
        times[name] = times.get(name, 0.0) + end - start
    return times


def longest_silence(arrivals: list[float], total: float) -> float:
    """The longest wait for a line: from the launch to the first line (imports included),
    between two lines, and from the last line to the end."""
    stamps = [0.0, *arrivals, total]
    return max(b - a for a, b in zip(stamps, stamps[1:], strict=False))


def _stage_name(text: str) -> str:
    """``building the grade8 feature matrix and labels`` -> ``building the grade8 feature matrix``."""
    return " ".join(text.split()[:5]).rstrip(",")


def run_once(students: int, years: int) -> tuple[dict[str, float], float, float]:
    """One demo in a fresh folder: (stage seconds, longest silence, total seconds)."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        cmd = [str(Path(sys.executable).parent / "ontrack"), "demo", "--out", folder,
               "--students", str(students), "--years", str(years)]
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines, arrivals = [], []
        for line in child.stderr:  # each line as it comes: its arrival is what a user sees
            arrivals.append(time.perf_counter() - started)
            lines.append(line)
        code = child.wait()
        total = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"demo failed ({code}):\n{''.join(lines)[-2000:]}")
    return stage_times("".join(lines), total), longest_silence(arrivals, total), total


def medians(runs: list[tuple[dict[str, float], float, float]]) -> dict[str, float]:
    """Median of every stage, of the longest silence and of the total."""
    names = list(dict.fromkeys(n for times, _s, _t in runs for n in times))
    out = {n: statistics.median(t.get(n, 0.0) for t, _s, _t in runs) for n in names}
    out["longest silence"] = statistics.median(s for _t, s, _x in runs)
    out["total"] = statistics.median(x for _t, _s, x in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the demo N times; print the medians (beside a baseline when given)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument("--baseline", type=Path, default=None, help="JSON saved by --save")
    parser.add_argument("--save", type=Path, default=None, help="write the medians as JSON")
    args = parser.parse_args(argv)
    runs = [run_once(args.students, args.years) for _ in range(args.runs)]
    now = medians(runs)
    before = json.loads(args.baseline.read_text()) if args.baseline else {}
    print(f"{'stage':<40} {'baseline s':>10} {'now s':>8}")
    for name in dict.fromkeys([*before, *now]):
        old = f"{before[name]:.1f}" if name in before else "-"
        new = f"{now[name]:.1f}" if name in now else "-"
        print(f"{name:<40} {old:>10} {new:>8}")
    if args.save:
        args.save.write_text(json.dumps(now, indent=2), encoding="utf-8")
    record("demo", f"students={args.students} years={args.years} median of {args.runs}",
           now["total"], float("nan"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
