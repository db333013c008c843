"""The context meter: prompt vs window, thinking apart (C4), warning levels, the trimming rule."""

from __future__ import annotations

import pytest

from qwen_desktop.core.context_meter import (
    GENERATION_PROMPT_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    ContextFullError,
    MeterLevel,
    MeterMessage,
    estimate_tokens,
    measure_context,
    oldest_to_remove,
    visual_tokens,
)


def words(text: str) -> int:
    return len(text.split())


def per_message(content_tokens: int) -> int:
    return MESSAGE_OVERHEAD_TOKENS + content_tokens


def test_c4_five_turns_of_2000_thinking_tokens_are_not_in_the_prompt() -> None:
    thought = " ".join(["hmm"] * 2000)
    messages = [MeterMessage("system", "Be brief.", removable=False)]
    for turn in range(5):
        messages.append(MeterMessage("user", f"question {turn}"))
        messages.append(MeterMessage("assistant", "the answer", thinking=thought))
    messages.append(MeterMessage("user", "question 5", removable=False))
    reading = measure_context(
        messages, window_tokens=40_960, reserved_answer_tokens=4096, counter=words
    )
    expected = GENERATION_PROMPT_TOKENS + 12 * per_message(2)  # every text is two words
    assert reading.prompt_tokens == expected == 87  # none of the 5 × 2,000 thinking tokens
    assert reading.earlier_thinking_tokens == 10_000  # shown apart: kept, not sent
    assert reading.level is MeterLevel.OK and not reading.estimated


def test_current_answer_shows_thinking_as_its_own_share() -> None:
    reading = measure_context(
        [MeterMessage("user", "x" * 35)],
        window_tokens=1000,
        reserved_answer_tokens=500,
        answer_tokens=300,
        thinking_tokens=200,
    )
    assert reading.prompt_tokens == GENERATION_PROMPT_TOKENS + per_message(10) == 18
    assert (reading.used_tokens, reading.room_left_tokens) == (318, 682)
    shares = reading.shares()
    assert shares == pytest.approx({"prompt": 0.018, "answer": 0.1, "thinking": 0.2, "free": 0.682})
    assert "thinking 200" in reading.describe() and "≈" in reading.describe()


def test_stored_counts_are_used_when_there_is_no_tokenizer() -> None:
    answer = MeterMessage(
        "assistant", "x" * 1000, content_tokens=7, thinking="y" * 50, thinking_tokens=3
    )
    reading = measure_context([answer], window_tokens=1000, reserved_answer_tokens=100)
    assert reading.prompt_tokens == GENERATION_PROMPT_TOKENS + per_message(7)
    assert reading.earlier_thinking_tokens == 3


def test_unsent_messages_take_no_room_and_images_do() -> None:
    failed = MeterMessage("assistant", "", sent=False)
    picture = MeterMessage("user", "", image_tokens=visual_tokens(3840, 2160))
    reading = measure_context([failed, picture], window_tokens=100_000, reserved_answer_tokens=10)
    assert visual_tokens(3840, 2160) == 138 * 78  # one token per 28×28 area (C11)
    assert reading.prompt_tokens == GENERATION_PROMPT_TOKENS + per_message(138 * 78)


@pytest.mark.parametrize(
    ("prompt_words", "reserved", "level", "capped"),
    [
        (400, 300, MeterLevel.OK, False),  # 3+5+400+300 = 708 ≤ 800
        (600, 300, MeterLevel.WARNING, False),  # 908 > 80 % of 1000, still fits
        (800, 300, MeterLevel.WARNING, True),  # room 192 < 300 reserved, > 100 needed: capped
        (900, 300, MeterLevel.FULL, True),  # 92 tokens left < 256 needed
    ],
)
def test_levels_warn_before_anything_would_be_cut(
    prompt_words: int, reserved: int, level: MeterLevel, capped: bool
) -> None:
    reading = measure_context(
        [MeterMessage("user", "w " * prompt_words)],
        window_tokens=1000,
        reserved_answer_tokens=reserved,
        counter=words,
        min_answer_tokens=100 if prompt_words == 800 else 256,
    )
    assert reading.level is level
    assert reading.answer_capped is capped
    assert reading.fits is (level is not MeterLevel.FULL)
    assert bool(reading.warning()) is (level is not MeterLevel.OK)


def test_unknown_window() -> None:
    reading = measure_context(
        [MeterMessage("user", "hi")], window_tokens=0, reserved_answer_tokens=10
    )
    assert reading.level is MeterLevel.UNKNOWN and reading.fits
    assert reading.shares()["free"] == 1.0
    assert "unknown" in reading.describe()


def test_oldest_to_remove_cuts_whole_exchanges_and_keeps_the_pinned_ones() -> None:
    messages = [MeterMessage("system", "s " * 50, removable=False)]
    for _ in range(4):
        messages += [MeterMessage("user", "q " * 95), MeterMessage("assistant", "a " * 95)]
    messages.append(MeterMessage("user", "new " * 45, removable=False))
    kwargs = {"window_tokens": 700, "reserved_answer_tokens": 100, "counter": words}
    # 3 + 55 + 8 × 100 + 50 = 908 tokens; the answer needs 100: remove 308+ → 2 exchanges = 400
    assert measure_context(messages, **kwargs).level is MeterLevel.FULL  # type: ignore[arg-type]
    count = oldest_to_remove(messages, **kwargs)  # type: ignore[arg-type]
    assert count == 4
    kept = messages[:1] + messages[1 + count :]
    assert kept[1].role == "user"
    assert measure_context(kept, **kwargs).fits  # type: ignore[arg-type]
    assert oldest_to_remove(kept, **kwargs) == 0  # type: ignore[arg-type]
    too_long = [MeterMessage("user", "w " * 900, removable=False)]
    assert oldest_to_remove(too_long, **kwargs) is None  # type: ignore[arg-type]


def test_an_answer_is_never_kept_without_its_question() -> None:
    messages = [
        MeterMessage("user", "q " * 300),
        MeterMessage("assistant", "a " * 10),
        MeterMessage("user", "new", removable=False),
    ]
    # 3 + 305 + 15 + 6 = 329 > 340 - 50. Removing the long question alone would do, but the
    # cut must be a whole exchange.
    count = oldest_to_remove(messages, window_tokens=340, reserved_answer_tokens=50, counter=words)
    assert count == 2


def test_full_error_says_what_to_do_and_that_nothing_was_cut() -> None:
    reading = measure_context(
        [MeterMessage("user", "w " * 990)],
        window_tokens=1000,
        reserved_answer_tokens=300,
        counter=words,
    )
    error = ContextFullError(reading, 4)
    assert "does not fit" in error.message and "Nothing was sent or cut" in error.message
    assert "remove the 4 oldest messages" in error.action
    assert "shorten the message" in ContextFullError(reading, None).action


def test_estimate_is_conservative_for_english_and_chinese() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("The quick brown fox jumps.") == 8  # 26 chars / 3.5
    assert estimate_tokens("量子计算") == 4
