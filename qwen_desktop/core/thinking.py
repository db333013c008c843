"""The one incremental thinking parser every engine's text goes through.

Qwen models write their reasoning between ``<think>`` and ``</think>`` and the answer after it.
What arrives is a stream of text chunks of any size, so the parser must cope with:

- an opening tag in the output (hybrid Qwen3 in thinking mode), or one already written by the chat
  template into the prompt (thinking-only variants: the output only *closes* the block; case C1);
- tags split across chunks (``"</thi"`` + ``"nk>"``);
- an empty block (``<think>\\n\\n</think>`` printed by a hybrid model with thinking off; case C2),
  which yields no thinking at all;
- a block that never closes (the token limit hit while thinking; case C3), reported through
  :attr:`ThinkingParser.thinking_incomplete`.

Whitespace between the tags and the text (``<think>\\n`` and ``</think>\\n\\n``) is not content:
thinking and answer come out stripped at both ends, while whitespace inside them is kept.
The parser never loses text: anything held back waiting for more input is released by
:meth:`ThinkingParser.finish`.
"""

from __future__ import annotations

from qwen_desktop.core.types import AnswerDelta, ThinkingDelta, ThinkingReclassified

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

ParserEvent = ThinkingDelta | AnswerDelta | ThinkingReclassified

_BEFORE, _THINKING, _ANSWER = "before", "thinking", "answer"


def prompt_opens_thinking(prompt: str) -> bool:
    """True when a rendered prompt ends inside an open ``<think>`` block.

    Thinking-only Qwen variants (``…-Thinking-2507``) end their generation prompt with
    ``<|im_start|>assistant\\n<think>\\n``; the model's output then starts inside the block.

    Args:
        prompt: The full prompt text as rendered by the chat template.
    """
    opened = prompt.rfind(OPEN_TAG)
    return opened != -1 and prompt.find(CLOSE_TAG, opened) == -1


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


class ThinkingParser:
    """Splits streamed model output into thinking and answer, incrementally.

    Args:
        starts_in_thinking: True when the prompt already opened ``<think>`` (see
            :func:`prompt_opens_thinking`); the output is thinking until ``</think>``.
        detect_unopened_close: When True (the default) a ``</think>`` that arrives although no
            block was opened turns the text before it into thinking (a
            :class:`~qwen_desktop.core.types.ThinkingReclassified` event): the template opened the
            block without the engine knowing. Set False for models that never think, so a
            literal ``</think>`` in an answer stays text.

    Use :meth:`feed` for every chunk and :meth:`finish` once at the end; both return the events
    to forward. :attr:`thinking` and :attr:`answer` always hold the text emitted so far.
    """

    def __init__(
        self, *, starts_in_thinking: bool = False, detect_unopened_close: bool = True
    ) -> None:
        self._detect_unopened_close = detect_unopened_close
        self._state = _THINKING if starts_in_thinking else _BEFORE
        self._buffer = ""  # text not yet classified (a possible partial tag)
        self._pending_ws = ""  # whitespace held until non-whitespace follows in the same part
        self._opened = starts_in_thinking
        self._closed = False
        self.thinking = ""
        self.answer = ""

    @property
    def in_thinking(self) -> bool:
        """True while the parser is inside an open thinking block."""
        return self._state == _THINKING

    @property
    def saw_thinking_block(self) -> bool:
        """True once a thinking block was opened (even if it turned out empty)."""
        return self._opened

    @property
    def thinking_incomplete(self) -> bool:
        """True when a thinking block was opened and never closed (read after :meth:`finish`)."""
        return self._opened and not self._closed

    def feed(self, chunk: str) -> list[ParserEvent]:
        """Parse one chunk of output; returns the events it completes."""
        self._buffer += chunk
        events: list[ParserEvent] = []
        while self._buffer:
            if not self._step(events):
                break
        return events

    def finish(self) -> list[ParserEvent]:
        """Flush what was held back at the end of the stream; returns the last events.

        A trailing partial tag (``"</thi"``) is emitted as text: the stream ended, so it was text.
        Trailing whitespace is dropped.
        """
        events: list[ParserEvent] = []
        rest, self._buffer = self._buffer, ""
        if self._state == _BEFORE:
            self._state = _ANSWER
        self._emit(rest, events)
        self._pending_ws = ""
        return events

    # -- internals ---------------------------------------------------------------------------

    def _step(self, events: list[ParserEvent]) -> bool:
        """Consume as much of the buffer as is decidable; False when more input is needed."""
        buffer = self._buffer
        if self._state == _BEFORE:
            stripped = buffer.lstrip()
            if not stripped:
                return False  # only whitespace so far: cannot tell yet
            if stripped.startswith(OPEN_TAG):
                self._buffer = stripped[len(OPEN_TAG) :]
                self._state, self._opened = _THINKING, True
                return True
            if OPEN_TAG.startswith(stripped):
                return False  # "<thi": wait for the rest
            self._state = _ANSWER
            return True
        if self._state == _THINKING:
            index = buffer.find(CLOSE_TAG)
            if index != -1:
                self._emit(buffer[:index], events)
                self._buffer = buffer[index + len(CLOSE_TAG) :]
                self._pending_ws = ""
                self._state, self._closed = _ANSWER, True
                return True
            keep = _partial_tag_suffix(buffer, CLOSE_TAG)
            self._emit(buffer[: len(buffer) - keep], events)
            self._buffer = buffer[len(buffer) - keep :]
            return False
        # answer state: watch for a stray closing tag when no block was opened
        if not self._opened and self._detect_unopened_close:
            index = buffer.find(CLOSE_TAG)
            if index != -1:
                self._emit(buffer[:index], events)
                self._reclassify(events)
                self._buffer = buffer[index + len(CLOSE_TAG) :]
                return True
            keep = _partial_tag_suffix(buffer, CLOSE_TAG)
        else:
            keep = 0
        self._emit(buffer[: len(buffer) - keep], events)
        self._buffer = buffer[len(buffer) - keep :]
        return False

    def _reclassify(self, events: list[ParserEvent]) -> None:
        """A ``</think>`` with no opening tag: all text so far was thinking (template opened it)."""
        moved = self.answer
        self.thinking, self.answer = self.answer, ""
        self._pending_ws = ""
        self._opened = self._closed = True
        if moved:
            events.append(ThinkingReclassified(moved))

    def _emit(self, text: str, events: list[ParserEvent]) -> None:
        """Append ``text`` to the current part, stripping whitespace at the part's edges."""
        if not text:
            return
        current = self.thinking if self._state == _THINKING else self.answer
        text = self._pending_ws + text
        if not current:
            text = text.lstrip()
        body = text.rstrip()
        self._pending_ws = text[len(body) :]
        if not body:
            return
        if self._state == _THINKING:
            self.thinking += body
            events.append(ThinkingDelta(body))
        else:
            self.answer += body
            events.append(AnswerDelta(body))
