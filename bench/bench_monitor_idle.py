"""Benchmark: the app's idle CPU use with the monitor open, and its memory without a model,
against a bare PySide6 window measured in the same run.

Run: ``.venv/bin/python bench/bench_monitor_idle.py [--seconds 20] [--warmup 4]``
(about a minute; offscreen, temporary folders only).

Three child processes run one after the other, each on the qasync loop as the app runs:

1. **bare**: a ``QMainWindow`` with a label, shown, nothing else (the baseline);
2. **app, monitor hidden**: the real window from :func:`qwen_desktop.gui.build_window` with the
   hardware scan done and the sampler running at its slow, summary-only rate (5 s);
3. **app, monitor open**: the same with the monitor dock shown (1 Hz sampling, five charts
   redrawn every second).

For each, after ``--warmup`` seconds (startup and the scan excluded), the parent reads the
child's CPU time (user + system, psutil ``cpu_times``) over ``--seconds`` and reports it as a
percentage of one core, and its resident memory (RSS and USS, psutil ``memory_full_info``) at
the end. Goal (issue 7): ≤ 1 % of one core idle with the panel open. Ratios are app ÷ bare.
Offscreen rendering (``QT_QPA_PLATFORM=offscreen``) still paints every widget into its backing
store, so drawing costs are counted; only the compositor's share is not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

READY = "ready"


def _child(kind: str) -> None:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    from qwen_desktop.uikit.loop import new_qt_event_loop

    app = QApplication([])
    loop = new_qt_event_loop(app)
    asyncio.set_event_loop(loop)
    if kind == "bare":
        window = QMainWindow()
        window.setCentralWidget(QLabel("bare"))
        window.resize(1200, 780)
        window.show()

        async def main() -> None:
            print(READY, flush=True)
            await asyncio.Event().wait()

    else:
        from qwen_desktop.core.paths import AppPaths
        from qwen_desktop.gui import build_window

        folder = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
        app_window = build_window(
            AppPaths(data_dir=folder, config_dir=folder, models_dir=folder / "models")
        )
        app_window.shell.show()
        if kind == "app-open":
            app_window.shell.show_dock(app_window.monitor_dock)

        async def main() -> None:
            app_window.hardware.scan()
            app_window.monitor.start()
            print(READY, flush=True)
            await asyncio.Event().wait()

    with loop:
        loop.run_until_complete(main())


def _measure(kind: str, seconds: float, warmup: float) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != READY:
            raise RuntimeError(f"the {kind} child did not start (said {line!r})")
        process = psutil.Process(child.pid)
        time.sleep(warmup)
        before = process.cpu_times()
        start = time.perf_counter()
        time.sleep(seconds)
        after = process.cpu_times()
        elapsed = time.perf_counter() - start
        memory = process.memory_full_info()
        cpu = (after.user - before.user) + (after.system - before.system)
        return {
            "cpu_percent": 100.0 * cpu / elapsed,
            "rss_mib": memory.rss / 2**20,
            "uss_mib": memory.uss / 2**20,
        }
    finally:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window (s)")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds ignored after start")
    parser.add_argument(
        "--child", choices=("bare", "app-hidden", "app-open"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    results = {}
    for kind in ("bare", "app-hidden", "app-open"):
        results[kind] = _measure(kind, args.seconds, args.warmup)
    bare = results["bare"]
    print(f"idle over {args.seconds:.0f} s after {args.warmup:.0f} s warm-up (offscreen):")
    print(f"{'':<12}{'CPU (% of one core)':>22}{'RSS (MiB)':>12}{'USS (MiB)':>12}")
    for kind, figures in results.items():
        print(
            f"{kind:<12}{figures['cpu_percent']:>22.2f}{figures['rss_mib']:>12.1f}"
            f"{figures['uss_mib']:>12.1f}"
        )
    tick = 100.0 * 0.01 / args.seconds  # CPU times advance in 10 ms clock ticks (Linux)
    for kind in ("app-hidden", "app-open"):
        figures = results[kind]
        extra = figures["cpu_percent"] - bare["cpu_percent"]
        if bare["cpu_percent"] >= tick:
            ratio = f"×{figures['cpu_percent'] / bare['cpu_percent']:.1f}"
        else:
            ratio = f"bare below one clock tick ({tick:.2f} %), ratio undefined"
        print(
            f"{kind} ÷ bare: CPU {ratio} (+{extra:.2f} points), "
            f"RSS ×{figures['rss_mib'] / bare['rss_mib']:.2f} "
            f"(+{figures['rss_mib'] - bare['rss_mib']:.0f} MiB)"
        )
    goal = results["app-open"]["cpu_percent"] <= 1.0
    print(f"goal ≤ 1 % of one core with the panel open: {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
