"""Writing one streaming answer to the store: throttled text, then its final status and stats.

The saving rule (see :mod:`.database` for the whole durability story): text received is kept in
memory and written with one small ``UPDATE`` when at least ``flush_interval_s`` has passed since
the last write (checked on every event and, from the service, by a timer), and always in full when
the answer ends. So a crash loses at most the last ``flush_interval_s`` of streamed text of this
answer, and never anything written before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from qwen_desktop.core.storage.messages import MessageStore
from qwen_desktop.core.storage.records import MessageRecord, MessageStats, MessageStatus
from qwen_desktop.core.types import (
    AnswerDelta,
    StreamError,
    StreamEvent,
    ThinkingDelta,
    ThinkingReclassified,
    Usage,
)

DEFAULT_FLUSH_INTERVAL_S = 0.25
"""Seconds between writes of a streaming answer's text (at most four small writes a second)."""


class AnswerWriter:
    """Folds an answer's stream events into its ``streaming`` row.

    Args:
        store: The store holding the row.
        message: The row, added with status ``streaming``.
        flush_interval_s: Least seconds between two writes of streamed text.
        clock: Monotonic clock (seconds), replaceable in tests.

    Attributes:
        thinking: Thinking text so far (in memory; saved at the next flush).
        answer: Answer text so far.
        usage: The engine's final counts, once received.
        error: The engine's error, once received.
        flushes: How many text writes were made (for tests and benchmarks).
        result: The final row once the answer ended (None while streaming).
        started: Clock time the writer was made (the request is sent right after).
        first_token_at: Clock time of the first thinking or answer text.
    """

    def __init__(
        self,
        store: MessageStore,
        message: MessageRecord,
        *,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if message.status is not MessageStatus.STREAMING:
            raise ValueError(f"message {message.id} is not streaming")
        self._store = store
        self.message_id = message.id
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self.thinking = message.thinking
        self.answer = message.content
        self._pending_thinking = ""
        self._pending_answer = ""
        self._rewrite = False
        self._last_flush = clock()
        self.usage: Usage | None = None
        self.error: StreamError | None = None
        self.flushes = 0
        self.result: MessageRecord | None = None
        self.started = self._last_flush
        self.first_token_at: float | None = None
        self._thinking_at: float | None = None
        self._answer_at: float | None = None

    @property
    def pending(self) -> bool:
        """True when some received text is not written yet."""
        return self._rewrite or bool(self._pending_thinking or self._pending_answer)

    @property
    def closed(self) -> bool:
        """True once the answer has ended (finished, stopped or failed)."""
        return self.result is not None

    def apply(self, event: StreamEvent) -> None:
        """Fold one event in (same rules as :class:`~qwen_desktop.chat.service.TurnRecord`);
        writes the text when a flush is due."""
        if isinstance(event, ThinkingDelta | AnswerDelta):
            now = self._clock()
            self.first_token_at = self.first_token_at or now
        if isinstance(event, ThinkingDelta):
            self.thinking += event.text
            self._pending_thinking += event.text
            self._thinking_at = self._thinking_at or now
        elif isinstance(event, AnswerDelta):
            self.answer += event.text
            self._pending_answer += event.text
            self._answer_at = self._answer_at or now
        elif isinstance(event, ThinkingReclassified):
            self.thinking = event.text + self.thinking
            self.answer = self.answer.removeprefix(event.text).lstrip()
            self._rewrite = True
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, StreamError):
            self.error = event
        self.flush_if_due()

    def flush_if_due(self) -> bool:
        """Write pending text when ``flush_interval_s`` has passed since the last write."""
        if self.closed or not self.pending:
            return False
        if self._clock() - self._last_flush < self.flush_interval_s:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        """Write pending text now (one small transaction)."""
        if self.closed or not self.pending:
            return
        if self._rewrite:
            self._store.replace_streaming_text(
                self.message_id, answer=self.answer, thinking=self.thinking
            )
        else:
            self._store.append_to_message(
                self.message_id, answer=self._pending_answer, thinking=self._pending_thinking
            )
        self._pending_thinking = self._pending_answer = ""
        self._rewrite = False
        self._last_flush = self._clock()
        self.flushes += 1

    def measured_stats(self, *, stopped: bool = False) -> MessageStats:
        """The engine's counts when its final Usage came; else the times seen here.

        An answer that was stopped or failed has no Usage (engines send it last): its time to
        first token, thinking time and total time are then measured from this writer's clock,
        and its token counts stay unknown.
        """
        if self.usage is not None:
            return MessageStats.from_usage(self.usage)
        now = self._clock()
        thinking_seconds = None
        if self._thinking_at is not None:
            thinking_seconds = (self._answer_at or now) - self._thinking_at
        return MessageStats(
            ttft_seconds=None
            if self.first_token_at is None
            else self.first_token_at - self.started,
            thinking_seconds=thinking_seconds,
            total_seconds=now - self.started,
            finish_reason="cancelled" if stopped else None,
        )

    def _end(
        self,
        status: Literal[MessageStatus.COMPLETE, MessageStatus.STOPPED, MessageStatus.ERROR],
        stats: MessageStats | None,
        error: str | None = None,
        action: str | None = None,
    ) -> MessageRecord:
        if self.result is not None:
            return self.result
        self.result = self._store.finish_message(
            self.message_id,
            status,
            answer=self.answer,
            thinking=self.thinking,
            stats=stats or self.measured_stats(stopped=status is MessageStatus.STOPPED),
            error=error,
            error_action=action,
        )
        self._pending_thinking = self._pending_answer = ""
        self._rewrite = False
        return self.result

    def finish(self, stats: MessageStats | None = None) -> MessageRecord:
        """The answer ended normally: status ``complete`` (stats default to
        :meth:`measured_stats`)."""
        return self._end(MessageStatus.COMPLETE, stats)

    def stop(self, stats: MessageStats | None = None) -> MessageRecord:
        """The user stopped it: status ``stopped``, the partial text kept."""
        return self._end(MessageStatus.STOPPED, stats)

    def fail(
        self, message: str, action: str = "", stats: MessageStats | None = None
    ) -> MessageRecord:
        """The engine failed: status ``error`` with the message, the partial text kept."""
        return self._end(MessageStatus.ERROR, stats, message, action)
