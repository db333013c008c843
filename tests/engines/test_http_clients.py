"""The one HTTP client factory: loopback never through a proxy, explicit timeouts, no ambient
Ollama key, failures as the app's own errors (issue 12 item 4, issue 16 item 4)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_desktop import cli
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.types import AnswerDelta, ChatMessage, ChatRequest
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.http_clients import (
    http_client,
    is_loopback,
    is_plain_http_remote,
    ollama_client,
    ollama_session,
)
from qwen_desktop.engines.ollama_backend import OllamaBackend
from qwen_desktop.engines.openai_backend import OpenAICompatibleBackend
from qwen_desktop.engines.service import ollama_tags
from qwen_desktop.library.service import ModelLibrary
from tests.fixtures.logging_proxy import LoggingProxy, logging_proxy
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama
from tests.fixtures.openai_fake_server import FakeServedModel, running_fake_openai

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoggingProxy]:
    """A logging proxy set in every proxy variable (and none exempted by NO_PROXY)."""
    with logging_proxy() as running:
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, running.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        yield running


def test_loopback_addresses() -> None:
    assert is_loopback(None)  # the embedded server
    for url in (
        "http://127.0.0.1:11434",
        "localhost:11434",
        "http://[::1]:8000/v1",
        "http://127.3.2.1",
        "http://LOCALHOST.",
        "http://app.localhost:1",
    ):
        assert is_loopback(url), url
    for url in (
        "https://gpu-box.example.org",
        "http://10.0.0.5:11434",
        "http://127.0.0.1.nip.io",
        "http://[::ffff:8.8.8.8]",
        "http://[bad",
    ):
        assert not is_loopback(url), url
    assert is_plain_http_remote("http://10.0.0.5:8000/v1")
    assert not is_plain_http_remote("https://10.0.0.5:8000/v1")
    assert not is_plain_http_remote("http://127.0.0.1:8000/v1")


def test_with_a_proxy_set_loopback_ollama_never_reaches_it(
    proxy: LoggingProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report: with HTTP_PROXY set, the Library listed nothing and `models list --ollama`
    failed, because /api/tags went to the proxy."""
    with running_fake_ollama(FakeModel("qwen3:8b", answer="Four.")) as (fake, url):
        assert asyncio.run(ollama_tags(url)) == ("qwen3:8b",)
        library = ModelLibrary(tmp_path / "library.json", tmp_path / "hub")
        assert [m.id for m in asyncio.run(library.ollama_models(url))] == ["qwen3:8b"]

        async def chat() -> str:
            backend = OllamaBackend(url, request_timeout_s=5, load_timeout_s=5)
            try:
                await backend.load(ModelSpec("qwen3:8b"))
                request = ChatRequest((ChatMessage("user", "2+2?"),))
                events = [e async for e in backend.stream_chat(request)]
            finally:
                await backend.aclose()
            return "".join(e.text for e in events if isinstance(e, AnswerDelta))

        assert asyncio.run(chat()) == "Four."
        assert cli.run(["models", "list", "--ollama", url]) == 0
        assert "qwen3:8b" in capsys.readouterr().out
        assert fake.requests  # the requests did reach the server directly
    assert proxy.requests == []


def test_with_a_proxy_set_a_loopback_openai_server_never_reaches_it(proxy: LoggingProxy) -> None:
    with running_fake_openai(FakeServedModel("Qwen/Qwen3-8B", answer="Four.")) as (_, url):

        async def chat() -> str:
            backend = OpenAICompatibleBackend(url)
            try:
                await backend.load(ModelSpec("Qwen/Qwen3-8B"))
                request = ChatRequest((ChatMessage("user", "2+2?"),))
                events = [e async for e in backend.stream_chat(request)]
            finally:
                await backend.aclose()
            return "".join(e.text for e in events if isinstance(e, AnswerDelta))

        assert asyncio.run(chat()) == "Four."
    assert proxy.requests == []


def test_other_computers_still_go_through_the_proxy(proxy: LoggingProxy) -> None:
    async def fetch() -> int:
        async with http_client("http://models.example.invalid") as client:
            response = await client.get("http://models.example.invalid/api/tags")
            return response.status_code

    assert asyncio.run(fetch()) == 502
    assert proxy.requests == ["GET http://models.example.invalid/api/tags"]


def test_no_ambient_ollama_key_and_no_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-secret")
    monkeypatch.setenv("OLLAMA_HOST", "http://203.0.113.9:11434")
    client = ollama_client("http://127.0.0.1:11434", read_timeout_s=7)
    assert "authorization" not in client._client.headers
    assert str(client._client.base_url).startswith("http://127.0.0.1:11434")
    timeout = client._client.timeout
    assert (timeout.connect, timeout.read) == (5.0, 7)
    given = ollama_client("https://gw.example.org", headers={"Authorization": "Bearer mine"})
    assert given._client.headers["authorization"] == "Bearer mine"


def test_session_failures_become_the_callers_error_type() -> None:
    class ListError(QwenDesktopError):
        pass

    async def nobody() -> None:
        async with ollama_session(
            "http://127.0.0.1:9", doing="list its models", error=ListError
        ) as client:
            await client.list()

    with pytest.raises(ListError) as caught:
        asyncio.run(nobody())
    assert caught.value.message.startswith("No Ollama answers at http://127.0.0.1:9")
    assert caught.value.action

    with running_fake_ollama() as (_, url):

        async def missing() -> None:
            async with ollama_session(url, doing="show x", error=ListError) as client:
                await client.show("qwen3:nope")

        with pytest.raises(ListError) as refused:
            asyncio.run(missing())
    assert "could not show x" in refused.value.message and "HTTP 404" in refused.value.message
