"""Incremental detokenization: token ids in, text deltas out, O(1) work per token.

Decoding the whole output again for every new token costs O(n) per token (O(n²) per answer).
Decoding each token alone is wrong: a byte-level BPE token can hold part of a UTF-8 character
(``日`` is three byte-tokens in a small vocabulary) and some tokenizers change a token's text
depending on its left neighbour. The prefix/read-offset method (source: Hugging Face
text-generation-inference ``Model.decode_token``, vLLM ``detokenize_incrementally``) decodes only a
short window: ``ids[prefix:read]`` (text already emitted, as context) and ``ids[prefix:]``; the
difference is new text, emitted unless it ends with U+FFFD (an unfinished character), in which case
it is held back until the next token completes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT_CHAR = "\ufffd"


class IncrementalDetokenizer:
    """Turns a stream of token ids into text deltas.

    Args:
        decode: Decodes a list of ids to text, e.g.
            ``lambda ids: tokenizer.decode(ids, skip_special_tokens=True)``.

    Call :meth:`add` for each token and :meth:`flush` once at the end; the concatenation of all
    returned strings equals ``decode(all_ids)``.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # start of the context window (already emitted text)
        self._read = 0  # end of what has been emitted

    @property
    def token_count(self) -> int:
        """Tokens added so far."""
        return len(self._ids)

    def add(self, token_id: int) -> str:
        """Add one token; returns the text it completes (possibly empty)."""
        self._ids.append(token_id)
        prefix_text = self._decode(self._ids[self._prefix : self._read])
        new_text = self._decode(self._ids[self._prefix :])
        if len(new_text) > len(prefix_text) and not new_text.endswith(REPLACEMENT_CHAR):
            self._prefix, self._read = self._read, len(self._ids)
            return new_text[len(prefix_text) :]
        return ""

    def flush(self) -> str:
        """Release text held back at the end of the stream (an unfinished character included)."""
        prefix_text = self._decode(self._ids[self._prefix : self._read])
        new_text = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return new_text[len(prefix_text) :]
