"""The incremental thinking parser: cases C1–C3 and arbitrary chunking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qwen_desktop.core.thinking import ThinkingParser, prompt_opens_thinking
from qwen_desktop.core.types import AnswerDelta, ThinkingDelta, ThinkingReclassified


def run(chunks: list[str], *, starts_in_thinking: bool = False) -> tuple[ThinkingParser, list]:
    parser = ThinkingParser(starts_in_thinking=starts_in_thinking)
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.finish()
    return parser, events


def joined(events: list, kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def test_c1_template_opened_think_tag_split_across_chunks() -> None:
    chunks = ["Let me check the units", ".", "</thi", "nk>", "\n\nThe answer is 42."]
    parser, events = run(chunks, starts_in_thinking=True)
    assert parser.thinking == "Let me check the units."
    assert parser.answer == "The answer is 42."
    assert joined(events, ThinkingDelta) == "Let me check the units."
    assert joined(events, AnswerDelta) == "The answer is 42."
    assert not parser.thinking_incomplete


def test_c1_without_being_told_reclassifies_the_early_text() -> None:
    chunks = ["Let me check the units", ".", "</thi", "nk>", "\n\nThe answer is 42."]
    parser, events = run(chunks)
    assert parser.thinking == "Let me check the units."
    assert parser.answer == "The answer is 42."
    moved = [e for e in events if isinstance(e, ThinkingReclassified)]
    assert [e.text for e in moved] == ["Let me check the units."]


def test_c2_empty_think_block_gives_no_thinking() -> None:
    parser, events = run(["<think>\n\n</think>\n\nHello"])
    assert parser.thinking == ""
    assert parser.answer == "Hello"
    assert not any(isinstance(e, ThinkingDelta) for e in events)
    assert parser.saw_thinking_block and not parser.thinking_incomplete


def test_c3_thinking_that_never_closes_is_incomplete_with_empty_answer() -> None:
    parser, _ = run(["<think>\nFirst, consider", " the cases: a, b", " and c"])
    assert parser.thinking == "First, consider the cases: a, b and c"
    assert parser.answer == ""
    assert parser.thinking_incomplete


def test_opening_tag_in_output_split_across_chunks() -> None:
    parser, _ = run(["\n<th", "ink>", "\nreason", "ing</think>\n\n", "Done."])
    assert (parser.thinking, parser.answer) == ("reasoning", "Done.")


def test_plain_answer_without_tags_streams_as_answer_immediately() -> None:
    parser = ThinkingParser()
    assert parser.feed("Hello ") == [AnswerDelta("Hello")]  # trailing space held back
    assert parser.feed("there") == [AnswerDelta(" there")]
    assert parser.feed("\n") == []
    assert parser.finish() == []
    assert parser.answer == "Hello there"


def test_model_that_never_thinks_keeps_a_literal_close_tag() -> None:
    parser = ThinkingParser(detect_unopened_close=False)
    parser.feed("Write </think> to end it.")
    parser.finish()
    assert (parser.thinking, parser.answer) == ("", "Write </think> to end it.")


def test_text_that_looks_like_a_tag_but_is_not_is_kept() -> None:
    parser, _ = run(["<b>bold</b> and </thin"])
    assert parser.answer == "<b>bold</b> and </thin"


def test_whitespace_inside_parts_is_kept() -> None:
    parser, _ = run(["<think>a\n\nb</think>x  y\n\nz\n"])
    assert (parser.thinking, parser.answer) == ("a\n\nb", "x  y\n\nz")


def test_later_close_tag_after_a_closed_block_is_answer_text() -> None:
    parser, _ = run(["<think>t</think>a </think> b"])
    assert (parser.thinking, parser.answer) == ("t", "a </think> b")


def test_prompt_opens_thinking() -> None:
    assert prompt_opens_thinking("<|im_start|>assistant\n<think>\n")
    assert not prompt_opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not prompt_opens_thinking("<|im_start|>assistant\n")


TEXTS = st.sampled_from(
    [
        "<think>\nWeigh a and b.\n</think>\n\nA is bigger.",
        "<think>\n\n</think>\n\nHello",
        "Plain answer with <b>markup</b>.",
        "<think>never closes because of the lim",
        "  \n<think>x</think>y",
    ]
)


@given(TEXTS, st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_result_as_one_chunk(text: str, sizes: list[int]) -> None:
    whole, _ = run([text])
    chunks, start = [], 0
    for size in sizes * (len(text) // max(1, sum(sizes)) + 1):
        if start >= len(text):
            break
        chunks.append(text[start : start + size])
        start += size
    parser, events = run(chunks)
    assert (parser.thinking, parser.answer) == (whole.thinking, whole.answer)
    assert joined(events, ThinkingDelta) == whole.thinking
    assert joined(events, AnswerDelta) == whole.answer
    assert parser.thinking_incomplete == whole.thinking_incomplete
