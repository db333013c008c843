"""Qwen's end-of-turn tokens, and a stream cutter for engines that do not stop at them.

Qwen's chat templates (ChatML) end every turn with ``<|im_end|>``; ``<|endoftext|>`` ends a
document, and ``<|im_start|>`` opens the next turn. A server whose template or stop list misses
them streams on past the answer and invents the user's next turn (``Paris.<|im_end|>\\n
<|im_start|>user\\nAnd Germany?``). Every engine therefore sends :data:`QWEN_STOP_TOKENS` as its
``stop`` list where the engine takes one, and passes the streamed text through a
:class:`StopCutter`, so the tokens are never shown or stored, and nothing after them enters the
history. Source of the token strings: the ``tokenizer_config.json`` / ``generation_config.json`` of
the Qwen2.5, Qwen3 and Qwen3.5 repositories (``eos_token_id`` 151645 ``<|im_end|>`` and 151643
``<|endoftext|>``; ``<|im_start|>`` is 151644).
"""

from __future__ import annotations

from collections.abc import Sequence

QWEN_STOP_TOKENS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
"""The strings that end a Qwen answer (sent as ``stop``; cut in the stream otherwise)."""


class StopCutter:
    """Cuts a streamed text at the first stop string, even one split across chunks.

    :meth:`feed` returns the part of the text that is certainly not the start of a stop string
    (a possible prefix, such as a trailing ``<|im``, is held back until the next chunk tells);
    once a stop string is seen it returns what came before it and then only ``""``;
    :meth:`finish` returns what is still held back (a prefix that never completed is text).

    Args:
        stops: The stop strings (default :data:`QWEN_STOP_TOKENS`); empty strings are ignored.
    """

    def __init__(self, stops: Sequence[str] = QWEN_STOP_TOKENS) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False
        """True once a stop string was seen (the caller should end the stream)."""
        self.stop_seen = ""
        """The stop string that ended the text ("" while none)."""

    def feed(self, chunk: str) -> str:
        """The text of ``chunk`` (with what was held back) that can be shown now."""
        if self.stopped or not chunk:
            return ""
        text = self._held + chunk
        first = -1
        for stop in self._stops:
            at = text.find(stop)
            if at != -1 and (first == -1 or at < first):
                first, self.stop_seen = at, stop
        if first != -1:
            self.stopped, self._held = True, ""
            return text[:first]
        keep = self._held_back(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def finish(self) -> str:
        """What was held back (the stream ended before it could become a stop string)."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _held_back(self, text: str) -> int:
        """Length of the longest end of ``text`` that begins some stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if stop.startswith(text[-size:]):
                    longest = size
                    break
        return longest
