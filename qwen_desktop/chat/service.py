"""Running chat turns: history, the request, and what an answer leaves behind.

:class:`ChatSession` owns one conversation with one backend. It builds each request with Qwen's
history rule (:func:`~qwen_desktop.core.conversation.messages_for_prompt`), forwards the engine's
events, and records the assistant message however the turn ends: finished, stopped by the user
(partial answer kept), or failed (partial answer kept, error attached).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from qwen_desktop.core.conversation import messages_for_prompt, thinking_request
from qwen_desktop.core.errors import NoModelLoadedError, QwenDesktopError
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    SamplingSettings,
    StreamError,
    StreamEvent,
    ThinkingDelta,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.engines.base import ChatBackend


@dataclass
class TurnRecord:
    """The outcome of one turn, updated while it streams.

    Attributes:
        prompt: The user's message.
        thinking: Thinking text so far.
        answer: Answer text so far.
        usage: Counts and timings, set when the engine finished normally.
        error: The engine's error (message, action) when the turn failed.
        cancelled: True when the user stopped the turn.
    """

    prompt: str
    thinking: str = ""
    answer: str = ""
    usage: Usage | None = None
    error: StreamError | None = None
    cancelled: bool = False

    def apply(self, event: StreamEvent) -> None:
        """Fold one stream event into the record."""
        if isinstance(event, ThinkingDelta):
            self.thinking += event.text
        elif isinstance(event, AnswerDelta):
            self.answer += event.text
        elif isinstance(event, ThinkingReclassified):
            self.thinking = event.text + self.thinking
            self.answer = self.answer.removeprefix(event.text).lstrip()
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, StreamError):
            self.error = event


@dataclass
class ChatSession:
    """One conversation with one backend.

    Args:
        backend: The engine that answers.
        system_prompt: Sent first when not empty.
        sampling: Decoding settings; ``None`` = Qwen's recommendation for the turn's mode.
        thinking_budget_tokens: Thinking tokens before the thinking is closed (None: no limit).
    """

    backend: ChatBackend
    system_prompt: str = ""
    sampling: SamplingSettings | None = None
    history: list[ChatMessage] = field(default_factory=list)
    thinking_budget_tokens: int | None = None

    def build_request(
        self, prompt: str, *, thinking: bool = True, images: tuple[bytes, ...] = ()
    ) -> ChatRequest:
        """The request for a new user message (history without thinking, then the prompt).

        Args:
            prompt: The user's new message.
            thinking: The thinking switch; only hybrid models are affected by it.
            images: Encoded image files attached to the new message (vision models).
        """
        kind = self.backend.capabilities.thinking_kind
        wanted = thinking_request(kind, thinking)
        mode_thinks = wanted if wanted is not None else kind.value == "thinking-only"
        sampling = self.sampling or SamplingSettings.for_mode(mode_thinks)
        messages: list[ChatMessage] = []
        if self.system_prompt:
            messages.append(ChatMessage("system", self.system_prompt))
        messages += messages_for_prompt(self.history)
        messages.append(ChatMessage("user", prompt, images=images))
        return ChatRequest(
            messages=tuple(messages),
            thinking=wanted,
            sampling=sampling,
            thinking_budget_tokens=self.thinking_budget_tokens,
        )

    async def run_turn(
        self,
        prompt: str,
        *,
        thinking: bool = True,
        record: TurnRecord | None = None,
        images: tuple[bytes, ...] = (),
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one turn's events; the history gets the user and assistant messages at the end.

        Once the engine has produced anything, the user and assistant messages are recorded even
        when the turn is then cancelled or fails, so a partial answer is never lost. Pass
        ``record`` to observe the accumulated state.

        Raises:
            NoModelLoadedError: No model is loaded in the backend.
            QwenDesktopError: The request cannot be served (e.g. it exceeds the context window);
                the history is left unchanged.
        """
        if self.backend.loaded is None:
            raise NoModelLoadedError()
        record = record or TurnRecord(prompt)
        request = self.build_request(prompt, thinking=thinking, images=images)
        started = False
        try:
            async with contextlib.aclosing(self.backend.stream_chat(request)) as stream:
                async for event in stream:
                    started = True
                    record.apply(event)
                    yield event
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        except QwenDesktopError:
            if not started:
                raise
            record.error = StreamError("The engine stopped answering.", "Try again.")
        finally:
            if started:
                self.history.append(ChatMessage("user", prompt, images=images))
                self.history.append(
                    ChatMessage("assistant", record.answer, thinking=record.thinking)
                )
