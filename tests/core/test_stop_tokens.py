"""The stop-token cutter every engine passes its stream through."""

from __future__ import annotations

import pytest

from qwen_desktop.core.stop_tokens import QWEN_STOP_TOKENS, StopCutter


def cut(chunks: list[str]) -> tuple[str, StopCutter]:
    cutter = StopCutter()
    text = "".join(cutter.feed(chunk) for chunk in chunks) + cutter.finish()
    return text, cutter


def test_the_invented_next_turn_never_passes() -> None:
    text, cutter = cut(["Paris.<|im_end|>\n<|im_start|>user\nAnd Germany?"])
    assert text == "Paris." and cutter.stopped and cutter.stop_seen == "<|im_end|>"


@pytest.mark.parametrize("stop", QWEN_STOP_TOKENS)
def test_a_stop_split_over_chunks_is_cut_whole(stop: str) -> None:
    pieces = ["Par", "is.", stop[:2], stop[2:5], stop[5:] + "\nuser", " And Germany?"]
    text, cutter = cut(pieces)
    assert text == "Paris." and cutter.stop_seen == stop


def test_a_prefix_that_never_completes_is_text() -> None:
    cutter = StopCutter()
    assert cutter.feed("a <|im") == "a "  # held back: it may become <|im_end|>
    assert cutter.feed("ag|> b") == "<|imag|> b"
    assert cutter.feed("<|") == ""
    assert cutter.finish() == "<|" and not cutter.stopped


def test_nothing_after_the_stop() -> None:
    cutter = StopCutter()
    assert cutter.feed("<|endoftext|>later") == ""
    assert cutter.feed("more") == "" and cutter.finish() == ""
