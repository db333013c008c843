"""ConversationService: send, stop, regenerate, edit and resend on stored conversations; C4."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from qwen_desktop.chat.conversations import (
    ConversationChanged,
    ConversationEvent,
    ConversationService,
    MessageAdded,
    MessageFinished,
    MessagesRemoved,
    MessageUpdated,
    TurnOutcome,
    suggest_title,
)
from qwen_desktop.core.context_meter import (
    GENERATION_PROMPT_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    ContextFullError,
)
from qwen_desktop.core.errors import (
    ContextWindowExceededError,
    NoModelLoadedError,
    QwenDesktopError,
)
from qwen_desktop.core.storage import ChatStore, ImageInput, MessageStats, MessageStatus
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatRequest,
    StreamError,
    StreamEvent,
    ThinkingDelta,
    Usage,
)
from qwen_desktop.engines.base import ModelSpec
from tests.fixtures.scripted_backend import ScriptedBackend

THOUGHT = " ".join(["hmm"] * 2000)
USAGE = Usage(
    prompt_tokens=30,
    generated_tokens=2001,
    ttft_seconds=0.12,
    tokens_per_second=42.0,
    total_seconds=3.0,
    thinking_tokens=2000,
    thinking_seconds=2.5,
)


def words(text: str) -> int:
    return len(text.split())


async def loaded(**kwargs: object) -> ScriptedBackend:
    backend = ScriptedBackend(**kwargs)  # type: ignore[arg-type]
    await backend.load(ModelSpec(name="qwen3:0.6b"))
    return backend


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    with ChatStore.open(tmp_path) as opened:
        yield opened  # type: ignore[misc]


async def drain(events: AsyncGenerator[ConversationEvent, None]) -> list[ConversationEvent]:
    return [event async for event in events]


def prompt_tokens_of(request: ChatRequest) -> int:
    return GENERATION_PROMPT_TOKENS + sum(
        MESSAGE_OVERHEAD_TOKENS + words(m.content) for m in request.messages
    )


@pytest.mark.asyncio
async def test_send_saves_the_question_then_the_answer_with_thinking_apart(
    store: ChatStore,
) -> None:
    backend = await loaded(script=[ThinkingDelta("Let me think."), AnswerDelta("42"), USAGE])
    service = ConversationService(store, backend, token_counter=words)
    conversation = service.new_conversation(system_prompt="Be brief.")
    assert (conversation.model, conversation.engine) == ("qwen3:0.6b", "scripted")
    events = await drain(service.send(conversation.id, "What is 6 × 7?\nShow work."))
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessageAdded",
        "ConversationChanged",
        "MessageAdded",
        "ThinkingDelta",
        "AnswerDelta",
        "Usage",
        "MessageFinished",
    ]
    assert isinstance(events[1], ConversationChanged)
    assert events[1].conversation.title == "What is 6 × 7?"
    user, answer = store.load_messages(conversation.id)
    assert (user.role, user.content) == ("user", "What is 6 × 7?\nShow work.")
    assert (answer.content, answer.thinking, answer.status) == ("42", "Let me think.", "complete")
    assert answer.stats == MessageStats.from_usage(USAGE)
    assert (answer.model, answer.engine, answer.thinking_mode) == ("qwen3:0.6b", "scripted", True)
    assert answer.sampling is not None and answer.sampling.temperature == 0.6
    finished = events[-1]
    assert isinstance(finished, MessageFinished) and finished.message == answer
    assert not service.is_busy(conversation.id)


@pytest.mark.asyncio
async def test_c4_earlier_thinking_is_never_sent_and_the_meter_agrees(store: ChatStore) -> None:
    backend = await loaded(script=[ThinkingDelta(THOUGHT), AnswerDelta("ok"), USAGE])
    service = ConversationService(store, backend, token_counter=words)
    cid = service.new_conversation(system_prompt="Be brief.").id
    for turn in range(5):
        await drain(service.send(cid, f"question {turn}"))
    reading = service.context_reading(cid, draft="question 5")
    await drain(service.send(cid, "question 5"))
    sixth = backend.requests[-1]
    assert [m.role for m in sixth.messages] == ["system"] + ["user", "assistant"] * 5 + ["user"]
    assert all(m.thinking == "" and "hmm" not in m.content for m in sixth.messages)
    assert reading.prompt_tokens == prompt_tokens_of(sixth) < 100  # none of the 10,000
    assert reading.earlier_thinking_tokens == 5 * 2000  # kept for display, not sent
    stored = store.load_messages(cid)
    assert [m.thinking for m in stored if m.role == "assistant"] == [THOUGHT] * 6


@pytest.mark.asyncio
async def test_stop_keeps_the_partial_answer_with_status_stopped(store: ChatStore) -> None:
    backend = await loaded(script=[ThinkingDelta("hmm"), AnswerDelta("partial"), None])
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    outcome = TurnOutcome()

    async def consume() -> None:
        async for _ in service.send(cid, "q", outcome=outcome):
            pass

    task = asyncio.ensure_future(consume())
    while outcome.record.answer != "partial":
        await asyncio.sleep(0.001)
    assert service.is_busy(cid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcome.answer is not None
    assert (outcome.answer.status, outcome.answer.content, outcome.answer.thinking) == (
        MessageStatus.STOPPED,
        "partial",
        "hmm",
    )
    assert outcome.answer.stats.finish_reason == "cancelled"
    assert outcome.answer.stats.ttft_seconds is not None
    assert store.get_message(outcome.answer.id) == outcome.answer
    assert not service.is_busy(cid)
    assert (outcome.thinking_events, outcome.answer_events) == (1, 1)


@pytest.mark.asyncio
async def test_error_mid_answer_is_saved_with_the_partial_text(store: ChatStore) -> None:
    backend = await loaded(
        script=[AnswerDelta("half an ans"), StreamError("Engine died.", "Retry.")]
    )
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    events = await drain(service.send(cid, "q"))
    assert [e for e in events if isinstance(e, StreamError)] == [
        StreamError("Engine died.", "Retry.")
    ]
    final = events[-1]
    assert isinstance(final, MessageFinished)
    assert (final.message.status, final.message.content, final.message.error) == (
        "error",
        "half an ans",
        "Engine died.",
    )
    assert [m.content for m in store.load_history(cid)] == ["q", "half an ans"]


class RefusingBackend(ScriptedBackend):
    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        raise ContextWindowExceededError("The prompt fills the window.", "Shorten it.")
        yield  # pragma: no cover


@pytest.mark.asyncio
async def test_an_engine_refusal_becomes_an_error_answer_and_the_question_stays(
    store: ChatStore,
) -> None:
    backend = RefusingBackend()
    await backend.load(ModelSpec(name="m"))
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    events = await drain(service.send(cid, "q"))
    assert StreamError("The prompt fills the window.", "Shorten it.") in events
    user, answer = store.load_messages(cid)
    assert (user.content, answer.status, answer.content) == ("q", "error", "")
    assert store.load_history(cid)[-1].content == "q"  # the empty failed answer is not sent


@pytest.mark.asyncio
async def test_regenerate_replaces_the_last_answer(store: ChatStore) -> None:
    backend = await loaded(script=[AnswerDelta("first try"), USAGE])
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    await drain(service.send(cid, "q1"))
    await drain(service.send(cid, "q2"))
    old_answer = store.load_messages(cid)[-1]
    backend.script = [AnswerDelta("second try"), USAGE]
    outcome = TurnOutcome()
    events = await drain(service.regenerate(cid, outcome=outcome))
    assert MessagesRemoved(cid, old_answer.position, 1) in events
    assert outcome.removed_count == 1
    contents = [m.content for m in store.load_messages(cid)]
    assert contents == ["q1", "first try", "q2", "second try"]
    assert [m.content for m in backend.requests[-1].messages] == ["q1", "first try", "q2"]
    with pytest.raises(QwenDesktopError, match="no answer to regenerate"):
        await drain(service.regenerate(service.new_conversation().id))


@pytest.mark.asyncio
async def test_regenerate_answers_a_question_left_without_answer(store: ChatStore) -> None:
    backend = await loaded(script=[AnswerDelta("late answer"), USAGE])
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    store.add_message(cid, "user", "unanswered")
    events = await drain(service.regenerate(cid))
    assert not any(isinstance(e, MessagesRemoved) for e in events)
    assert [m.content for m in store.load_messages(cid)] == ["unanswered", "late answer"]


@pytest.mark.asyncio
async def test_edit_and_resend_removes_later_messages_and_says_how_many(store: ChatStore) -> None:
    backend = await loaded(script=[AnswerDelta("answer"), USAGE])
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    for text in ("one", "two", "three"):
        await drain(service.send(cid, text))
    second = store.load_messages(cid)[2]
    assert service.later_message_count(second.id) == 3  # its answer, "three", its answer
    outcome = TurnOutcome()
    events = await drain(service.edit_and_resend(second.id, "two, edited", outcome=outcome))
    assert events[0] == MessagesRemoved(cid, second.position + 1, 3)
    assert isinstance(events[1], MessageUpdated) and events[1].message.content == "two, edited"
    assert outcome.removed_count == 3
    contents = [m.content for m in store.load_messages(cid)]
    assert contents == ["one", "answer", "two, edited", "answer"]
    assert [m.content for m in backend.requests[-1].messages] == ["one", "answer", "two, edited"]
    answer = store.load_messages(cid)[1]
    with pytest.raises(QwenDesktopError, match="Only your own messages"):
        await drain(service.edit_and_resend(answer.id, "x"))


@pytest.mark.asyncio
async def test_a_message_that_does_not_fit_is_refused_and_nothing_is_saved(
    store: ChatStore,
) -> None:
    backend = await loaded(script=[AnswerDelta("ok"), USAGE])  # window: 4,096 tokens
    service = ConversationService(store, backend, token_counter=words)
    cid = service.new_conversation().id
    for role in ("user", "assistant", "user", "assistant"):
        store.add_message(cid, role, "w " * 1000)  # type: ignore[arg-type]
    with pytest.raises(ContextFullError) as caught:
        await drain(service.send(cid, "new question " * 25))
    assert caught.value.remove_oldest == 2
    assert "remove the 2 oldest messages" in caught.value.action
    assert store.count_messages(cid) == 4 and backend.requests == []
    assert service.context_reading(cid, draft="new question " * 25).level == "full"
    assert service.remove_oldest_messages(cid, caught.value.remove_oldest) == 2
    await drain(service.send(cid, "new question " * 25))
    assert store.count_messages(cid) == 4


@pytest.mark.asyncio
async def test_refusals_before_anything_is_saved(store: ChatStore) -> None:
    service = ConversationService(store, ScriptedBackend())  # no model loaded
    cid = service.new_conversation().id
    with pytest.raises(NoModelLoadedError):
        await drain(service.send(cid, "q"))
    backend = await loaded(script=[AnswerDelta("slow"), None])
    service = ConversationService(store, backend)
    with pytest.raises(QwenDesktopError, match="empty"):
        await drain(service.send(cid, "   "))
    assert store.count_messages(cid) == 0
    first = service.send(cid, "q")
    async for event in first:
        if isinstance(event, AnswerDelta):
            break
    with pytest.raises(QwenDesktopError, match="still answering"):
        await drain(service.send(cid, "another"))
    await first.aclose()  # the consumer gave up: the answer is saved as stopped
    assert store.load_messages(cid)[-1].status == "stopped"
    assert not service.is_busy(cid)


@pytest.mark.asyncio
async def test_streamed_text_is_saved_even_when_the_engine_stalls(store: ChatStore) -> None:
    backend = await loaded(script=[AnswerDelta("early text"), None])
    service = ConversationService(store, backend, flush_interval_s=0.02)
    cid = service.new_conversation().id
    outcome = TurnOutcome()

    async def consume() -> None:
        async for _ in service.send(cid, "q", outcome=outcome):
            pass

    task = asyncio.ensure_future(consume())
    while outcome.answer is None or outcome.record.answer != "early text":
        await asyncio.sleep(0.001)
    row_id = outcome.answer.id
    for _ in range(200):
        if store.get_message(row_id).content == "early text":
            break
        await asyncio.sleep(0.005)
    saved = store.get_message(row_id)
    assert (saved.content, saved.status) == ("early text", "streaming")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_images_are_stored_and_sent_again_with_the_history(store: ChatStore) -> None:
    backend = await loaded(script=[AnswerDelta("a cat"), USAGE])
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    picture = ImageInput(b"\x89PNG picture", "image/png", 56, 28)
    await drain(service.send(cid, "what is this?", images=[picture]))
    assert backend.requests[-1].messages[-1].images == (picture.data,)
    await drain(service.send(cid, "and its colour?"))
    assert backend.requests[-1].messages[0].images == (picture.data,)
    reading = service.context_reading(cid)
    assert reading.prompt_tokens > 2  # the 2×1 visual tokens are counted
    assert store.load_messages(cid)[0].images[0].width == 56


@pytest.mark.asyncio
async def test_thinking_switch_is_remembered_per_conversation(store: ChatStore) -> None:
    backend = await loaded(script=[AnswerDelta("fast"), USAGE])
    service = ConversationService(store, backend)
    cid = service.new_conversation().id
    events = await drain(service.send(cid, "quick one", thinking=False))
    changed = [e for e in events if isinstance(e, ConversationChanged)]
    assert changed[-1].conversation.thinking is False
    assert backend.requests[-1].thinking is False
    assert backend.requests[-1].sampling.temperature == 0.7  # Qwen's non-thinking defaults
    await drain(service.send(cid, "again"))
    assert backend.requests[-1].thinking is False
    added = [e.message for e in events if isinstance(e, MessageAdded)]
    assert added[-1].thinking_mode is False


def test_titles_from_the_first_message() -> None:
    assert suggest_title("\n\n  Hello   there \nsecond line") == "Hello there"
    long = "word " * 30
    title = suggest_title(long)
    assert title.endswith("…") and len(title) <= 61
    assert suggest_title("") == ""


@pytest.mark.asyncio
async def test_the_meter_reads_each_stored_message_once_per_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = await loaded(script=[AnswerDelta("ok"), USAGE])
    frozen = ChatStore.open(tmp_path / "frozen", now=lambda: 1_700_000_000.0)  # one timestamp
    service = ConversationService(frozen, backend, token_counter=words)
    cid = service.new_conversation().id
    first_message = frozen.add_message(cid, "user", "one two three")
    frozen.add_message(cid, "assistant", "four five")
    read: list[int] = []
    real = frozen.get_messages
    monkeypatch.setattr(frozen, "get_messages", lambda ids: read.extend(ids) or real(ids))
    first = service.context_reading(cid, draft="six")
    second = service.context_reading(cid, draft="six seven eight")
    assert second.prompt_tokens - first.prompt_tokens == 2
    assert len(read) == 2  # both messages counted once, then cached
    frozen.edit_message(first_message.id, "one")  # removes the answer; same timestamp
    assert service.context_reading(cid, draft="six").prompt_tokens == first.prompt_tokens - 9
    assert read[2:] == [first_message.id]  # only the edited message is read again
    await drain(service.send(cid, "six"))
    service.context_reading(cid)
    assert len(read) == 5  # plus the new question and its answer
    frozen.close()
