"""Peak memory of this process over a window of time (one answer of an in-process engine).

Linux keeps a resettable high-water mark of a process's resident memory: writing ``5`` to
``/proc/self/clear_refs`` resets ``VmHWM`` in ``/proc/self/status`` to the current RSS
(proc(5), "clear_refs", since Linux 4.0). Elsewhere the lifetime peak from ``getrusage`` is the
best available figure (``ru_maxrss``: KiB on Linux, bytes on macOS), and the current RSS from
psutil where even that is missing (Windows: psutil's ``peak_wset``).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import psutil

_PROC = Path("/proc/self")


def reset_peak(proc: Path = _PROC) -> bool:
    """Start a new peak window; True when the OS supports it (Linux)."""
    try:
        (proc / "clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def peak_rss_bytes(proc: Path = _PROC) -> int:
    """Peak resident memory (bytes) since the last :func:`reset_peak`, or the lifetime peak."""
    with contextlib.suppress(OSError, ValueError):
        for line in (proc / "status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    info = psutil.Process().memory_info()
    peak = getattr(info, "peak_wset", None)  # Windows
    if peak:
        return int(peak)
    try:
        import resource

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(maxrss if sys.platform == "darwin" else maxrss * 1024)
    except ImportError:  # pragma: no cover - Windows without peak_wset
        return int(info.rss)
