"""Know when a window has first painted, so that start-up work waits until the user sees it.

The start-up goal (issue 15) is a window painted within 2× the time a bare PySide6 window takes;
everything else that a start needs (the hardware scan, the catalog's fit, the default engine,
the download queue, the Library listing) begins once the first frame is on screen.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

PAINT_MARKER_ENV = "QWEN_DESKTOP_PAINT_MARKER"
"""When set (to anything but empty), the line ``painted`` is written to stdout at the first
paint: ``bench/bench_cold_start.py`` times a whole process up to that line."""

PROCESS_STARTED = time.perf_counter()
"""``time.perf_counter()`` when this module was first imported (close to the process start:
the app imports it before anything heavy)."""


class FirstPaint(QObject):
    """Calls ``on_painted`` once, on the event-loop turn after ``window`` first painted.

    Args:
        window: The top-level window to watch.
        on_painted: Called with the seconds since :data:`PROCESS_STARTED`.
        fallback_ms: Call it anyway after this long (a window shown minimised never paints;
            start-up work must not wait for it forever).
    """

    def __init__(
        self, window: QWidget, on_painted: Callable[[float], None], fallback_ms: int = 3000
    ) -> None:
        super().__init__(window)
        self._on_painted = on_painted
        self._done = False
        window.installEventFilter(self)
        self._fallback = QTimer(self)
        self._fallback.setSingleShot(True)
        self._fallback.timeout.connect(lambda: self._fire("no paint within the fallback time"))
        self._fallback.start(fallback_ms)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self._done and event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            # After this paint has reached the screen: the next turn of the event loop.
            QTimer.singleShot(0, lambda: self._fire("painted"))
        return False

    def _fire(self, how: str) -> None:
        if self._done:
            return
        self._done = True
        self._fallback.stop()
        seconds = time.perf_counter() - PROCESS_STARTED
        log.info("window %s %.2f s after start", how, seconds)
        if os.environ.get(PAINT_MARKER_ENV):
            stream = sys.stdout
            if stream is not None:
                print("painted", file=stream, flush=True)
        self._on_painted(seconds)
