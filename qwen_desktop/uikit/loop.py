"""The asyncio event loop on Qt's loop (qasync), and the async-generator hooks it lacks."""

from __future__ import annotations

import asyncio
import sys

import qasync
import shiboken6
from PySide6.QtWidgets import QApplication


def install_asyncgen_hooks(loop: asyncio.AbstractEventLoop) -> None:
    """Install asyncio's async-generator hooks for ``loop``.

    asyncio's own ``run_forever`` installs them; qasync's does not, so breaking out of a streamed
    response (an ``async for`` over an httpx/ollama stream) would leave generators unfinalized and
    print "async generator ignored GeneratorExit" (measured; see shared/research/this-machine.md).
    """
    firstiter = getattr(loop, "_asyncgen_firstiter_hook", None)
    finalizer = getattr(loop, "_asyncgen_finalizer_hook", None)
    if firstiter and finalizer:
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)


class QtEventLoop(qasync.QEventLoop):
    """qasync's loop, closed without leaving Qt objects for another thread to destroy.

    qasync's ``close`` only marks its timer object stopped: timers still pending (a
    ``call_later`` that never fired) stay registered with Qt, and the timer object and the
    ``call_soon`` signaller are destroyed whenever Python's garbage collector gets to them,
    which may be on a worker thread (a download, the generation thread). Destroying a QObject
    with live timers on another thread leaves Qt's timer list pointing at freed memory: the next
    timer tick crashes the process (seen as a segfault in ``QTimerInfoList::activateTimers`` when
    several GUI test files ran in one process). Here the pending timers are killed and both
    objects destroyed by the thread that closes the loop, which is the thread that made them.
    """

    def close(self) -> None:
        if self.is_running() or self.is_closed():
            super().close()
            return
        timer = self._timer
        signaller = getattr(self, "_QEventLoop__call_soon_signaller", None)
        super().close()
        callbacks = getattr(timer, "_SimpleTimer__callbacks", {})
        for timer_id in list(callbacks):
            timer.killTimer(timer_id)
        callbacks.clear()
        for qt_object in (timer, signaller):
            if qt_object is not None and shiboken6.isValid(qt_object):
                shiboken6.delete(qt_object)


def new_qt_event_loop(app: QApplication | None = None) -> qasync.QEventLoop:
    """A qasync event loop running on the (existing or new) QApplication (see
    :class:`QtEventLoop`)."""
    app = app or QApplication.instance() or QApplication([])  # type: ignore[assignment]
    loop = QtEventLoop(app)
    install_asyncgen_hooks(loop)
    return loop
