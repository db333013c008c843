"""The Transformers engine end to end on tiny real-format Qwen3 checkpoints (CPU).

The trained tiny model knows :data:`TRAINING_CHATS` by heart, so greedy decoding gives exact,
assertable thinking and answers; the random one never stops by itself (for Stop tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop.core.errors import (
    CheckpointError,
    ContextWindowExceededError,
    EngineUnavailableError,
    NoModelLoadedError,
)
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    SamplingSettings,
    StreamError,
    StreamEvent,
    ThinkingDelta,
    ThinkingKind,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.engines import transformers_runtime
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.transformers_backend import TransformersBackend
from tests.fixtures.tiny_models import TRAINING_CHATS, TrainingChat

pytestmark = pytest.mark.slow

GREEDY = SamplingSettings(temperature=0, max_new_tokens=100)
SUM, SKY, GERMAN = TRAINING_CHATS[0], TRAINING_CHATS[1], TRAINING_CHATS[5]


def ask(chat: TrainingChat, *, thinking: bool | None = None, **sampling: Any) -> ChatRequest:
    settings = GREEDY if not sampling else SamplingSettings(**{**GREEDY.__dict__, **sampling})
    return ChatRequest((ChatMessage("user", chat.prompt),), thinking=thinking, sampling=settings)


async def collect(backend: TransformersBackend, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in backend.stream_chat(request)]


def text(events: list[StreamEvent], kind: type[ThinkingDelta] | type[AnswerDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def usage(events: list[StreamEvent]) -> Usage:
    assert isinstance(events[-1], Usage), events[-1]
    assert sum(isinstance(e, Usage) for e in events) == 1
    return events[-1]


async def loaded(path: Path) -> TransformersBackend:
    backend = TransformersBackend(device="cpu")
    await backend.load(ModelSpec(name=path.name, path=path))
    return backend


def _shared(path: Path) -> Iterator[TransformersBackend]:
    """One loaded backend for the whole module (a backend holds no event-loop state between
    streams, so each test may use it from its own loop); saves a load + gc per test."""
    backend = asyncio.run(loaded(path))
    yield backend
    asyncio.run(backend.unload())


@pytest.fixture(scope="module")
def hybrid(tiny_qwen3_path: Path) -> Iterator[TransformersBackend]:
    yield from _shared(tiny_qwen3_path)


@pytest.fixture(scope="module")
def random_model(tiny_qwen3_random_path: Path) -> Iterator[TransformersBackend]:
    yield from _shared(tiny_qwen3_random_path)


def token_count(backend: TransformersBackend, text_: str) -> int:
    tokenizer = backend._state.tokenizer  # type: ignore[union-attr]
    return len(tokenizer.encode(text_, add_special_tokens=False))


# -- loading ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_load_reports_the_model(tiny_qwen3_path: Path) -> None:
    backend = TransformersBackend(device="cpu")
    info = await backend.load(ModelSpec(name="tiny", path=tiny_qwen3_path))
    assert (info.name, info.engine, info.device, info.dtype) == (
        "tiny",
        "transformers",
        "cpu",
        "float32",
    )
    assert info.parameters == 121_216
    assert info.capabilities.thinking_kind is ThinkingKind.HYBRID
    assert info.capabilities.thinking_switch
    assert info.capabilities.context_window_tokens == 8192
    assert info.load_seconds > 0
    assert backend.loaded == info
    await backend.unload()
    assert backend.loaded is None
    with pytest.raises(NoModelLoadedError):
        await collect(backend, ask(SUM))


@pytest.mark.asyncio
async def test_c10_truncated_weights_are_never_loaded(
    tiny_qwen3_path: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(tiny_qwen3_path, tmp_path / "partial"))
    weights = folder / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.truncate(weights.stat().st_size * 6 // 10)
    backend = TransformersBackend(device="cpu")
    with pytest.raises(CheckpointError, match="incomplete"):
        await backend.load(ModelSpec(name="partial", path=folder))
    assert backend.loaded is None


@pytest.mark.asyncio
async def test_weights_that_do_not_fit_the_config_fail_in_plain_words(
    tiny_qwen3_path: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(tiny_qwen3_path, tmp_path / "mismatch"))
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] = 1000  # the embedding in the file has 368 rows
    (folder / "config.json").write_text(json.dumps(config))
    backend = TransformersBackend(device="cpu")
    with pytest.raises(CheckpointError) as caught:
        await backend.load(ModelSpec(name="mismatch", path=folder))
    assert caught.value.message.startswith("The model in mismatch could not be loaded: ")
    assert "\n" not in caught.value.message
    assert backend.loaded is None


@pytest.mark.asyncio
async def test_missing_ml_extra_is_engine_unavailable(
    tiny_qwen3_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "qwen_desktop.engines.transformers_runtime", None)
    with pytest.raises(EngineUnavailableError) as caught:
        await TransformersBackend().load(ModelSpec(name="tiny", path=tiny_qwen3_path))
    assert caught.value.action == "pip install 'qwen-desktop[ml]'"


@pytest.mark.asyncio
async def test_non_ascii_folder_loads_and_generates(tiny_qwen3_path: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_qwen3_path, tmp_path / "模型 Ünïcode"))
    backend = await loaded(folder)
    events = await collect(backend, ask(SKY, thinking=False))
    assert text(events, AnswerDelta) == SKY.answer
    assert backend.loaded is not None and backend.loaded.name == "模型 Ünïcode"
    await backend.unload()


# -- greedy answers -------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("chat", TRAINING_CHATS, ids=lambda c: c.prompt)
async def test_thinking_mode_gives_the_memorised_thinking_and_answer(
    hybrid: TransformersBackend, chat: TrainingChat
) -> None:
    events = await collect(hybrid, ask(chat))
    assert text(events, ThinkingDelta) == chat.thinking
    assert text(events, AnswerDelta) == chat.answer
    assert not any(isinstance(e, (ThinkingReclassified, StreamError)) for e in events)
    done = usage(events)
    assert done.finish_reason == "stop"
    assert done.generated_tokens == token_count(hybrid, chat.thinking_output + "<|im_end|>")
    assert done.thinking_tokens == token_count(hybrid, f"<think>\n{chat.thinking}\n</think>")
    assert done.thinking_incomplete is False


@pytest.mark.asyncio
async def test_usage_is_consistent(hybrid: TransformersBackend) -> None:
    request = ask(SUM)
    done = usage(await collect(hybrid, request))
    assert done.prompt_tokens == hybrid.count_prompt_tokens(request)
    assert done.generated_tokens > done.thinking_tokens > 0  # type: ignore[operator]
    assert 0 <= done.ttft_seconds <= done.total_seconds
    assert done.tokens_per_second > 0
    assert done.thinking_seconds is not None
    assert 0 < done.thinking_seconds <= done.total_seconds


@pytest.mark.asyncio
async def test_thinking_off_gives_only_the_answer(hybrid: TransformersBackend) -> None:
    events = await collect(hybrid, ask(GERMAN, thinking=False))
    assert not any(isinstance(e, ThinkingDelta) for e in events)
    assert text(events, AnswerDelta) == GERMAN.answer  # multi-byte characters split over tokens
    done = usage(events)
    assert (done.finish_reason, done.thinking_tokens, done.thinking_seconds) == ("stop", 0, None)
    assert done.generated_tokens == token_count(hybrid, GERMAN.answer + "<|im_end|>")


@pytest.mark.asyncio
async def test_c1_thinking_only_template_opens_the_block(
    tiny_qwen3_thinking_only_path: Path,
) -> None:
    backend = await loaded(tiny_qwen3_thinking_only_path)
    assert backend.capabilities.thinking_kind is ThinkingKind.THINKING_ONLY
    assert not backend.capabilities.thinking_switch  # C5: no switch that does nothing
    request = ask(SKY, thinking=False)  # ignored: this model always thinks
    assert backend.render_prompt(request).endswith("<|im_start|>assistant\n<think>\n")
    events = await collect(backend, request)
    assert text(events, ThinkingDelta) == SKY.thinking
    assert text(events, AnswerDelta) == SKY.answer
    assert not any(isinstance(e, ThinkingReclassified) for e in events)
    done = usage(events)
    assert done.thinking_tokens == token_count(backend, f"{SKY.thinking}\n</think>")
    assert done.finish_reason == "stop"
    await backend.unload()


@pytest.mark.asyncio
async def test_c3_token_limit_inside_thinking(hybrid: TransformersBackend) -> None:
    events = await collect(hybrid, ask(SKY, max_new_tokens=5))
    assert text(events, AnswerDelta) == ""
    assert SKY.thinking.startswith(text(events, ThinkingDelta))
    assert text(events, ThinkingDelta)
    done = usage(events)
    assert (done.finish_reason, done.generated_tokens) == ("length", 5)
    assert done.thinking_incomplete is True
    assert done.thinking_tokens == 5


@pytest.mark.asyncio
async def test_sampling_with_a_seed_is_repeatable(hybrid: TransformersBackend) -> None:
    request = ask(SUM, temperature=0.7, top_p=0.9, top_k=20, min_p=0.05, seed=7)
    first = await collect(hybrid, request)
    second = await collect(hybrid, request)
    assert text(first, AnswerDelta) == text(second, AnswerDelta)
    assert usage(first).finish_reason in {"stop", "length"}


# -- prompts and the context window ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_c4_earlier_thinking_is_not_sent_back(hybrid: TransformersBackend) -> None:
    history = (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", SUM.prompt),
        ChatMessage("assistant", SUM.answer, thinking="SECRET earlier reasoning " * 50),
        ChatMessage("user", SKY.prompt),
    )
    prompt = hybrid.render_prompt(ChatRequest(history, thinking=False))
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        f"<|im_start|>user\n{SUM.prompt}<|im_end|>\n"
        f"<|im_start|>assistant\n{SUM.answer}<|im_end|>\n"
        f"<|im_start|>user\n{SKY.prompt}<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert "SECRET" not in hybrid.render_prompt(ChatRequest(history))
    # Even raw tags left in an old answer are stripped by the (Qwen3-like) template.
    raw = (*history[:2], ChatMessage("assistant", "<think>\nSECRET\n</think>\n\n4"), history[3])
    assert "SECRET" not in hybrid.render_prompt(ChatRequest(raw))
    request = ChatRequest(history, thinking=False, sampling=GREEDY)
    events = await collect(hybrid, request)
    assert text(events, AnswerDelta) == SKY.answer
    assert usage(events).prompt_tokens == hybrid.count_prompt_tokens(request)


@pytest.mark.asyncio
async def test_answer_limit_beyond_the_window_is_capped_and_a_full_prompt_refused(
    hybrid: TransformersBackend,
) -> None:
    events = await collect(hybrid, ask(SUM, max_new_tokens=100_000))  # window: 8,192
    assert (text(events, ThinkingDelta), text(events, AnswerDelta)) == (SUM.thinking, SUM.answer)
    assert usage(events).finish_reason == "stop"
    assert not usage(events).context_window_full

    long = ChatRequest((ChatMessage("user", "a " * 9000),), sampling=GREEDY)
    with pytest.raises(ContextWindowExceededError, match="context window holds 8,192 tokens"):
        await collect(hybrid, long)


@pytest.mark.asyncio
async def test_answer_that_fills_the_window_stops_there_and_says_so(
    random_model: TransformersBackend,
) -> None:
    filler = "a " * 8150
    request = ChatRequest(
        (ChatMessage("user", filler),),
        sampling=SamplingSettings(temperature=1.0, max_new_tokens=4096, seed=3),
    )
    room = 8192 - random_model.count_prompt_tokens(request)
    assert 0 < room < 64
    final = usage(await collect(random_model, request))
    # with this seed the random model does not end by itself within the room left
    assert (final.finish_reason, final.generated_tokens) == ("length", room)
    assert final.context_window_full


# -- stopping and failures -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stop_cancels_generation_within_a_token_or_two(
    random_model: TransformersBackend,
) -> None:
    request = ask(SUM, max_new_tokens=4000)
    events: list[StreamEvent] = []
    some = asyncio.Event()

    async def consume() -> None:
        async for event in random_model.stream_chat(request):
            events.append(event)
            if len(events) >= 3:
                some.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(some.wait(), timeout=30)
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    job = random_model.last_job
    assert job is not None and job.thread is not None
    assert job.finished.is_set()  # the generator waited for the thread before it ended
    job.thread.join(timeout=5)
    assert not job.thread.is_alive()
    assert time.perf_counter() - started < 2
    assert job.tokens_at_stop is not None
    assert job.tokens_generated - job.tokens_at_stop <= 2
    assert job.tokens_generated < 4000
    assert not any(isinstance(e, Usage) for e in events)  # cancelled: no Usage

    # The engine is free again at once.
    done = usage(await collect(random_model, ask(SUM, max_new_tokens=3)))
    assert (done.finish_reason, done.generated_tokens) == ("length", 3)


@pytest.mark.asyncio
async def test_closing_the_stream_early_also_stops(random_model: TransformersBackend) -> None:
    async with contextlib.aclosing(
        random_model.stream_chat(ask(SUM, max_new_tokens=4000))
    ) as stream:
        async for _ in stream:
            break
    job = random_model.last_job
    assert job is not None and job.finished.is_set()
    assert job.tokens_generated < 4000


@pytest.mark.asyncio
async def test_an_error_in_the_generation_thread_becomes_a_stream_error(
    hybrid: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    tokenizer = hybrid._state.tokenizer  # type: ignore[union-attr]
    partial = tokenizer.encode("<think>\nTwo plus", add_special_tokens=False)

    def failing_generate(model: Any, prompt_ids: list[int], *, streamer: Any, **_: Any) -> None:
        streamer.put(torch.tensor([prompt_ids]))
        for token in partial:
            streamer.put(torch.tensor([token]))
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(transformers_runtime, "generate", failing_generate)
    events = await collect(hybrid, ask(SUM))
    assert text(events, ThinkingDelta) == "Two plus"  # what was streamed stays
    assert not any(isinstance(e, Usage) for e in events)
    error = events[-1]
    assert isinstance(error, StreamError)
    assert error.message == "The engine ran out of memory while generating; the answer stops here."
    assert "smaller model" in error.action
