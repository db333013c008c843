"""The context meter (pure): how full the model's context window is, and the trimming rule.

What the prompt holds (Qwen's history rule, case C4): the system prompt, every earlier message's
text (for answers: the answer only), their images, the new message, plus the chat template's
tokens around each message. Earlier thinking is stored for display but never sent, so it is not
in the prompt; the meter reports it apart (``earlier_thinking_tokens``, "kept, not sent"). While
an answer streams, its tokens (thinking + answer) take room too; its thinking is shown as its own
share of that current answer.

Trimming rule (:data:`TRIM_RULE`): nothing is ever cut silently. When the prompt would leave less
than ``min(reserved answer, MIN_ANSWER_TOKENS)`` tokens for the answer, sending is refused
(:class:`ContextFullError`) and the user chooses: start a new chat, or remove the oldest messages
(:func:`oldest_to_remove` says how many, always whole exchanges). Before that, from
``warn_fraction`` (80 %) of the window, the meter warns that answers may be cut short.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qwen_desktop.core.errors import ContextWindowExceededError
from qwen_desktop.core.types import Role

TokenCounter = Callable[[str], int]
"""Counts the tokens of a text with the model's tokenizer."""

MESSAGE_OVERHEAD_TOKENS = 5
"""Template tokens around each message in ChatML (``<|im_start|>``, role, newline,
``<|im_end|>``, newline; Qwen chat templates)."""
GENERATION_PROMPT_TOKENS = 3
"""``<|im_start|>assistant\\n`` that opens the answer."""
MIN_ANSWER_TOKENS = 256
"""Sending is refused when the prompt leaves less room than this (or the reserved length, if
smaller) for the answer."""
WARN_FRACTION = 0.8
"""The meter warns once prompt + reserved answer exceed this share of the window."""
VISUAL_TOKEN_PIXELS = 28
"""Qwen2.5-VL / Qwen3-VL: one visual token per 28×28 pixel area (patch 14, merge 2)."""
UNKNOWN_IMAGE_TOKENS = 1280
"""Visual tokens assumed for an image of unknown size (the common ``max_pixels`` = 1280·28·28)."""

TRIM_RULE = (
    "Nothing is ever cut silently. When a message would not fit in the model's context window, "
    "it is not sent: start a new chat, or remove the oldest messages. Earlier thinking is never "
    "sent back to the model, so it takes no room."
)


class MeterLevel(enum.StrEnum):
    """How full the window is.

    ``UNKNOWN``: the context window is not known (no model loaded).
    ``OK``: prompt + reserved answer fit comfortably.
    ``WARNING``: above ``warn_fraction`` of the window: answers may be cut short.
    ``FULL``: too little room for an answer: sending is refused.
    """

    UNKNOWN = "unknown"
    OK = "ok"
    WARNING = "warning"
    FULL = "full"


