"""Qt face of a chat session: send, stop, and signals for every streamed event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from PySide6.QtCore import QObject, Signal

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.types import (
    AnswerDelta,
    StreamError,
    ThinkingDelta,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.qt.tasks import TaskGroup
from qwen_desktop.services.chat import ChatSession, TurnRecord

log = logging.getLogger(__name__)


class ChatController(QObject):
    """Runs chat turns on the asyncio loop and reports them as Qt signals.

    Signals:
        turn_started(str): A turn began with this prompt.
        thinking_received(str): New thinking text.
        thinking_reclassified(str): Text shown as answer was thinking: move it.
        answer_received(str): New answer text.
        turn_finished(object): The turn ended normally; the argument is its ``Usage``.
        turn_stopped(): The user stopped the turn (the partial answer is kept).
        turn_failed(str, str): The turn failed: message, action (partial text is kept).
        busy_changed(bool): A turn started (True) or ended (False).
    """

    turn_started = Signal(str)
    thinking_received = Signal(str)
    thinking_reclassified = Signal(str)
    answer_received = Signal(str)
    turn_finished = Signal(object)
    turn_stopped = Signal()
    turn_failed = Signal(str, str)
    busy_changed = Signal(bool)

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._tasks = TaskGroup(self._on_task_error)
        self._turn: asyncio.Task[None] | None = None
        self.last_record: TurnRecord | None = None
        self.last_turn_started: float | None = None

    @property
    def busy(self) -> bool:
        """True while a turn is streaming."""
        return self._turn is not None and not self._turn.done()

    def send(self, prompt: str, *, thinking: bool) -> bool:
        """Start a turn; returns False (doing nothing) when the prompt is empty or a turn runs."""
        prompt = prompt.strip()
        if not prompt or self.busy:
            return False
        self._turn = self._tasks.start(self._run(prompt, thinking))
        return True

    def stop(self) -> None:
        """Stop the running turn (no-op when idle); the partial answer is kept."""
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()

    async def _run(self, prompt: str, thinking: bool) -> None:
        record = TurnRecord(prompt)
        self.last_record = record
        self.last_turn_started = time.monotonic()
        self.turn_started.emit(prompt)
        self.busy_changed.emit(True)
        try:
            turn = self.session.run_turn(prompt, thinking=thinking, record=record)
            async with contextlib.aclosing(turn) as events:
                async for event in events:
                    if isinstance(event, ThinkingDelta):
                        self.thinking_received.emit(event.text)
                    elif isinstance(event, AnswerDelta):
                        self.answer_received.emit(event.text)
                    elif isinstance(event, ThinkingReclassified):
                        self.thinking_reclassified.emit(event.text)
                    elif isinstance(event, Usage):
                        self.turn_finished.emit(event)
                    elif isinstance(event, StreamError):
                        self.turn_failed.emit(event.message, event.action)
        except asyncio.CancelledError:
            self.turn_stopped.emit()
        except QwenDesktopError as exc:
            self.turn_failed.emit(exc.message, exc.action)
        finally:
            self.busy_changed.emit(False)

    def _on_task_error(self, exc: BaseException) -> None:
        self.turn_failed.emit(f"Unexpected error: {exc}", "See the log for details.")
        self.busy_changed.emit(False)

    async def shutdown(self) -> None:
        """Cancel this controller's running work and wait for it to end (window closing)."""
        await self._tasks.cancel_and_wait()
