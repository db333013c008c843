"""Starting coroutines from Qt code and never losing their exceptions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskGroup:
    """Keeps strong references to background tasks and reports their failures.

    Args:
        on_error: Called with the exception of any task that fails (not for cancellation).
    """

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Schedule ``coro`` on the running loop and track it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task failed", exc_info=exc)
            self._on_error(exc)

    def cancel_all(self) -> None:
        """Cancel every tracked task."""
        for task in list(self._tasks):
            task.cancel()

    async def cancel_and_wait(self) -> None:
        """Cancel every tracked task and wait until all have ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
