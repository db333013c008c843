"""The thinking budget policy: close the thinking after N tokens, Qwen's way."""

from __future__ import annotations

import pytest

from qwen_desktop.core.thinking import ThinkingParser
from qwen_desktop.core.thinking_budget import (
    STOP_THINKING_TEXT,
    ThinkingBudget,
    budget_applies,
)
from qwen_desktop.core.types import ThinkingKind


def test_the_instruction_is_qwens_text() -> None:
    assert STOP_THINKING_TEXT == (
        "\n\nConsidering the limited time by the user, I have to give the solution based on the "
        "thinking directly now.\n</think>.\n\n"
    )


def test_closes_after_n_thinking_tokens_once() -> None:
    budget = ThinkingBudget(3)
    assert budget.observe("<think>") is None  # the opening tag counts as the first token
    assert budget.observe("one") is None
    decision = budget.observe(" two")
    assert decision is not None and decision.thinking_tokens == 3
    assert decision.model_text == STOP_THINKING_TEXT
    assert budget.triggered and budget.observe(" three") is None


def test_counts_only_tokens_inside_thinking() -> None:
    budget = ThinkingBudget(5)
    for text in ["<think>", "a", "b", "</think>", "\n\n", "answer", " goes", " on", " and", " on"]:
        assert budget.observe(text) is None
    assert budget.thinking_tokens == 3 and not budget.triggered


def test_thinking_only_models_start_inside_the_block_and_chunks_count_their_tokens() -> None:
    budget = ThinkingBudget(100, starts_in_thinking=True)
    assert budget.observe("long reasoning chunk", tokens=60) is None
    decision = budget.observe("more of it", tokens=45)
    assert decision is not None and decision.thinking_tokens == 105


def test_split_close_tag_is_not_thinking() -> None:
    budget = ThinkingBudget(4, starts_in_thinking=True)
    for text in ["x", "</thi", "nk>", "the answer", " and more", " text"]:
        assert budget.observe(text) is None
    assert not budget.triggered


def test_parser_text_closes_the_thinking_without_a_stray_period() -> None:
    budget = ThinkingBudget(2)
    parser = ThinkingParser()
    for text in ["<think>", "Let me count the r's"]:
        parser.feed(text)
        decision = budget.observe(text)
    assert decision is not None
    parser.feed(decision.parser_text)
    parser.feed("There are three.")
    parser.finish()
    assert parser.thinking.endswith(
        "I have to give the solution based on the thinking directly now."
    )
    assert parser.thinking.startswith("Let me count the r's")
    assert parser.answer == "There are three."
    assert not parser.thinking_incomplete


@pytest.mark.parametrize(
    ("kind", "thinking", "applies"),
    [
        (ThinkingKind.HYBRID, True, True),
        (ThinkingKind.HYBRID, None, True),
        (ThinkingKind.HYBRID, False, False),
        (ThinkingKind.THINKING_ONLY, False, True),  # the switch cannot stop it thinking (C5)
        (ThinkingKind.INSTRUCT_ONLY, True, False),
    ],
)
def test_budget_applies_only_when_the_model_thinks(
    kind: ThinkingKind, thinking: bool | None, applies: bool
) -> None:
    assert budget_applies(kind, thinking) is applies


def test_a_budget_below_one_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ThinkingBudget(0)
