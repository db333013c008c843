"""Benchmark: the app's window painted against a bare PySide6 window, measured in the same run.

Run::

    .venv/bin/python bench/bench_cold_start.py [--runs 7] [--frozen PATH]

Each run is a fresh process, offscreen (``QT_QPA_PLATFORM=offscreen``), in temporary data and
config folders; the bare window and the app alternate so that load from other programs weighs
on both alike:

* **bare**: this file as a child: ``QApplication``, a ``QMainWindow`` with a label, the app's
  window size, shown; it writes ``painted`` at its first paint and quits on the next turn of
  the event loop (no qasync, nothing of the app);
* **app**: ``python -m qwen_desktop --quit-after 0`` with ``QWEN_DESKTOP_PAINT_MARKER=1``: it
  writes ``painted`` on the turn after its window's first paint, then closes cleanly;
* **frozen** (when ``--frozen`` names a built executable, installer/README.md): the same as app.

For each process the parent records the wall-clock time (``time.perf_counter``) from spawn to
the ``painted`` line ("painted") and to exit ("exited"), and its peak resident memory
(``ru_maxrss`` from ``os.wait4``). The first run of each is reported apart (the OS file cache
stays warm after it; dropping it needs root); medians of the rest and the ratios app ÷ bare are
printed with the goals of issue 15: painted ≤ 2× bare (frozen ≤ 2.5×). Linux and macOS
(``os.wait4``). Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAINTED = "painted"
GOAL_PYTHON, GOAL_FROZEN = 2.0, 2.5


def _bare_child() -> int:
    """A bare PySide6 window: the baseline (what any Qt app pays to paint a window)."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setCentralWidget(QLabel("bare"))
    window.resize(1200, 780)  # the app's window size

    class Painted(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                watched.removeEventFilter(self)
                QTimer.singleShot(0, self.report)
            return False

        def report(self) -> None:
            print(PAINTED, flush=True)
            window.close()
            app.quit()

    watcher = Painted()
    window.installEventFilter(watcher)
    window.show()
    return app.exec()


@dataclass
class Run:
    """One process: seconds to the ``painted`` line and to exit, peak RSS in MiB."""

    painted_s: float
    exited_s: float
    peak_rss_mib: float


def _run(command: list[str], env: dict[str, str]) -> Run:
    """Spawn ``command``, wait for its ``painted`` line and its exit (status 0 required)."""
    start = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    painted = None
    for line in child.stdout:
        if line.strip() == PAINTED and painted is None:
            painted = time.perf_counter() - start
    _pid, status, usage = os.wait4(child.pid, 0)
    exited = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    errors = child.stderr.read() if child.stderr else ""
    if child.returncode != 0 or painted is None:
        raise SystemExit(
            f"{' '.join(command)} exited {child.returncode} "
            f"({'painted' if painted else 'never painted'}):\n{errors}"
        )
    # ru_maxrss: KiB on Linux, bytes on macOS.
    rss = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return Run(round(painted, 3), round(exited, 3), round(rss, 1))


def _median(runs: list[Run], field: str) -> float:
    values = [getattr(run, field) for run in (runs[1:] or runs)]
    return statistics.median(values)


def main() -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="processes of each kind (≥ 2)")
    parser.add_argument("--frozen", type=Path, help="a built executable to time as well")
    parser.add_argument("--child", choices=("bare",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "bare":
        return _bare_child()
    if args.runs < 2:
        print("error: --runs must be at least 2 (the first run is reported apart).")
        return 2
    if args.frozen is not None and not args.frozen.exists():
        print(f"error: {args.frozen} does not exist; build it first (installer/README.md).")
        return 2
    scratch = tempfile.mkdtemp(prefix="qwen-desktop-bench-")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "QWEN_DESKTOP_DATA_DIR": f"{scratch}/data",
        "QWEN_DESKTOP_CONFIG_DIR": f"{scratch}/config",
        "QWEN_DESKTOP_PAINT_MARKER": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    commands = {
        "bare": [sys.executable, __file__, "--child", "bare"],
        "app": [sys.executable, "-m", "qwen_desktop", "--quit-after", "0"],
    }
    if args.frozen is not None:
        commands["frozen"] = [str(args.frozen), "--quit-after", "0"]
    runs: dict[str, list[Run]] = {kind: [] for kind in commands}
    for _ in range(args.runs):
        for kind, command in commands.items():
            runs[kind].append(_run(command, env))
    print(f"{args.runs} runs each, alternating, offscreen; medians of runs 2–{args.runs}:")
    print(f"{'':<8}{'painted (s)':>12}{'exited (s)':>12}{'peak RSS (MiB)':>16}   first run")
    for kind, done in runs.items():
        first = done[0]
        print(
            f"{kind:<8}{_median(done, 'painted_s'):>12.3f}{_median(done, 'exited_s'):>12.3f}"
            f"{_median(done, 'peak_rss_mib'):>16.1f}   "
            f"{first.painted_s:.3f} / {first.exited_s:.3f} s, {first.peak_rss_mib:.0f} MiB"
        )
    bare = runs["bare"]
    for kind in commands:
        if kind == "bare":
            continue
        goal = GOAL_FROZEN if kind == "frozen" else GOAL_PYTHON
        painted = _median(runs[kind], "painted_s") / _median(bare, "painted_s")
        exited = _median(runs[kind], "exited_s") / _median(bare, "exited_s")
        rss = _median(runs[kind], "peak_rss_mib") / _median(bare, "peak_rss_mib")
        verdict = "met" if painted <= goal else "NOT met"
        print(
            f"{kind} ÷ bare: painted ×{painted:.2f} (goal ≤ {goal:g}: {verdict}), "
            f"exited ×{exited:.2f}, peak RSS ×{rss:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
