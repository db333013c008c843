"""The asyncio event loop on Qt's loop (qasync), and the async-generator hooks it lacks."""

from __future__ import annotations

import asyncio
import sys

import qasync
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


def new_qt_event_loop(app: QApplication | None = None) -> qasync.QEventLoop:
    """A qasync event loop running on the (existing or new) QApplication."""
    app = app or QApplication.instance() or QApplication([])  # type: ignore[assignment]
    loop = qasync.QEventLoop(app)
    install_asyncgen_hooks(loop)
    return loop
