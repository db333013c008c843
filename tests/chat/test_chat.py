"""ChatSession: Qwen's history rule (C4), and nothing lost when a turn stops or fails."""

from __future__ import annotations

import asyncio

import pytest

from qwen_desktop.chat.service import ChatSession, TurnRecord
from qwen_desktop.core.errors import NoModelLoadedError
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    StreamError,
    ThinkingDelta,
    ThinkingKind,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.engines.base import ModelSpec
from tests.fixtures.scripted_backend import ScriptedBackend

USAGE = Usage(
    prompt_tokens=10,
    generated_tokens=5,
    ttft_seconds=0.1,
    tokens_per_second=20.0,
    total_seconds=0.4,
)
THOUGHT = "t" * 2000


async def loaded(**kwargs: object) -> ScriptedBackend:
    backend = ScriptedBackend(**kwargs)  # type: ignore[arg-type]
    await backend.load(ModelSpec(name="scripted"))
    return backend


async def run(session: ChatSession, prompt: str, **kwargs: object) -> TurnRecord:
    record = TurnRecord(prompt)
    async for _ in session.run_turn(prompt, record=record, **kwargs):  # type: ignore[arg-type]
        pass
    return record


@pytest.mark.asyncio
async def test_c4_earlier_thinking_never_goes_back_into_the_prompt() -> None:
    backend = await loaded(script=[ThinkingDelta(THOUGHT), AnswerDelta("ok"), USAGE])
    session = ChatSession(backend, system_prompt="Be brief.")
    for turn in range(6):
        await run(session, f"question {turn}")
    sixth = backend.requests[-1]
    assert [m.role for m in sixth.messages] == ["system"] + ["user", "assistant"] * 5 + ["user"]
    assert all(m.thinking == "" for m in sixth.messages)
    assert sum(len(m.content) for m in sixth.messages) < 200  # no 5 × 2,000 thinking chars
    assert [m.thinking for m in session.history if m.role == "assistant"] == [THOUGHT] * 6


@pytest.mark.asyncio
async def test_sampling_follows_qwen_recommendation_for_the_mode() -> None:
    backend = await loaded(script=[USAGE])
    session = ChatSession(backend)
    assert session.build_request("q", thinking=True).sampling.temperature == 0.6
    off = session.build_request("q", thinking=False)
    assert (off.thinking, off.sampling.temperature, off.sampling.top_p) == (False, 0.7, 0.8)


@pytest.mark.asyncio
async def test_thinking_switch_is_not_sent_for_models_it_cannot_control() -> None:
    for kind in (ThinkingKind.THINKING_ONLY, ThinkingKind.INSTRUCT_ONLY):
        session = ChatSession(await loaded(kind=kind))
        assert session.build_request("q", thinking=False).thinking is None
    thinking_only = ChatSession(await loaded(kind=ThinkingKind.THINKING_ONLY))
    assert thinking_only.build_request("q", thinking=False).sampling.temperature == 0.6


@pytest.mark.asyncio
async def test_stopped_turn_keeps_the_partial_answer() -> None:
    backend = await loaded(script=[ThinkingDelta("hmm"), AnswerDelta("partial"), None])
    session = ChatSession(backend)
    record = TurnRecord("q")

    async def consume() -> None:
        async for _ in session.run_turn("q", record=record):
            pass

    task = asyncio.ensure_future(consume())
    while record.answer != "partial":
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert record.cancelled
    assert session.history == [
        ChatMessage("user", "q"),
        ChatMessage("assistant", "partial", thinking="hmm"),
    ]


@pytest.mark.asyncio
async def test_error_mid_answer_keeps_the_partial_answer_and_the_error() -> None:
    backend = await loaded(
        script=[AnswerDelta("half an ans"), StreamError("Engine died.", "Retry.")]
    )
    session = ChatSession(backend)
    record = await run(session, "q")
    assert record.error == StreamError("Engine died.", "Retry.")
    assert session.history[-1] == ChatMessage("assistant", "half an ans")


@pytest.mark.asyncio
async def test_reclassified_text_moves_to_thinking() -> None:
    script = [AnswerDelta("Let me see."), ThinkingReclassified("Let me see."), AnswerDelta("42")]
    record = await run(ChatSession(await loaded(script=[*script, USAGE])), "q")
    assert (record.thinking, record.answer, record.usage) == ("Let me see.", "42", USAGE)


@pytest.mark.asyncio
async def test_no_model_loaded_is_a_clear_error_and_history_stays_empty() -> None:
    session = ChatSession(ScriptedBackend())
    with pytest.raises(NoModelLoadedError) as caught:
        await run(session, "q")
    assert "No model is loaded" in caught.value.message
    assert session.history == []
