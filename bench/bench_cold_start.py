"""Benchmark: cold start of the frozen app against ``python -m qwen_desktop``, in the same run.

Run (after building the onedir, installer/README.md)::

    .venv/bin/python bench/bench_cold_start.py [--frozen PATH] [--runs 5] [--window]

Each run is a fresh process timed from spawn to exit (wall clock, ``time.perf_counter``); the
frozen and the Python runs alternate, so that load from other programs weighs on both alike:

1. ``scan --json``: the CLI path (imports, hardware scan, JSON on stdout), the frozen executable
   (default ``installer/build/dist/qwen-desktop/qwen-desktop``, or ``/usr/bin/qwen-desktop``)
   against ``sys.executable -m qwen_desktop scan --json`` from the source checkout.
2. With ``--window``: the window opened offscreen and closed by ``--quit-after 0`` (the first
   event-loop turn), i.e. imports + QApplication + window build + clean shutdown.

"Cold" here means a new process each time; the OS file cache stays warm after the first run
(dropping it needs root and disturbs others), so the first run is reported apart. Medians and
the ratio frozen ÷ python are printed. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FROZEN = ROOT / "installer" / "build" / "dist" / "qwen-desktop" / "qwen-desktop"


def _timed(command: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one fresh process of ``command`` (which must exit 0)."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.decode()}")
    return elapsed


def time_pair(
    first: list[str], second: list[str], runs: int, env: dict[str, str]
) -> tuple[list[float], list[float]]:
    """``runs`` timings of each command, alternating them so that load from other programs on
    the machine weighs on both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        times[0].append(round(_timed(first, env), 3))
        times[1].append(round(_timed(second, env), 3))
    return times


def report(label: str, frozen: list[float], python: list[float]) -> None:
    """Print first-run and median times and the frozen ÷ python ratio of the medians."""
    f_med, p_med = statistics.median(frozen[1:] or frozen), statistics.median(python[1:] or python)
    print(f"{label}:")
    print(f"  frozen  first {frozen[0]:.3f} s, median of the rest {f_med:.3f} s  {frozen}")
    print(f"  python  first {python[0]:.3f} s, median of the rest {p_med:.3f} s  {python}")
    print(f"  ratio frozen / python (medians): {f_med / p_med:.2f}")


def main() -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frozen", type=Path, default=DEFAULT_FROZEN)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--window", action="store_true", help="Also time the window offscreen.")
    args = parser.parse_args()
    if not args.frozen.exists():
        print(f"error: {args.frozen} does not exist; build it first (installer/README.md).")
        return 2
    if args.runs < 2:
        print("error: --runs must be at least 2 (the first run is reported apart).")
        return 2
    scratch = tempfile.mkdtemp(prefix="qwen-desktop-bench-")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "QWEN_DESKTOP_DATA_DIR": f"{scratch}/data",
        "QWEN_DESKTOP_CONFIG_DIR": f"{scratch}/config",
    }
    python = [sys.executable, "-m", "qwen_desktop"]
    verbs = [("scan --json", ["scan", "--json"])]
    if args.window:
        verbs.append(("window offscreen (--quit-after 0)", ["--quit-after", "0"]))
    for label, verb in verbs:
        frozen_times, python_times = time_pair(
            [str(args.frozen), *verb], [*python, *verb], args.runs, env
        )
        report(label, frozen_times, python_times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
