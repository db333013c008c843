"""Plain records read from and written to the chat store.

Times are seconds since the Unix epoch (UTC, floats). Token counts are tokens of the model's
tokenizer as the engine reported them; ``None`` means unknown (e.g. a stopped answer, whose engine
never sent its final :class:`~qwen_desktop.core.types.Usage`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from dataclasses import dataclass
from typing import Any

from qwen_desktop.core.types import ChatMessage, FinishReason, Role, SamplingSettings, Usage

log = logging.getLogger(__name__)


class MessageStatus(enum.StrEnum):
    """Where a message stands.

    ``COMPLETE``: finished normally (every user message is complete when saved).
    ``STREAMING``: an answer being written right now (its text is saved every few hundred ms).
    ``STOPPED``: the user stopped the answer; the partial text is kept.
    ``ERROR``: the engine failed, or the app closed mid-answer; the partial text is kept and
    ``error`` says what happened.
    """

    COMPLETE = "complete"
    STREAMING = "streaming"
    STOPPED = "stopped"
    ERROR = "error"


@dataclass(frozen=True)
class ImageInput:
    """An image to attach to a message.

    Args:
        data: The encoded file (PNG, JPEG, WebP, GIF …), already resized to the pixel budget.
        mime: Its media type, e.g. ``image/png``.
        width: Pixels, when known.
        height: Pixels, when known.
    """

    data: bytes
    mime: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ImageRef:
    """An image stored once by content hash and linked to messages.

    Attributes:
        sha256: Hex SHA-256 of the bytes (the image's identity).
        mime: Media type.
        size_bytes: Size of the encoded file.
        width: Pixels, when known.
        height: Pixels, when known.
    """

    sha256: str
    mime: str
    size_bytes: int
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class MessageStats:
    """Counts and timings of one answer (all ``None`` for user messages).

    Attributes:
        prompt_tokens: Tokens of the prompt the answer was generated from.
        generated_tokens: Tokens generated (thinking + answer).
        thinking_tokens: Of which inside the thinking block.
        ttft_seconds: Time to first token.
        tokens_per_second: Decode speed.
        thinking_seconds: Time spent thinking.
        total_seconds: From request to the last token.
        finish_reason: ``stop``, ``length`` or ``cancelled``.
        thinking_incomplete: Generation ended inside the thinking block (case C3).
        context_window_full: The answer stopped because the context window was full.
    """

    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    thinking_tokens: int | None = None
    ttft_seconds: float | None = None
    tokens_per_second: float | None = None
    thinking_seconds: float | None = None
    total_seconds: float | None = None
    finish_reason: FinishReason | None = None
    thinking_incomplete: bool = False
    context_window_full: bool = False

    @classmethod
    def from_usage(cls, usage: Usage) -> MessageStats:
        """The stats an engine's final :class:`Usage` carries."""
        return cls(
            prompt_tokens=usage.prompt_tokens,
            generated_tokens=usage.generated_tokens,
            thinking_tokens=usage.thinking_tokens,
            ttft_seconds=usage.ttft_seconds,
            tokens_per_second=usage.tokens_per_second,
            thinking_seconds=usage.thinking_seconds,
            total_seconds=usage.total_seconds,
            finish_reason=usage.finish_reason,
            thinking_incomplete=usage.thinking_incomplete,
            context_window_full=usage.context_window_full,
        )

    @property
    def answer_tokens(self) -> int | None:
        """Generated tokens outside the thinking block (None when either count is unknown)."""
        if self.generated_tokens is None or self.thinking_tokens is None:
            return None
        return max(0, self.generated_tokens - self.thinking_tokens)


@dataclass(frozen=True)
class MessageRecord:
    """One stored message.

    Attributes:
        id: Row id (unique in the store).
        conversation_id: The conversation it belongs to.
        position: Order inside the conversation (increasing; gaps are possible).
        role: ``user``, ``assistant`` or ``system``.
        content: The text (for an answer: the answer only).
        thinking: The answer's thinking, stored apart and never sent back to the model.
        status: See :class:`MessageStatus`.
        created_at: When it was saved (or the answer started).
        finished_at: When the answer ended (None while streaming).
        error: What went wrong (status ``error``).
        error_action: What the user can do about it.
        stats: Counts and timings.
        model: The model that answered (answers only).
        engine: The engine that ran it (answers only).
        thinking_mode: The thinking switch sent with the request (None: the model's default).
        sampling: The decoding settings used (answers only).
        images: Attached images, in order.
    """

    id: int
    conversation_id: int
    position: int
    role: Role
    content: str
    thinking: str = ""
    status: MessageStatus = MessageStatus.COMPLETE
    created_at: float = 0.0
    finished_at: float | None = None
    error: str | None = None
    error_action: str | None = None
    stats: MessageStats = MessageStats()
    model: str = ""
    engine: str = ""
    thinking_mode: bool | None = None
    sampling: SamplingSettings | None = None
    images: tuple[ImageRef, ...] = ()

    def for_prompt(self) -> ChatMessage:
        """The message as it goes back to the model: role and answer text, never the thinking."""
        return ChatMessage(self.role, self.content)


@dataclass(frozen=True)
class NewMessage:
    """A message to insert (no id or position yet); see :class:`MessageRecord` for the fields.

    ``created_at`` / ``finished_at`` None mean "now" (``finished_at`` stays None for a
    ``streaming`` message).
    """

    role: Role
    content: str
    thinking: str = ""
    status: MessageStatus = MessageStatus.COMPLETE
    images: tuple[ImageInput, ...] = ()
    model: str = ""
    engine: str = ""
    thinking_mode: bool | None = None
    sampling: SamplingSettings | None = None
    stats: MessageStats = MessageStats()
    error: str | None = None
    error_action: str | None = None
    created_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class ConversationRecord:
    """One stored conversation and its settings.

    Attributes:
        id: Row id.
        title: Shown in the sidebar (empty until named or until the first message names it).
        created_at: When it was created.
        updated_at: When a message or a setting last changed (the sidebar sorts by it).
        model: The model reference chosen for it (catalog id, Ollama tag or folder).
        engine: The engine chosen for it (``ollama``, ``transformers`` …).
        system_prompt: Sent first with every request when not empty.
        sampling: Decoding settings; None = Qwen's recommendation for the mode.
        thinking: The thinking switch (only hybrid models are affected by it).
        thinking_budget_tokens: Close the thinking after this many tokens (None: no budget).
        message_count: Number of messages.
    """

    id: int
    title: str
    created_at: float
    updated_at: float
    model: str = ""
    engine: str = ""
    system_prompt: str = ""
    sampling: SamplingSettings | None = None
    thinking: bool = True
    thinking_budget_tokens: int | None = None
    message_count: int = 0


@dataclass(frozen=True)
class SearchHit:
    """A conversation that matches a search.

    Attributes:
        conversation: The conversation.
        snippet: The matching text around the first hit, the matched words wrapped in
            :data:`MATCH_START` / :data:`MATCH_END` (control characters that never occur in
            chat text: escape the snippet for display, then replace them with highlighting).
        message_id: The message that matched, or None when the title matched.
    """

    conversation: ConversationRecord
    snippet: str
    message_id: int | None


MATCH_START = "\x02"
"""Marks the start of a matched word in :attr:`SearchHit.snippet`."""
MATCH_END = "\x03"
"""Marks the end of a matched word in :attr:`SearchHit.snippet`."""


def sampling_to_json(sampling: SamplingSettings | None) -> str | None:
    """Serialize decoding settings (None stays None: "Qwen's recommendation for the mode")."""
    return None if sampling is None else json.dumps(dataclasses.asdict(sampling), sort_keys=True)


def sampling_from_json(text: str | None) -> SamplingSettings | None:
    """Read decoding settings; unknown keys are ignored and broken values give None, logged."""
    if not text:
        return None
    try:
        raw: Any = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        known = {f.name: f.type for f in dataclasses.fields(SamplingSettings)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            log.warning("Ignoring unknown sampling settings %s", unknown)
        return SamplingSettings(**{k: v for k, v in raw.items() if k in known})
    except (TypeError, ValueError) as exc:
        log.warning("Ignoring unreadable sampling settings %r: %s", text[:200], exc)
        return None
