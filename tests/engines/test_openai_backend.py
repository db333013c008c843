"""OpenAICompatibleBackend against the local fake OpenAI-compatible server: loading, thinking in
each form, images, usage, and errors turned into actions (before and during the stream)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from qwen_desktop.core.errors import (
    ContextWindowExceededError,
    EngineUnavailableError,
    GenerationError,
    QwenDesktopError,
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
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.openai_backend import (
    OpenAICompatibleBackend,
    guess_thinking_kind,
    guess_vision,
    image_data_url,
)
from qwen_desktop.engines.openai_errors import (
    ModelNotServedError,
    context_window_of,
    translate_error,
)
from tests.fixtures.openai_fake_server import (
    BAD_KEY,
    MID_STREAM_ERROR,
    FakeOpenAI,
    FakeServedModel,
    running_fake_openai,
)

pytestmark = pytest.mark.timeout(30)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
THINKING, ANSWER = "Two plus two is four.", "The answer is 4."


@pytest.fixture
def served() -> Iterator[tuple[FakeOpenAI, str]]:
    models = [
        FakeServedModel("Qwen/Qwen3-8B", THINKING, ANSWER),
        FakeServedModel("qwen3-raw", THINKING, ANSWER, reasoning_field=None),
        FakeServedModel(
            "Qwen/Qwen3-4B-Thinking-2507",
            THINKING,
            ANSWER,
            reasoning_field="reasoning",
            report_reasoning_tokens=True,
        ),
        FakeServedModel("Qwen/Qwen2.5-VL-7B-Instruct", "", ANSWER, max_model_len=0),
        FakeServedModel(
            "Qwen/Qwen3-4B-Thinking-2507-raw",
            THINKING,
            ANSWER,
            reasoning_field=None,
            template_opens_think=True,
        ),
        FakeServedModel("Qwen/Qwen3-error", THINKING, ANSWER, error_after=3),
        FakeServedModel("Qwen/Qwen3-drop", THINKING, ANSWER, drop_after=3),
        FakeServedModel("Qwen/Qwen3-early", THINKING, ANSWER, end_early_after=3),
    ]
    with running_fake_openai(*models) as running:
        yield running


def ask(
    text: str = "What is 2+2?", *, thinking: bool | None = None, **sampling: int
) -> ChatRequest:
    settings = SamplingSettings(**{**SamplingSettings(temperature=0).__dict__, **sampling})
    return ChatRequest((ChatMessage("user", text),), thinking=thinking, sampling=settings)


async def run(backend: OpenAICompatibleBackend, request: ChatRequest) -> list[StreamEvent]:
    async with contextlib.aclosing(backend.stream_chat(request)) as stream:
        return [event async for event in stream]


def joined(events: list[StreamEvent], kind: type[ThinkingDelta] | type[AnswerDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


async def loaded(url: str, model: str, **kwargs: object) -> OpenAICompatibleBackend:
    backend = OpenAICompatibleBackend(url, request_timeout_s=5, **kwargs)  # type: ignore[arg-type]
    await backend.load(ModelSpec(model))
    return backend


@pytest.mark.parametrize(
    ("model_id", "kind"),
    [
        ("Qwen/Qwen3-8B", ThinkingKind.HYBRID),
        ("qwen3:8b", ThinkingKind.HYBRID),
        ("Qwen/Qwen3-4B-Thinking-2507", ThinkingKind.THINKING_ONLY),
        ("Qwen/QwQ-32B", ThinkingKind.THINKING_ONLY),
        ("Qwen/Qwen3-30B-A3B-Instruct-2507", ThinkingKind.INSTRUCT_ONLY),
        ("Qwen/Qwen2.5-7B", ThinkingKind.INSTRUCT_ONLY),
        ("meta-llama/Llama-3.1-8B", ThinkingKind.INSTRUCT_ONLY),
    ],
)
def test_thinking_kind_from_the_model_id(model_id: str, kind: ThinkingKind) -> None:
    assert guess_thinking_kind(model_id) is kind


def test_vision_from_the_model_id() -> None:
    assert guess_vision("Qwen/Qwen2.5-VL-7B-Instruct") and guess_vision("Qwen3-VL-8B")
    assert not guess_vision("Qwen/Qwen3-8B")


def test_images_become_data_urls_and_unknown_formats_are_refused() -> None:
    assert image_data_url(PNG).startswith("data:image/png;base64,iVBORw0KGgo")
    assert image_data_url(b"\xff\xd8\xff\xe0rest").startswith("data:image/jpeg;base64,")
    assert image_data_url(b"RIFF\x00\x00\x00\x00WEBPVP8 ").startswith("data:image/webp;")
    with pytest.raises(QwenDesktopError, match="PNG or JPEG"):
        image_data_url(b"%PDF-1.7")


def test_context_window_from_each_servers_listing() -> None:
    assert context_window_of({"id": "m", "max_model_len": 32768}) == 32768  # vLLM
    assert context_window_of({"id": "m", "meta": {"n_ctx_train": 40960}}) == 40960  # llama.cpp
    assert context_window_of({"id": "m", "max_context_length": 8192}) == 8192  # LM Studio
    assert context_window_of({"id": "m"}) == 0


@pytest.mark.asyncio
async def test_reasoning_field_goes_to_thinking_and_usage_comes_last(
    served: tuple[FakeOpenAI, str],
) -> None:
    fake, url = served
    backend = await loaded(url, "Qwen/Qwen3-8B")
    assert backend.capabilities.thinking_kind is ThinkingKind.HYBRID
    assert backend.capabilities.context_window_tokens == 40960
    events = await run(backend, ask(thinking=True))
    assert (joined(events, ThinkingDelta), joined(events, AnswerDelta)) == (THINKING, ANSWER)
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert usage.generated_tokens == 9 and usage.thinking_tokens == 5  # word tokens: 5 + 4
    assert usage.prompt_tokens > 0 and usage.finish_reason == "stop"
    body = fake.chat_bodies()[-1]
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"], body["top_k"]) == (4096, 0, 20)
    assert fake.requests[-1][2]["authorization"] == "Bearer no-key"
    await backend.aclose()


@pytest.mark.asyncio
async def test_thinking_off_is_sent_to_hybrid_models(served: tuple[FakeOpenAI, str]) -> None:
    fake, url = served
    backend = await loaded(url, "qwen3-raw")
    events = await run(backend, ask(thinking=False))
    # the inline form of thinking-off is an empty block (case C2): no thinking at all
    assert (joined(events, ThinkingDelta), joined(events, AnswerDelta)) == ("", ANSWER)
    assert fake.chat_bodies()[-1]["chat_template_kwargs"] == {"enable_thinking": False}
    await backend.aclose()


@pytest.mark.asyncio
async def test_think_tags_in_content_take_the_same_parser(served: tuple[FakeOpenAI, str]) -> None:
    _, url = served
    backend = await loaded(url, "qwen3-raw")
    events = await run(backend, ask(thinking=True))
    assert (joined(events, ThinkingDelta), joined(events, AnswerDelta)) == (THINKING, ANSWER)
    await backend.aclose()


@pytest.mark.asyncio
async def test_reasoning_field_of_a_thinking_only_model_and_reported_reasoning_tokens(
    served: tuple[FakeOpenAI, str],
) -> None:
    fake, url = served
    backend = await loaded(url, "Qwen/Qwen3-4B-Thinking-2507")
    assert backend.capabilities.thinking_kind is ThinkingKind.THINKING_ONLY
    events = await run(backend, ask(thinking=False))  # no switch: it thinks anyway
    assert joined(events, ThinkingDelta) == THINKING
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.thinking_tokens == 5
    assert "chat_template_kwargs" not in fake.chat_bodies()[-1]
    await backend.aclose()


@pytest.mark.asyncio
async def test_a_close_tag_without_an_open_one_turns_the_text_into_thinking(
    served: tuple[FakeOpenAI, str],
) -> None:
    """Case C1 on a server without a reasoning parser: the template opened ``<think>``."""
    _, url = served
    backend = await loaded(url, "Qwen/Qwen3-4B-Thinking-2507-raw")
    events = await run(backend, ask())
    moved = [e for e in events if isinstance(e, ThinkingReclassified)]
    assert [e.text for e in moved] == [THINKING]
    after = events[events.index(moved[0]) :]
    assert joined(after, AnswerDelta) == ANSWER and not joined(after, ThinkingDelta)
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.thinking_tokens and usage.thinking_seconds is not None
    await backend.aclose()


@pytest.mark.asyncio
async def test_images_are_sent_as_data_urls_to_vision_models(
    served: tuple[FakeOpenAI, str],
) -> None:
    fake, url = served
    backend = await loaded(url, "Qwen/Qwen2.5-VL-7B-Instruct", context_tokens=8192)
    assert backend.capabilities.vision
    assert backend.capabilities.context_window_tokens == 8192  # not listed: the setting
    request = ChatRequest((ChatMessage("user", "What is this?", images=(PNG,)),))
    events = await run(backend, request)
    assert joined(events, AnswerDelta) == ANSWER
    content = fake.chat_bodies()[-1]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    await backend.aclose()


@pytest.mark.asyncio
async def test_limit_hit_while_thinking_is_reported(served: tuple[FakeOpenAI, str]) -> None:
    _, url = served
    backend = await loaded(url, "Qwen/Qwen3-8B")
    events = await run(backend, ask(thinking=True, max_new_tokens=3))
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert (usage.finish_reason, usage.thinking_incomplete) == ("length", True)
    assert joined(events, AnswerDelta) == ""
    await backend.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("Qwen/Qwen3-error", MID_STREAM_ERROR),
        ("Qwen/Qwen3-drop", "broke while answering"),
        ("Qwen/Qwen3-early", "ended before the answer did"),
    ],
)
async def test_a_stream_that_breaks_keeps_the_partial_text_then_one_error(
    served: tuple[FakeOpenAI, str], model: str, words: str
) -> None:
    _, url = served
    backend = await loaded(url, model)
    events = await run(backend, ask(thinking=True))
    *deltas, last = events
    assert isinstance(last, StreamError) and words in last.message and last.action
    assert joined(deltas, ThinkingDelta) == "Two plus two"  # the 3 tokens sent, never retracted
    assert all(isinstance(e, ThinkingDelta | AnswerDelta | ThinkingReclassified) for e in deltas)
    await backend.aclose()


@pytest.mark.asyncio
async def test_unknown_model_lists_what_the_server_serves(served: tuple[FakeOpenAI, str]) -> None:
    _, url = served
    backend = OpenAICompatibleBackend(url)
    with pytest.raises(ModelNotServedError) as caught:
        await backend.load(ModelSpec("Qwen/Qwen3-235B"))
    assert "Qwen/Qwen3-235B" in caught.value.message
    assert "Qwen/Qwen3-8B" in caught.value.action and caught.value.available[0] == "Qwen/Qwen3-8B"
    assert backend.loaded is None
    await backend.aclose()


@pytest.mark.asyncio
async def test_missing_v1_in_the_address_is_explained(served: tuple[FakeOpenAI, str]) -> None:
    _, url = served
    backend = OpenAICompatibleBackend(url.removesuffix("/v1"))
    with pytest.raises(GenerationError, match="no OpenAI-compatible API") as caught:
        await backend.load(ModelSpec("Qwen/Qwen3-8B"))
    assert "/v1" in caught.value.action
    await backend.aclose()


@pytest.mark.asyncio
async def test_connection_refused_says_to_start_the_server() -> None:
    backend = OpenAICompatibleBackend("http://127.0.0.1:1/v1")
    with pytest.raises(
        EngineUnavailableError, match=r"Nothing answers at http://127\.0\.0\.1:1/v1"
    ):
        await backend.load(ModelSpec("Qwen/Qwen3-8B"))
    await backend.aclose()


@pytest.mark.asyncio
async def test_a_refused_key_says_how_to_store_one() -> None:
    with running_fake_openai(FakeServedModel("Qwen/Qwen3-8B"), api_key="sk-right") as (fake, url):
        wrong = OpenAICompatibleBackend(url, api_key="sk-wrong")
        with pytest.raises(EngineUnavailableError) as caught:
            await wrong.load(ModelSpec("Qwen/Qwen3-8B"))
        assert "401" in caught.value.message and BAD_KEY in caught.value.message
        assert f"engine key set --url {url}" in caught.value.action
        await wrong.aclose()
        right = await loaded(url, "Qwen/Qwen3-8B", api_key="sk-right")
        events = await run(right, ask(thinking=False))
        assert isinstance(events[-1], Usage)
        assert fake.requests[-1][2]["authorization"] == "Bearer sk-right"
        await right.aclose()


def test_a_context_overflow_from_the_server_names_the_context_window() -> None:
    request = httpx2.Request("POST", "http://box:8000/v1/chat/completions")
    body = {"message": "This model's maximum context length is 4096 tokens.", "type": "x"}
    error = openai.BadRequestError(
        "bad", response=httpx2.Response(400, request=request), body={"error": body}
    )
    translated = translate_error(error, "http://box:8000/v1", "m")
    assert isinstance(translated, ContextWindowExceededError)
    assert "4096 tokens" in translated.message


def test_an_empty_address_is_refused() -> None:
    with pytest.raises(QwenDesktopError, match="address is empty"):
        OpenAICompatibleBackend("  ")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (no authority vouches for it)."""
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.asyncio
async def test_an_unverifiable_certificate_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    tls = self_signed_certificate(tmp_path)
    with running_fake_openai(FakeServedModel("Qwen/Qwen3-8B"), tls=tls) as (fake, url):
        assert url.startswith("https://")
        backend = OpenAICompatibleBackend(url, api_key="sk-secret", request_timeout_s=5)
        with pytest.raises(EngineUnavailableError) as caught:
            await backend.load(ModelSpec("Qwen/Qwen3-8B"))
        await backend.aclose()
    assert (
        "TLS certificate" in caught.value.message and "verification stays on" in caught.value.action
    )
    assert fake.requests == []  # the key never left this process


@pytest.mark.asyncio
@pytest.mark.parametrize("ignore_stop", [False, True])
async def test_stop_tokens_are_sent_and_cut_from_the_stream(ignore_stop: bool) -> None:
    paris = "Paris.<|im_end|>\n<|im_start|>user\nAnd Germany?"
    model = FakeServedModel("Qwen/Qwen2.5-1.5B-Instruct", "", paris, ignore_stop=ignore_stop)
    with running_fake_openai(model) as (fake, url):
        backend = await loaded(url, model.id)
        events = await run(backend, ask("Capital of France?"))
        await backend.aclose()
    (body,) = fake.chat_bodies()
    assert body["stop"] == ["<|im_end|>", "<|endoftext|>", "<|im_start|>"]
    assert joined(events, AnswerDelta) == "Paris."
    assert isinstance(events[-1], Usage)
