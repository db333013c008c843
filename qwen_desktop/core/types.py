"""Plain data types shared by every layer: chat messages, requests and stream events.

The stream-event contract (see ARCHITECTURE.md, "The backend seam"): an engine yields, in order,
any number of :class:`ThinkingDelta` / :class:`AnswerDelta` events, possibly one
:class:`ThinkingReclassified`, then exactly one :class:`Usage` as the last event of a finished
stream, or a :class:`StreamError` as the last event of a failed one. A cancelled stream (the
consuming task was cancelled) ends without a final event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal


class ThinkingKind(enum.StrEnum):
    """How a model variant thinks (see shared/research/qwen-catalog.md, "Thinking kinds").

    ``HYBRID``: thinks by default; the chat template's ``enable_thinking`` switches it off.
    ``THINKING_ONLY``: always thinks; the template itself opens ``<think>``.
    ``INSTRUCT_ONLY``: never thinks; a thinking switch would do nothing.
    """

    HYBRID = "hybrid"
    THINKING_ONLY = "thinking-only"
    INSTRUCT_ONLY = "instruct-only"


Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation.

    ``thinking`` is stored apart from ``content`` and is never sent back to the model
    (Qwen's rule: only the final answer of earlier assistant turns goes into the prompt).
    ``images`` holds encoded image files (PNG/JPEG bytes, not base64) attached to a user
    message, for vision models; engines that cannot see ignore them.
    """

    role: Role
    content: str
    thinking: str = ""
    images: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class SamplingSettings:
    """Decoding settings.

    Defaults follow Qwen3's recommendation for thinking mode (temperature 0.6, top_p 0.95,
    top_k 20, min_p 0; source: Qwen3 model cards). ``temperature == 0`` means greedy decoding.
    ``max_new_tokens`` bounds the answer length in tokens (thinking included).
    """

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    min_p: float = 0.0
    max_new_tokens: int = 4096
    seed: int | None = None

    @classmethod
    def for_mode(cls, thinking: bool, **overrides: object) -> SamplingSettings:
        """Qwen3's recommended sampling: thinking 0.6/0.95/20/0, non-thinking 0.7/0.8/20/0."""
        base = cls() if thinking else cls(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0)
        return cls(**{**base.__dict__, **overrides})


@dataclass(frozen=True)
class ChatRequest:
    """What a backend needs to stream one answer.

    Args:
        messages: The conversation so far, oldest first, ending with the user's new message.
        thinking: ``True``/``False`` to switch thinking for hybrid models; ``None`` = model default.
        sampling: Decoding settings.
        thinking_budget_tokens: Close the thinking after this many thinking tokens and let the
            model answer (:mod:`qwen_desktop.core.thinking_budget`); None: no limit. Engines
            that cannot cut the thinking ignore it.
    """

    messages: tuple[ChatMessage, ...]
    thinking: bool | None = None
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    thinking_budget_tokens: int | None = None


@dataclass(frozen=True)
class BackendCapabilities:
    """What an engine (with its loaded model) can do."""

    vision: bool = False
    thinking_kind: ThinkingKind = ThinkingKind.INSTRUCT_ONLY
    context_window_tokens: int = 0

    @property
    def thinking_switch(self) -> bool:
        """True when a thinking on/off switch actually changes what the model does."""
        return self.thinking_kind is ThinkingKind.HYBRID


@dataclass(frozen=True)
class ThinkingDelta:
    """New thinking text (reasoning shown in the collapsible block)."""

    text: str


@dataclass(frozen=True)
class AnswerDelta:
    """New answer text."""

    text: str


@dataclass(frozen=True)
class ThinkingReclassified:
    """Text already streamed as answer turned out to be thinking.

    Sent when a closing ``</think>`` arrives although no opening tag was seen and the parser had
    not been told that the prompt opened one. Consumers move ``text`` from the answer to the
    thinking block.
    """

    text: str


FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Usage:
    """Counts and timings of one finished answer (the last event of a successful stream).

    Attributes:
        prompt_tokens: Tokens in the rendered prompt.
        generated_tokens: Tokens generated (thinking + answer).
        thinking_tokens: Tokens generated inside the thinking block (None when unknown).
        ttft_seconds: Seconds from the request to the first generated token (time to first token).
        tokens_per_second: Decode speed: (generated_tokens - 1) / (last token time - first token
            time); 0.0 when fewer than two tokens were generated.
        total_seconds: Seconds from the request to the end of generation.
        thinking_seconds: Seconds spent inside the thinking block (None when there was none).
        finish_reason: ``stop`` (the model ended), ``length`` (``max_new_tokens`` reached) or
            ``cancelled`` (the user stopped it).
        thinking_incomplete: True when generation ended while still inside the thinking block.
        context_window_full: True when the answer stopped because the context window was full
            (the answer limit had been capped at the room left after the prompt).
    """

    prompt_tokens: int
    generated_tokens: int
    ttft_seconds: float
    tokens_per_second: float
    total_seconds: float
    finish_reason: FinishReason = "stop"
    thinking_tokens: int | None = None
    thinking_seconds: float | None = None
    thinking_incomplete: bool = False
    context_window_full: bool = False


@dataclass(frozen=True)
class StreamError:
    """The engine failed mid-stream. Text already streamed stays valid (it is never retracted)."""

    message: str
    action: str = ""


StreamEvent = ThinkingDelta | AnswerDelta | ThinkingReclassified | Usage | StreamError