@dataclass(frozen=True)
class MeterMessage:
    """One message as the meter sees it.

    Texts may be left empty when their token counts are given and no counter is passed (counts
    resolved once and cached, as the conversation service does).

    Attributes:
        role: Its role.
        content: Its text (for an answer: the answer only).
        thinking: The thinking stored with an earlier answer (never sent).
        content_tokens: Tokens of ``content`` when known (e.g. from the engine's counts).
        thinking_tokens: Tokens of ``thinking`` when known.
        image_tokens: Visual tokens of its images (see :func:`visual_tokens`).
        sent: False for a stored message that does not go into the prompt (an answer that
            failed before writing anything).
        removable: False for what "remove oldest messages" may not remove (the system prompt,
            the message being sent).
    """

    role: Role
    content: str
    thinking: str = ""
    content_tokens: int | None = None
    thinking_tokens: int | None = None
    image_tokens: int = 0
    sent: bool = True
    removable: bool = True


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` without a tokenizer (an overestimate on purpose).

    ASCII: one token per 3.5 characters (English prose averages about 4 with Qwen's BPE); any
    other character counts as a token (Chinese averages about 1.4 characters per token).
    """
    if not text:
        return 0
    ascii_chars = sum(1 for char in text if ord(char) < 128)
    return math.ceil(ascii_chars / 3.5) + (len(text) - ascii_chars)


def visual_tokens(width: int | None, height: int | None) -> int:
    """Visual tokens of an image sent at ``width`` × ``height`` pixels (one per 28×28 area)."""
    if not width or not height:
        return UNKNOWN_IMAGE_TOKENS
    return math.ceil(width / VISUAL_TOKEN_PIXELS) * math.ceil(height / VISUAL_TOKEN_PIXELS)


def count_tokens(text: str, known: int | None = None, counter: TokenCounter | None = None) -> int:
    """Tokens of ``text``: the tokenizer's count when there is one, else ``known`` (e.g. from
    the engine's report), else :func:`estimate_tokens`."""
    if counter is not None:
        return counter(text) if text else 0
    return known if known is not None else estimate_tokens(text)


def message_tokens(message: MeterMessage, counter: TokenCounter | None = None) -> int:
    """Prompt tokens ``message`` takes: template overhead, text, images (0 when not sent)."""
    if not message.sent:
        return 0
    text = count_tokens(message.content, message.content_tokens, counter)
    return MESSAGE_OVERHEAD_TOKENS + text + message.image_tokens


def prompt_tokens(messages: Sequence[MeterMessage], counter: TokenCounter | None = None) -> int:
    """Tokens of the prompt built from ``messages`` (thinking excluded), answer opening included."""
    return GENERATION_PROMPT_TOKENS + sum(message_tokens(m, counter) for m in messages)


@dataclass(frozen=True)
class ContextReading:
    """What the meter shows.

    Attributes:
        window_tokens: The model's context window (0: unknown).
        prompt_tokens: Tokens of the prompt (thinking of earlier answers excluded).
        reserved_answer_tokens: The answer length asked for (``max_new_tokens``).
        answer_tokens: Tokens of the current answer so far (thinking + answer).
        thinking_tokens: Of which thinking (the current answer's only).
        earlier_thinking_tokens: Thinking stored with earlier answers: kept, not sent.
        estimated: True when counts are estimates (no tokenizer was available).
        level: See :class:`MeterLevel`.
        min_answer_tokens: The least room for an answer that sending requires.
    """

    window_tokens: int
    prompt_tokens: int
    reserved_answer_tokens: int
    answer_tokens: int = 0
    thinking_tokens: int = 0
    earlier_thinking_tokens: int = 0
    estimated: bool = False
    level: MeterLevel = MeterLevel.OK
    min_answer_tokens: int = MIN_ANSWER_TOKENS

    @property
    def used_tokens(self) -> int:
        """Prompt plus the current answer so far."""
        return self.prompt_tokens + self.answer_tokens

    @property
    def room_left_tokens(self) -> int:
        """Tokens still free in the window (negative when over)."""
        return self.window_tokens - self.used_tokens

    @property
    def answer_limit_tokens(self) -> int:
        """The most tokens the answer may take: the reserved length capped by the room left."""
        return max(0, min(self.reserved_answer_tokens, self.window_tokens - self.prompt_tokens))

    @property
    def answer_capped(self) -> bool:
        """True when the window, not the reserved length, limits the answer."""
        return self.answer_limit_tokens < self.reserved_answer_tokens

    @property
    def fits(self) -> bool:
        """False when sending must be refused."""
        return self.level is not MeterLevel.FULL

    def shares(self) -> dict[str, float]:
        """Fractions of the window for a stacked bar: prompt, answer, thinking, free (sum 1)."""
        if self.window_tokens <= 0:
            return {"prompt": 0.0, "answer": 0.0, "thinking": 0.0, "free": 1.0}
        window = float(self.window_tokens)
        prompt = min(1.0, self.prompt_tokens / window)
        thinking = min(1.0 - prompt, self.thinking_tokens / window)
        answer = min(1.0 - prompt - thinking, (self.answer_tokens - self.thinking_tokens) / window)
        answer = max(0.0, answer)
        return {
            "prompt": prompt,
            "answer": answer,
            "thinking": thinking,
            "free": max(0.0, 1.0 - prompt - answer - thinking),
        }

    def describe(self) -> str:
        """One line for the meter's tooltip."""
        if self.level is MeterLevel.UNKNOWN:
            return "Context window unknown: load a model to measure the conversation."
        approx = "≈" if self.estimated else ""
        pct = 100 * self.used_tokens / self.window_tokens
        parts = [
            f"{approx}{self.used_tokens:,} of {self.window_tokens:,} tokens ({pct:.0f} %)",
            f"prompt {approx}{self.prompt_tokens:,}",
        ]
        if self.answer_tokens:
            parts.append(f"answer {self.answer_tokens:,} (thinking {self.thinking_tokens:,})")
        if self.earlier_thinking_tokens:
            parts.append(f"earlier thinking {self.earlier_thinking_tokens:,} (kept, not sent)")
        return " · ".join(parts)

    def warning(self) -> str:
        """What to tell the user at this level (empty when all is well)."""
        if self.level is MeterLevel.WARNING:
            pct = 100 * (self.prompt_tokens + self.reserved_answer_tokens) / self.window_tokens
            return (
                f"The conversation and its next answer need {pct:.0f} % of the context window; "
                f"answers may be cut short at {self.answer_limit_tokens:,} tokens. Start a new "
                "chat or remove the oldest messages soon."
            )
        if self.level is MeterLevel.FULL:
            return (
                f"The next message does not fit: the prompt needs {self.prompt_tokens:,} of "
                f"{self.window_tokens:,} tokens, leaving {max(0, self.room_left_tokens):,} for "
                "the answer. Start a new chat, or remove the oldest messages."
            )
        return ""


def measure_context(
    messages: Sequence[MeterMessage],
    *,
    window_tokens: int,
    reserved_answer_tokens: int,
    counter: TokenCounter | None = None,
    answer_tokens: int = 0,
    thinking_tokens: int = 0,
    warn_fraction: float = WARN_FRACTION,
    min_answer_tokens: int = MIN_ANSWER_TOKENS,
    estimated: bool | None = None,
) -> ContextReading:
    """Read the meter for a prompt and, while it streams, its answer.

    Args:
        messages: Everything the prompt is built from, oldest first: the system prompt, the
            stored messages (with their thinking, which is not counted in the prompt) and the
            message being sent.
        window_tokens: The model's context window (0 or less: unknown).
        reserved_answer_tokens: The answer length asked for (``max_new_tokens``).
        counter: The model's tokenizer, when available; else stored counts or estimates.
        answer_tokens: Tokens of the current answer so far (thinking included).
        thinking_tokens: Of which thinking.
        warn_fraction: Share of the window from which the meter warns.
        min_answer_tokens: Least room for the answer below which sending is refused.
        estimated: Whether the counts are estimates (None: when no ``counter`` is given).
            Callers that pass counts they resolved earlier say how they got them.
    """
    prompt = prompt_tokens(messages, counter)
    earlier = sum(
        count_tokens(m.thinking, m.thinking_tokens, counter)
        if m.thinking
        else m.thinking_tokens or 0
        for m in messages
    )
    need = min(reserved_answer_tokens, min_answer_tokens)
    if window_tokens <= 0:
        level = MeterLevel.UNKNOWN
    elif window_tokens - prompt < need or prompt + answer_tokens >= window_tokens:
        level = MeterLevel.FULL
    elif prompt + max(reserved_answer_tokens, answer_tokens) > warn_fraction * window_tokens:
        level = MeterLevel.WARNING
    else:
        level = MeterLevel.OK
    return ContextReading(
        window_tokens=max(0, window_tokens),
        prompt_tokens=prompt,
        reserved_answer_tokens=reserved_answer_tokens,
        answer_tokens=answer_tokens,
        thinking_tokens=thinking_tokens,
        earlier_thinking_tokens=earlier,
        estimated=counter is None if estimated is None else estimated,
        level=level,
        min_answer_tokens=need,
    )


def oldest_to_remove(
    messages: Sequence[MeterMessage],
    *,
    window_tokens: int,
    reserved_answer_tokens: int,
    counter: TokenCounter | None = None,
    min_answer_tokens: int = MIN_ANSWER_TOKENS,
) -> int | None:
    """How many of the oldest removable messages must go for the prompt to fit.

    Only whole exchanges are removed: after the cut, the first removable message left is a
    user message (an answer is never kept without its question).

    Returns:
        0 when it already fits; the count of removable messages (oldest first) to remove; None
        when even removing every removable message is not enough (the new message itself is
        too long: start a new chat with a shorter message).
    """
    if window_tokens <= 0:
        return 0
    need = min(reserved_answer_tokens, min_answer_tokens)
    budget = window_tokens - need
    total = prompt_tokens(messages, counter)
    removable = [m for m in messages if m.removable]
    removed_tokens = 0
    for count in range(len(removable) + 1):
        at_boundary = count in (0, len(removable)) or removable[count].role == "user"
        if at_boundary and total - removed_tokens <= budget:
            return count
        if count < len(removable):
            removed_tokens += message_tokens(removable[count], counter)
    return None


class ContextFullError(ContextWindowExceededError):
    """A message was not sent because it would not fit (nothing was cut).

    Attributes:
        reading: The meter as it would have been.
        remove_oldest: Messages to remove to make it fit (None: removing all would not do).
    """

    def __init__(self, reading: ContextReading, remove_oldest: int | None) -> None:
        if remove_oldest:
            action = f"Start a new chat, or remove the {remove_oldest} oldest messages of this one."
        else:
            action = "Start a new chat, or shorten the message."
        super().__init__(
            f"This message does not fit in the model's context window: the prompt needs "
            f"{reading.prompt_tokens:,} of {reading.window_tokens:,} tokens, leaving "
            f"{max(0, reading.window_tokens - reading.prompt_tokens):,} for the answer "
            f"(at least {reading.min_answer_tokens:,} needed). Nothing was sent or cut.",
            action,
        )
        self.reading = reading
        self.remove_oldest = remove_oldest
