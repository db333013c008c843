"""The stream-event contract (core/types.py) that every engine passes, one suite for all.

Engines: the Transformers backend on the tiny trained Qwen3 checkpoint (greedy decoding gives a
memorised thinking + answer), and the Ollama backend against the local fake server replaying the
same thinking and answer, and the OpenAI-compatible backend against the local fake
OpenAI-compatible server in both of its thinking forms (a ``reasoning_content`` delta field, and
``<think>`` text inline in ``content``). Parameter ids are ``ENGINE`` or ``ENGINE-VARIANT``; the
part before the dash is the engine name the backend reports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from qwen_desktop.core.errors import NoModelLoadedError
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    SamplingSettings,
    StreamEvent,
    ThinkingDelta,
    ThinkingKind,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.engines.base import ChatBackend, ModelSpec
from qwen_desktop.engines.ollama_backend import OllamaBackend
from qwen_desktop.engines.openai_backend import OpenAICompatibleBackend
from tests.fixtures.ollama_fake_server import FakeModel, FakeOllama, running_fake_ollama
from tests.fixtures.openai_fake_server import FakeOpenAI, FakeServedModel, running_fake_openai
from tests.fixtures.tiny_models import TRAINING_CHATS

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]

SUM = TRAINING_CHATS[0]
GREEDY = SamplingSettings(temperature=0, max_new_tokens=100)
OLLAMA_TAG = "qwen3:tiny"
SERVED_IDS = {"reasoning": "Qwen/Qwen3-tiny", "think-tags": "Qwen/Qwen3-tiny-raw"}
MakeBackend = Callable[[], Awaitable[ChatBackend]]


@pytest.fixture(scope="module")
def fake_ollama() -> Iterator[tuple[FakeOllama, str]]:
    model = FakeModel(OLLAMA_TAG, thinking=SUM.thinking, answer=SUM.answer, token_delay_s=0.002)
    with running_fake_ollama(model) as served:
        yield served


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[tuple[FakeOpenAI, str]]:
    served = [
        FakeServedModel(SERVED_IDS["reasoning"], SUM.thinking, SUM.answer, token_delay_s=0.002),
        FakeServedModel(
            SERVED_IDS["think-tags"],
            SUM.thinking,
            SUM.answer,
            reasoning_field=None,
            token_delay_s=0.002,
        ),
    ]
    with running_fake_openai(*served) as running:
        yield running


@pytest.fixture(scope="module")
def transformers_backend(tiny_qwen3_path: Path) -> Iterator[ChatBackend]:
    from qwen_desktop.engines.transformers_backend import TransformersBackend

    backend = TransformersBackend(device="cpu")
    spec = ModelSpec(name=tiny_qwen3_path.name, path=tiny_qwen3_path)
    # First requested from inside a test's running loop: load on a thread with its own loop
    # (the backend keeps no loop state between streams).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, backend.load(spec)).result()
        yield backend
        pool.submit(asyncio.run, backend.unload()).result()


@pytest_asyncio.fixture(params=["transformers", "ollama", "openai-reasoning", "openai-think-tags"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, MakeBackend]]:
    """(engine name, a coroutine function giving a loaded backend)."""
    made: list[OllamaBackend | OpenAICompatibleBackend] = []
    name, _, variant = request.param.partition("-")
    if name == "transformers":
        backend = request.getfixturevalue("transformers_backend")

        async def make() -> ChatBackend:
            return backend  # type: ignore[no-any-return]

    elif name == "openai":
        _, base_url = request.getfixturevalue("fake_openai")

        async def make() -> ChatBackend:
            openai_backend = OpenAICompatibleBackend(base_url, request_timeout_s=5)
            made.append(openai_backend)
            await openai_backend.load(ModelSpec(SERVED_IDS[variant]))
            return openai_backend

    else:
        _, url = request.getfixturevalue("fake_ollama")

        async def make() -> ChatBackend:
            ollama_backend = OllamaBackend(url, request_timeout_s=5, load_timeout_s=5)
            made.append(ollama_backend)
            await ollama_backend.load(ModelSpec(OLLAMA_TAG))
            return ollama_backend

    yield name, make
    for backend in made:
        await backend.aclose()


def ask(*, thinking: bool | None = None, **sampling: int) -> ChatRequest:
    settings = SamplingSettings(**{**GREEDY.__dict__, **sampling})
    return ChatRequest((ChatMessage("user", SUM.prompt),), thinking=thinking, sampling=settings)


async def collect(backend: ChatBackend, request: ChatRequest) -> list[StreamEvent]:
    async with contextlib.aclosing(backend.stream_chat(request)) as stream:
        return [event async for event in stream]


def assert_contract(events: list[StreamEvent]) -> Usage:
    """Deltas (non-empty text), at most one reclassification, then exactly one Usage, last."""
    assert events, "no events"
    *deltas, last = events
    assert isinstance(last, Usage), last
    assert all(isinstance(e, ThinkingDelta | AnswerDelta | ThinkingReclassified) for e in deltas)
    assert all(e.text for e in deltas if isinstance(e, ThinkingDelta | AnswerDelta))
    assert sum(isinstance(e, ThinkingReclassified) for e in deltas) <= 1
    return last


def text(events: list[StreamEvent], kind: type[ThinkingDelta] | type[AnswerDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


@pytest.mark.asyncio
async def test_capabilities_after_load(engine: tuple[str, MakeBackend]) -> None:
    name, make = engine
    backend = await make()
    assert isinstance(backend, ChatBackend)
    loaded = backend.loaded
    assert loaded is not None and loaded.engine == name
    assert backend.capabilities.thinking_kind is ThinkingKind.HYBRID
    assert backend.capabilities.thinking_switch
    assert backend.capabilities.context_window_tokens > 0


@pytest.mark.asyncio
async def test_thinking_then_answer_then_one_usage(engine: tuple[str, MakeBackend]) -> None:
    backend = await engine[1]()
    events = await collect(backend, ask(thinking=True))
    usage = assert_contract(events)
    assert (text(events, ThinkingDelta), text(events, AnswerDelta)) == (SUM.thinking, SUM.answer)
    first_answer = next(i for i, e in enumerate(events) if isinstance(e, AnswerDelta))
    assert not any(isinstance(e, ThinkingDelta) for e in events[first_answer:])
    assert usage.finish_reason == "stop" and not usage.thinking_incomplete
    assert usage.prompt_tokens > 0
    assert usage.generated_tokens > (usage.thinking_tokens or 0) > 0
    assert 0 <= usage.ttft_seconds <= usage.total_seconds
    assert usage.tokens_per_second > 0
    assert usage.thinking_seconds is not None and usage.thinking_seconds >= 0


@pytest.mark.asyncio
async def test_thinking_off_gives_the_answer_alone(engine: tuple[str, MakeBackend]) -> None:
    backend = await engine[1]()
    events = await collect(backend, ask(thinking=False))
    usage = assert_contract(events)
    assert (text(events, ThinkingDelta), text(events, AnswerDelta)) == ("", SUM.answer)
    assert usage.thinking_seconds is None and not usage.thinking_tokens
    assert usage.finish_reason == "stop"


@pytest.mark.asyncio
async def test_c3_limit_hit_while_thinking(engine: tuple[str, MakeBackend]) -> None:
    backend = await engine[1]()
    events = await collect(backend, ask(thinking=True, max_new_tokens=4))
    usage = assert_contract(events)
    assert (usage.finish_reason, usage.thinking_incomplete) == ("length", True)
    assert text(events, AnswerDelta) == ""
    assert not usage.context_window_full


@pytest.mark.asyncio
async def test_cancelled_stream_ends_without_a_final_event_and_the_engine_stays_usable(
    engine: tuple[str, MakeBackend],
) -> None:
    backend = await engine[1]()
    events: list[StreamEvent] = []
    first = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(backend.stream_chat(ask(thinking=True))) as stream:
            async for event in stream:
                events.append(event)
                first.set()
                await asyncio.sleep(30)  # the user reads; then presses Stop

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert len(events) == 1 and isinstance(events[0], ThinkingDelta)
    again = await collect(backend, ask(thinking=True))
    assert text(again, AnswerDelta) == SUM.answer


@pytest.mark.asyncio
async def test_no_model_loaded_is_refused(engine: tuple[str, MakeBackend]) -> None:
    name = engine[0]
    backend: ChatBackend
    if name == "transformers":
        from qwen_desktop.engines.transformers_backend import TransformersBackend

        backend = TransformersBackend(device="cpu")
    elif name == "openai":
        backend = OpenAICompatibleBackend("http://127.0.0.1:1/v1")
    else:
        backend = OllamaBackend("http://127.0.0.1:1")
    with pytest.raises(NoModelLoadedError):
        await collect(backend, ask())
    assert backend.loaded is None
