"""Plain data types shared by every layer: chat messages, requests and stream events.

The stream-event contract (see ARCHITECTURE.md, "The backend seam"): an engine yields, in order,
any number of :class:`ThinkingDelta` / :class:`AnswerDelta` events, possibly one
:class:`ThinkingReclassified`, then exactly one :class:`Usage` as the last event of a finished
stream, or a :class:`StreamError` as the last event of a failed one. A cancelled stream (the
consuming task was cancelled) ends without a final event.

When the request offered tools (:attr:`ChatRequest.tools`), the answer may also carry tool calls:
for each call (numbered from 0 in the order of the answer) any number of :class:`ToolCallDelta`
while it streams, then either one complete :class:`ToolCall` or one :class:`ToolCallError` (the
call could not be read; its raw text is kept in the event). All of them come before the final
:class:`Usage`. Every engine produces the same events, whether it parses Qwen's ``<tool_call>``
text itself (:mod:`qwen_desktop.core.tool_calls`) or gets structured calls from its server.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


class ThinkingKind(enum.StrEnum):
    """How a model variant thinks (see shared/research/qwen-catalog.md, "Thinking kinds").

    ``HYBRID``: thinks by default; the chat template's ``enable_thinking`` switches it off.
    ``THINKING_ONLY``: always thinks; the template itself opens ``<think>``.
    ``INSTRUCT_ONLY``: never thinks; a thinking switch would do nothing.
    """

    HYBRID = "hybrid"
    THINKING_ONLY = "thinking-only"
    INSTRUCT_ONLY = "instruct-only"


Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and its arguments as JSON Schema.

    Engines pass it the way each expects: OpenAI's function-tool shape
    (:meth:`as_openai`) for Ollama and OpenAI-compatible servers, and the same dicts as
    ``tools=`` to a chat template (Qwen's templates print each as JSON inside ``<tools>``).

    Attributes:
        name: The function name the model writes in its call (``get_weather``).
        description: One or two sentences for the model: what the tool does and returns.
        parameters: A JSON Schema ``object`` for the arguments (``{"type": "object",
            "properties": {...}, "required": [...]}``).
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}, hash=False
    )

    def as_openai(self) -> dict[str, Any]:
        """``{"type": "function", "function": {"name", "description", "parameters"}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call the model made (a stream event, and part of an assistant message).

    Attributes:
        name: The tool's name, as the model wrote it (it may name no offered tool).
        arguments: The arguments, a JSON object decoded into a dict.
        id: The call's id: the server's (OpenAI ``tool_calls[].id``) or one made up by the
            parser (``call_`` + 24 hex digits); a tool result answers it.
        index: The call's position in its answer, from 0.
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict, hash=False)
    id: str = ""
    index: int = 0

    def arguments_json(self) -> str:
        """The arguments as compact JSON text (what OpenAI's API carries)."""
        return json.dumps(dict(self.arguments), ensure_ascii=False)


@dataclass(frozen=True)
class ToolCallDelta:
    """A tool call is streaming: shown as a pending call block until it completes.

    Attributes:
        index: The call's position in its answer, from 0 (the same as its final event's).
        name: The tool's name once known (set in one delta, empty in the others).
        text: New raw text of the call (its JSON, XML or argument text), for display only.
    """

    index: int
    name: str = ""
    text: str = ""


@dataclass(frozen=True)
class ToolCallError:
    """A tool call the model wrote could not be read (malformed JSON, cut off, no name).

    Attributes:
        index: The call's position in its answer, from 0.
        message: What is wrong, in plain words.
        text: The call's raw text exactly as the model wrote it (never lost).
        name: The tool's name when it could be read, else empty.
    """

    index: int
    message: str
    text: str = ""
    name: str = ""


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation.

    ``thinking`` is stored apart from ``content`` and is never sent back to the model
    (Qwen's rule: only the final answer of earlier assistant turns goes into the prompt).
    ``images`` holds encoded image files (PNG/JPEG bytes, not base64) attached to a user
    message, for vision models; engines that cannot see ignore them.

    Tool use: an assistant message may carry ``tool_calls`` (its ``content`` is the text around
    them, often empty); each result goes back as a ``tool`` message whose ``content`` is the
    result text, with ``tool_call_id`` and ``tool_name`` naming the call it answers (Qwen's
    templates wrap it in ``<tool_response>``).
    """

    role: Role
    content: str
    thinking: str = ""
    images: tuple[bytes, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""


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
        tools: Tools the model may call in this answer (empty: none; the answer is plain text
            and a ``<tool_call>`` in it stays text).
    """

    messages: tuple[ChatMessage, ...]
    thinking: bool | None = None
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    thinking_budget_tokens: int | None = None
    tools: tuple[ToolSpec, ...] = ()


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


StreamEvent = (
    ThinkingDelta
    | AnswerDelta
    | ThinkingReclassified
    | ToolCallDelta
    | ToolCall
    | ToolCallError
    | Usage
    | StreamError
)
