"""Engine options for the window, the default among them, and the switchable backend seam."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from qwen_desktop.core.errors import EngineUnavailableError
from qwen_desktop.core.types import AnswerDelta, ChatMessage, ChatRequest
from qwen_desktop.engines.base import ChatBackend, ModelSpec
from qwen_desktop.engines.engine_choice import EngineStatus, choose_engine
from qwen_desktop.engines.ollama_discovery import BinaryLocation, RunningOllama, free_port
from qwen_desktop.engines.service import (
    SwitchableBackend,
    default_kind,
    engine_options,
    ollama_tags,
)
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama
from tests.fixtures.scripted_backend import ScriptedBackend

BINARY = BinaryLocation(Path("/opt/qwen-desktop/ollama/ollama"), "bundled")
RUNNING = RunningOllama("ollama", "http://127.0.0.1:11434", "0.12.0")
FREE = RunningOllama("free", "http://127.0.0.1:11434")


def status(
    binary: BinaryLocation | None, *, ml: bool, running: RunningOllama = FREE
) -> EngineStatus:
    return EngineStatus(
        ollama_binary=binary,
        ollama_version="0.12.0" if binary else None,
        running=running,
        torch_available=ml,
        transformers_available=ml,
        choice=choose_engine(binary, torch=ml, transformers=ml, running=running),
    )


def test_bundled_ollama_is_the_default_and_a_running_one_is_offered_too() -> None:
    found = status(BINARY, ml=True, running=RUNNING)
    options = {o.kind: o for o in engine_options(found)}
    assert list(options) == ["embedded", "running", "transformers", "remote"]
    assert default_kind(found) == "embedded"
    assert options["embedded"].available and str(BINARY.path) in options["embedded"].detail
    assert options["running"].url == RUNNING.url
    assert "already running" in options["running"].detail


def test_without_binary_transformers_then_a_running_ollama_then_a_guide() -> None:
    assert default_kind(status(None, ml=True, running=RUNNING)) == "transformers"
    only_running = status(None, ml=False, running=RUNNING)
    assert default_kind(only_running) == "running"
    nothing = status(None, ml=False)
    assert default_kind(nothing) is None
    options = {o.kind: o for o in engine_options(nothing)}
    assert "running" not in options
    assert not options["embedded"].available and "ollama.com/download" in (
        options["embedded"].detail
    )
    assert not options["transformers"].available
    assert "pip install 'qwen-desktop[ml]'" in options["transformers"].detail
    assert options["remote"].available


@dataclass
class Closing(ScriptedBackend):
    closed: bool = False

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.asyncio
async def test_switch_unloads_and_closes_the_previous_engine_then_forwards() -> None:
    first = Closing(script=(AnswerDelta("one"),))
    second = ScriptedBackend(script=(AnswerDelta("two"),))
    backend = SwitchableBackend(first, "First")
    assert isinstance(backend, ChatBackend)
    await backend.load(ModelSpec(name="a"))
    assert backend.loaded is not None and first.loaded is not None
    await backend.switch(second, "Second")
    assert first.loaded is None and first.closed
    assert backend.label == "Second" and backend.loaded is None
    await backend.load(ModelSpec(name="b"))
    request = ChatRequest(messages=(ChatMessage("user", "hi"),))
    events = [event async for event in backend.stream_chat(request)]
    assert events == [AnswerDelta("two")]
    assert second.requests == [request] and first.requests == []


@pytest.mark.asyncio
async def test_ollama_tags_lists_sorted_and_says_when_nothing_answers() -> None:
    with running_fake_ollama(FakeModel("qwen3:8b"), FakeModel("qwen3:0.6b")) as (_fake, url):
        assert await ollama_tags(url) == ("qwen3:0.6b", "qwen3:8b")
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EngineUnavailableError) as caught:
        await ollama_tags(address, timeout_s=2.0)
    assert address in caught.value.message and "did not list its models" in caught.value.message
