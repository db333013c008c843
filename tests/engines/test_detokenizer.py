"""Incremental detokenization: the deltas always add up to the full decode."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from qwen_desktop.engines.detokenizer import REPLACEMENT_CHAR, IncrementalDetokenizer

# A byte-level "vocabulary": token i is the byte sequence VOCAB[i] (like byte-level BPE, a token
# may hold part of a UTF-8 character).
VOCAB: list[bytes] = [bytes([b]) for b in range(256)] + [b"Gr", " 日".encode()[:2], b" "]


def decode(ids: Sequence[int]) -> str:
    return b"".join(VOCAB[i] for i in ids).decode("utf-8", errors="replace")


def run(ids: Sequence[int]) -> list[str]:
    detokenizer = IncrementalDetokenizer(decode)
    deltas = [detokenizer.add(i) for i in ids]
    return [*deltas, detokenizer.flush()]


def test_split_character_is_held_until_complete() -> None:
    ids = list("Grüße 日本".encode())  # one token per byte
    deltas = run(ids)
    assert "".join(deltas) == "Grüße 日本"
    assert not any(REPLACEMENT_CHAR in d for d in deltas)
    assert [d for d in deltas if d] == ["G", "r", "ü", "ß", "e", " ", "日", "本"]


def test_flush_releases_an_unfinished_character() -> None:
    deltas = run([0xE6, 0x97])  # first two bytes of 日
    assert deltas[:2] == ["", ""]
    assert deltas[-1] == REPLACEMENT_CHAR


def test_work_per_token_stays_small() -> None:
    seen: list[int] = []

    def counting(ids: Sequence[int]) -> str:
        seen.append(len(ids))
        return decode(ids)

    detokenizer = IncrementalDetokenizer(counting)
    for token in b"a long answer " * 50:
        detokenizer.add(token)
    assert detokenizer.token_count == 700
    assert max(seen) <= 2  # decodes a window, never the whole output


@given(st.lists(st.integers(min_value=0, max_value=len(VOCAB) - 1), max_size=40))
def test_deltas_add_up_to_the_full_decode(ids: list[int]) -> None:
    assert "".join(run(ids)) == decode(ids)
