"""The thinking budget in the Transformers engine, on the tiny trained Qwen3 checkpoint (CPU).

After N thinking tokens the generation stops, the stop-thinking text of the Qwen3 Technical
Report (§4.3) closes the thinking, and a second generation continues from prompt + output so far
+ that text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop.core.thinking_budget import STOP_THINKING_SENTENCE, STOP_THINKING_TEXT
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    SamplingSettings,
    StreamEvent,
    ThinkingDelta,
    Usage,
)
from qwen_desktop.engines import transformers_runtime
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.transformers_backend import TransformersBackend
from tests.fixtures.tiny_models import TRAINING_CHATS

pytestmark = pytest.mark.slow

SUM = TRAINING_CHATS[0]


@pytest.fixture(scope="module")
def hybrid(tiny_qwen3_path: Path) -> Iterator[TransformersBackend]:
    backend = TransformersBackend(device="cpu")
    asyncio.run(backend.load(ModelSpec(name="tiny", path=tiny_qwen3_path)))
    yield backend
    asyncio.run(backend.unload())


def ask(budget: int | None, *, thinking: bool | None = None, max_new: int = 60) -> ChatRequest:
    return ChatRequest(
        (ChatMessage("user", SUM.prompt),),
        thinking=thinking,
        sampling=SamplingSettings(temperature=0, max_new_tokens=max_new),
        thinking_budget_tokens=budget,
    )


@pytest.fixture
def generate_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    calls: list[list[int]] = []
    real = transformers_runtime.generate

    def spy(model: Any, prompt_ids: list[int], **kwargs: Any) -> None:
        calls.append(list(prompt_ids))
        real(model, prompt_ids, **kwargs)

    monkeypatch.setattr(transformers_runtime, "generate", spy)
    return calls


def joined(events: list[StreamEvent], kind: type[ThinkingDelta] | type[AnswerDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


@pytest.mark.asyncio
async def test_the_thinking_is_closed_after_the_budget_and_the_model_continues(
    hybrid: TransformersBackend, generate_calls: list[list[int]]
) -> None:
    events = [e async for e in hybrid.stream_chat(ask(4))]
    thinking = joined(events, ThinkingDelta)
    head, _, tail = thinking.partition(STOP_THINKING_SENTENCE)
    assert tail.strip() == "" and head.strip()
    assert SUM.thinking.startswith(head.strip())  # the memorised thinking, cut short
    assert head.strip() != SUM.thinking
    assert len(generate_calls) == 2
    first, second = generate_calls
    tokenizer = hybrid._require_state().tokenizer
    stop_ids = tokenizer.encode(STOP_THINKING_TEXT, add_special_tokens=False)
    assert second[: len(first)] == first and second[-len(stop_ids) :] == stop_ids
    accepted = second[len(first) : -len(stop_ids)]
    assert len(accepted) == 4  # exactly the budget, none of the token after the stop request
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.prompt_tokens == len(first)
    assert usage.thinking_tokens == 4 and 4 < usage.generated_tokens <= 60


@pytest.mark.asyncio
async def test_a_budget_the_thinking_stays_under_changes_nothing(
    hybrid: TransformersBackend, generate_calls: list[list[int]]
) -> None:
    events = [e async for e in hybrid.stream_chat(ask(500))]
    assert joined(events, ThinkingDelta).strip() == SUM.thinking
    assert joined(events, AnswerDelta).strip() == SUM.answer
    assert len(generate_calls) == 1


@pytest.mark.asyncio
async def test_no_budget_applies_when_thinking_is_switched_off(
    hybrid: TransformersBackend, generate_calls: list[list[int]]
) -> None:
    events = [e async for e in hybrid.stream_chat(ask(1, thinking=False))]
    assert joined(events, AnswerDelta).strip() == SUM.answer
    assert len(generate_calls) == 1
