"""The qasync loop closes without leaving Qt timers for another thread to destroy."""

from __future__ import annotations

import gc
import threading

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication

from qwen_desktop.uikit.loop import new_qt_event_loop

pytestmark = pytest.mark.gui


def test_close_kills_pending_timers_and_destroys_its_qt_objects(qapp: QApplication) -> None:
    loop = new_qt_event_loop(qapp)
    fired: list[str] = []
    loop.call_later(0.01, fired.append, "late")  # never runs: the loop is closed first
    timer = loop._timer
    assert timer._SimpleTimer__callbacks  # a timer is registered with Qt
    loop.close()
    assert not shiboken6.isValid(timer)
    # The loop dropped on a worker thread (where a garbage collection may happen) and Qt's
    # timers ticking afterwards: nothing left to crash on.
    holder = [loop]
    del loop, timer
    worker = threading.Thread(target=lambda: (holder.clear(), gc.collect()))
    worker.start()
    worker.join()
    for _ in range(5):
        qapp.processEvents()
    assert fired == []
