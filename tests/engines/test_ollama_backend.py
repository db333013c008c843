"""OllamaBackend against a local server that speaks Ollama's protocol (no ollama binary)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from qwen_desktop.chat.service import ChatSession, TurnRecord
from qwen_desktop.core.errors import EngineUnavailableError, GenerationError, NoModelLoadedError
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
from qwen_desktop.engines.base import ChatBackend, ModelSpec
from qwen_desktop.engines.ollama_backend import OllamaBackend
from qwen_desktop.engines.ollama_discovery import free_port
from qwen_desktop.engines.ollama_models import ModelNotDownloadedError
from tests.fixtures.ollama_fake_server import (
    MID_STREAM_ERROR,
    FakeModel,
    FakeOllama,
    running_fake_ollama,
)

pytestmark = pytest.mark.timeout(30)

THINKING = "Two plus two makes four."
ANSWER = "2+2 = 4."
HYBRID = FakeModel("qwen3:8b", thinking=THINKING, answer=ANSWER)
THINKER = FakeModel("qwen3:4b-thinking-2507", thinking=THINKING, answer=ANSWER)
INSTRUCT = FakeModel("qwen2.5:7b", thinking="", answer=ANSWER, capabilities=("completion",))
VISION = FakeModel("qwen2.5vl:7b", thinking="", capabilities=("completion", "vision"))
INLINE = FakeModel("qwen3:1.7b", thinking=THINKING, answer=ANSWER, inline_think=True)
BROKEN = FakeModel("qwen3:error", thinking=THINKING, answer=ANSWER, error_after=3)
DROPPED = FakeModel("qwen3:drop", thinking=THINKING, answer=ANSWER, drop_after=7)
SLOW = FakeModel("qwen3:slow", thinking=THINKING * 20, answer=ANSWER, token_delay_s=0.05)
HUGE = FakeModel("qwen3:235b", too_large=True)
MODELS = (HYBRID, THINKER, INSTRUCT, VISION, INLINE, BROKEN, DROPPED, SLOW, HUGE)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeOllama, str]]:
    with running_fake_ollama(*MODELS) as served:
        yield served


@pytest.fixture
def fake(server: tuple[FakeOllama, str]) -> FakeOllama:
    server[0].requests.clear()
    server[0].loaded.clear()
    return server[0]


@pytest_asyncio.fixture
async def backend(server: tuple[FakeOllama, str]) -> AsyncIterator[OllamaBackend]:
    instance = OllamaBackend(server[1], request_timeout_s=5, load_timeout_s=5)
    yield instance
    await instance.aclose()


def ask(text: str = "What is 2+2?", **kwargs: object) -> ChatRequest:
    return ChatRequest((ChatMessage("user", text),), **kwargs)  # type: ignore[arg-type]


async def collect(backend: OllamaBackend, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in backend.stream_chat(request)]


def joined(events: list[StreamEvent], kind: type[ThinkingDelta] | type[AnswerDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


# -- load / unload -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_load_reads_capabilities_and_model_info_and_preloads(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    assert isinstance(backend, ChatBackend)
    loaded = await backend.load(ModelSpec("qwen3:8b"))
    assert loaded.engine == "ollama" and loaded.name == "qwen3:8b"
    assert loaded.capabilities.thinking_kind is ThinkingKind.HYBRID
    assert loaded.capabilities.context_window_tokens == 4096  # from /api/ps (server default)
    assert (loaded.dtype, loaded.parameters, loaded.weights_bytes) == (
        "Q4_K_M",
        HYBRID.parameter_count,
        HYBRID.size_bytes,
    )
    assert loaded.device == "cpu"  # size_vram == 0
    facts = backend.facts
    assert facts is not None
    assert (facts.block_count, facts.head_count, facts.head_count_kv, facts.key_length) == (
        36,
        32,
        8,
        128,
    )
    assert facts.context_length == 40960
    (preload,) = [b for m, p, b in fake.requests if p == "/api/chat"]
    assert (preload["model"], preload["messages"], preload["stream"]) == ("qwen3:8b", [], False)
    assert "keep_alive" not in preload and not preload.get("options")
    assert "qwen3:8b" in fake.loaded


@pytest.mark.asyncio
async def test_context_setting_is_sent_as_num_ctx_and_capped_by_the_model(
    server: tuple[FakeOllama, str], fake: FakeOllama
) -> None:
    backend = OllamaBackend(server[1], context_tokens=65536, keep_alive="10m")
    loaded = await backend.load(ModelSpec("qwen3:8b"))
    assert loaded.capabilities.context_window_tokens == 40960  # the model's own maximum
    await collect(backend, ask())
    preload, chat = [b for m, p, b in fake.requests if p == "/api/chat"]
    assert preload["options"] == {"num_ctx": 65536} and preload["keep_alive"] == "10m"
    assert chat["options"]["num_ctx"] == 65536 and chat["keep_alive"] == "10m"
    await backend.aclose()


@pytest.mark.asyncio
async def test_unload_sends_keep_alive_zero(backend: OllamaBackend, fake: FakeOllama) -> None:
    await backend.load(ModelSpec("qwen3:8b"))
    await backend.unload()
    assert backend.loaded is None
    unload = fake.requests[-1][2]
    assert (unload["model"], unload["messages"], unload["keep_alive"]) == ("qwen3:8b", [], 0)
    assert "qwen3:8b" not in fake.loaded
    await backend.unload()  # nothing loaded: no-op


@pytest.mark.asyncio
async def test_missing_model_says_it_is_not_downloaded_and_offers_the_pull(
    backend: OllamaBackend,
) -> None:
    with pytest.raises(ModelNotDownloadedError) as caught:
        await backend.load(ModelSpec("qwen3:999b"))
    assert caught.value.message == "The model qwen3:999b is not downloaded."
    assert "qwen-desktop pull qwen3:999b" in caught.value.action
    assert caught.value.model == "qwen3:999b"


@pytest.mark.asyncio
async def test_model_too_large_suggests_smaller_quantization_or_context(
    backend: OllamaBackend,
) -> None:
    with pytest.raises(EngineUnavailableError) as caught:
        await backend.load(ModelSpec("qwen3:235b"))
    assert "does not fit in memory" in caught.value.message
    assert "requires more system memory" in caught.value.message
    assert "smaller quantization" in caught.value.action and "context" in caught.value.action


@pytest.mark.asyncio
async def test_connection_refused_says_the_engine_is_not_running() -> None:
    backend = OllamaBackend(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EngineUnavailableError) as caught:
        await backend.load(ModelSpec("qwen3:8b"))
    assert "not running" in caught.value.message
    await backend.aclose()


# -- think, images, options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "thinking", "sent"),
    [
        ("qwen3:8b", True, True),
        ("qwen3:8b", False, False),
        ("qwen3:8b", None, True),  # hybrid: always explicit (Ollama's template needs it)
        ("qwen3:4b-thinking-2507", None, True),
        ("qwen3:4b-thinking-2507", False, True),  # thinking-only cannot be switched off (C5)
        ("qwen2.5:7b", None, "omitted"),  # instruct-only: Ollama refuses think
        ("qwen2.5:7b", True, "omitted"),
    ],
)
@pytest.mark.asyncio
async def test_think_is_sent_explicitly_per_thinking_kind(
    backend: OllamaBackend,
    fake: FakeOllama,
    model: str,
    thinking: bool | None,
    sent: object,
) -> None:
    await backend.load(ModelSpec(model))
    events = await collect(backend, ask(thinking=thinking))
    assert isinstance(events[-1], Usage)
    body = fake.chat_requests()[-1]
    assert body.get("think", "omitted") == sent
    assert joined(events, AnswerDelta) == ANSWER


@pytest.mark.asyncio
async def test_thinking_kinds_from_capabilities_and_name(backend: OllamaBackend) -> None:
    kinds = {}
    for name in ("qwen3:8b", "qwen3:4b-thinking-2507", "qwen2.5:7b"):
        kinds[name] = (await backend.load(ModelSpec(name))).capabilities.thinking_kind
    assert kinds == {
        "qwen3:8b": ThinkingKind.HYBRID,
        "qwen3:4b-thinking-2507": ThinkingKind.THINKING_ONLY,
        "qwen2.5:7b": ThinkingKind.INSTRUCT_ONLY,
    }


@pytest.mark.asyncio
async def test_sampling_options_and_history_are_sent(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    await backend.load(ModelSpec("qwen3:8b"))
    sampling = SamplingSettings(
        temperature=0.7, top_p=0.8, top_k=20, min_p=0.05, max_new_tokens=321, seed=7
    )
    request = ChatRequest(
        (
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello!"),
            ChatMessage("user", "What is 2+2?"),
        ),
        thinking=False,
        sampling=sampling,
    )
    await collect(backend, request)
    body = fake.chat_requests()[-1]
    assert body["options"] == {
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "min_p": 0.05,
        "num_predict": 321,
        "stop": ["<|im_end|>", "<|endoftext|>", "<|im_start|>"],
        "seed": 7,
    }
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "What is 2+2?"),
    ]
    assert body["stream"] is True and "keep_alive" not in body


@pytest.mark.asyncio
async def test_images_go_as_base64_without_a_data_prefix_to_vision_models_only(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    request = ChatRequest((ChatMessage("user", "What is this?", images=(PNG,)),))
    loaded = await backend.load(ModelSpec("qwen2.5vl:7b"))
    assert loaded.capabilities.vision
    await collect(backend, request)
    images = fake.chat_requests()[-1]["messages"][0]["images"]
    assert images == [base64.b64encode(PNG).decode()]
    assert not images[0].startswith("data:")
    await backend.load(ModelSpec("qwen3:8b"))  # cannot see: images are not sent
    await collect(backend, request)
    assert "images" not in fake.chat_requests()[-1]["messages"][0]


# -- streaming -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_thinking_and_answer_arrive_apart_then_usage_from_the_final_line(
    backend: OllamaBackend,
) -> None:
    await backend.load(ModelSpec("qwen3:8b"))
    events = await collect(backend, ask())
    assert joined(events, ThinkingDelta) == THINKING
    assert joined(events, AnswerDelta) == ANSWER
    first_answer = next(i for i, e in enumerate(events) if isinstance(e, AnswerDelta))
    assert all(not isinstance(e, ThinkingDelta) for e in events[first_answer:])
    usage = events[-1]
    assert isinstance(usage, Usage) and sum(isinstance(e, Usage) for e in events) == 1
    assert usage.finish_reason == "stop"
    assert usage.generated_tokens == 8  # 5 thinking words + 3 answer tokens
    assert usage.thinking_tokens == 5
    assert usage.prompt_tokens > 0
    assert usage.tokens_per_second > 0
    assert 0 <= usage.ttft_seconds <= usage.total_seconds < 5
    assert usage.thinking_seconds is not None and usage.thinking_seconds >= 0
    assert not usage.thinking_incomplete


@pytest.mark.asyncio
async def test_inline_think_tags_go_through_the_thinking_parser(backend: OllamaBackend) -> None:
    await backend.load(ModelSpec("qwen3:1.7b"))
    events = await collect(backend, ask())
    assert joined(events, ThinkingDelta) == THINKING
    assert joined(events, AnswerDelta) == ANSWER
    assert isinstance(events[-1], Usage) and events[-1].thinking_tokens


@pytest.mark.asyncio
async def test_thinking_off_gives_only_the_answer(backend: OllamaBackend) -> None:
    await backend.load(ModelSpec("qwen3:8b"))
    events = await collect(backend, ask(thinking=False))
    assert joined(events, ThinkingDelta) == ""
    assert joined(events, AnswerDelta) == ANSWER
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert usage.thinking_seconds is None and usage.thinking_tokens == 0


@pytest.mark.asyncio
async def test_c3_token_limit_inside_thinking_is_reported(backend: OllamaBackend) -> None:
    await backend.load(ModelSpec("qwen3:8b"))
    events = await collect(backend, ask(sampling=SamplingSettings(max_new_tokens=3)))
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert (usage.finish_reason, usage.thinking_incomplete) == ("length", True)
    assert joined(events, AnswerDelta) == ""
    assert not usage.context_window_full


@pytest.mark.asyncio
async def test_length_before_the_answer_limit_means_the_context_window_filled(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    await backend.load(ModelSpec("qwen3:8b"))
    # The server stops at 6 tokens (as if num_ctx were full) while the request allowed 4096.
    original = backend.build_chat_arguments

    def capped(request: ChatRequest) -> dict[str, object]:
        arguments = original(request)
        arguments["options"] = {**arguments["options"], "num_predict": 6}
        return arguments

    backend.build_chat_arguments = capped  # type: ignore[method-assign]
    events = await collect(backend, ask())
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert (usage.finish_reason, usage.context_window_full) == ("length", True)


@pytest.mark.asyncio
async def test_error_line_mid_stream_keeps_the_partial_text_then_a_stream_error(
    backend: OllamaBackend,
) -> None:
    await backend.load(ModelSpec("qwen3:error"))
    events = await collect(backend, ask())
    assert joined(events, ThinkingDelta) == "Two plus two"
    error = events[-1]
    assert isinstance(error, StreamError)
    assert MID_STREAM_ERROR in error.message
    assert not any(isinstance(e, Usage) for e in events)


@pytest.mark.asyncio
async def test_dropped_connection_mid_answer_is_a_stream_error_after_the_partial_answer(
    backend: OllamaBackend,
) -> None:
    await backend.load(ModelSpec("qwen3:drop"))
    events = await collect(backend, ask())
    assert joined(events, ThinkingDelta) == THINKING
    assert joined(events, AnswerDelta) == "2+2 ="
    error = events[-1]
    assert isinstance(error, StreamError)
    assert "stopped while answering" in error.message and error.action


@pytest.mark.asyncio
async def test_c12_chat_session_keeps_the_partial_answer_with_the_error(
    backend: OllamaBackend,
) -> None:
    await backend.load(ModelSpec("qwen3:drop"))
    session = ChatSession(backend)
    record = TurnRecord("What is 2+2?")
    events = [e async for e in session.run_turn("What is 2+2?", record=record)]
    assert isinstance(events[-1], StreamError)
    assert (record.answer, record.error) == ("2+2 =", events[-1])
    assert [m.content for m in session.history] == ["What is 2+2?", "2+2 ="]


@pytest.mark.asyncio
async def test_cancelling_closes_the_http_stream_promptly(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    await backend.load(ModelSpec("qwen3:slow"))
    got_first = asyncio.Event()
    events: list[StreamEvent] = []

    async def consume() -> None:
        async for event in backend.stream_chat(ask()):
            events.append(event)
            got_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 5)
    cancelled_at = time.perf_counter()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert time.perf_counter() - cancelled_at < 0.5
    assert not any(isinstance(e, Usage | StreamError) for e in events)
    deadline = time.monotonic() + 3
    while fake.disconnects == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # the server notices at its next write (≤ one token)
    assert fake.disconnects == 1
    await backend.load(ModelSpec("qwen3:8b"))  # usable again
    assert isinstance((await collect(backend, ask()))[-1], Usage)


@pytest.mark.asyncio
async def test_no_model_and_a_second_stream_are_refused(backend: OllamaBackend) -> None:
    with pytest.raises(NoModelLoadedError):
        await collect(backend, ask())
    await backend.load(ModelSpec("qwen3:slow"))
    first = backend.stream_chat(ask())
    assert isinstance(await anext(first), ThinkingDelta)
    with pytest.raises(GenerationError):
        await collect(backend, ask())
    await first.aclose()


@pytest.mark.asyncio
async def test_model_deleted_after_loading_raises_before_any_text(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    await backend.load(ModelSpec("qwen3:8b"))
    removed = fake.models.pop("qwen3:8b")
    try:
        with pytest.raises(ModelNotDownloadedError):
            await collect(backend, ask())
    finally:
        fake.models[removed.name] = removed


@pytest.mark.asyncio
async def test_c1_thinking_reclassified_when_only_a_closing_tag_arrives() -> None:
    """A thinking-only model on a server that does not split thinking: the template opened
    ``<think>`` in the prompt, so the output only closes it (case C1)."""
    text = "Let me check the units. </think>\n\nThe answer is 42."
    model = FakeModel("qwen3:4b-thinking-2507", thinking="", answer=text)
    with running_fake_ollama(model) as (_, url):
        backend = OllamaBackend(url)
        await backend.load(ModelSpec(model.name))
        events = await collect(backend, ask())
        await backend.aclose()
    assert any(isinstance(e, ThinkingReclassified) for e in events)
    record = TurnRecord("q")
    for event in events:
        record.apply(event)
    assert (record.thinking, record.answer) == ("Let me check the units.", "The answer is 42.")
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.thinking_tokens and usage.thinking_seconds


def test_proxies_from_the_environment_only_for_servers_elsewhere() -> None:
    from qwen_desktop.engines.http_clients import is_loopback

    assert is_loopback("http://127.0.0.1:11434")
    assert is_loopback("localhost:11434")
    assert is_loopback("http://[::1]:11434")
    assert not is_loopback("https://gpu-box.example.org")


# -- stop tokens (issue 13, item 5) ---------------------------------------------------------------

PARIS = "Paris.<|im_end|>\n<|im_start|>user\nAnd Germany?"


@pytest.mark.asyncio
@pytest.mark.parametrize("ignore_stop", [False, True])
async def test_stop_tokens_are_sent_and_cut_from_the_stream(ignore_stop: bool) -> None:
    model = FakeModel("qwen2.5:1.5b", thinking="", answer=PARIS, capabilities=("completion",))
    model.ignore_stop = ignore_stop  # True: a server/Modelfile that misses Qwen's stop tokens
    with running_fake_ollama(model) as (fake, url):
        backend = OllamaBackend(url, request_timeout_s=5, load_timeout_s=5)
        await backend.load(ModelSpec(model.name))
        events = await collect(backend, ask("Capital of France?"))
        await backend.aclose()
    (chat,) = fake.chat_requests()
    assert chat["options"]["stop"] == ["<|im_end|>", "<|endoftext|>", "<|im_start|>"]
    assert joined(events, AnswerDelta) == "Paris."
    assert isinstance(events[-1], Usage) and events[-1].finish_reason == "stop"
