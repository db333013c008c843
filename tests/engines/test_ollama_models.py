"""What ``/api/show`` says about a model, and Ollama's errors turned into actions (pure)."""

from __future__ import annotations

import httpx
import ollama
import pytest

from qwen_desktop.core.errors import CheckpointError, EngineUnavailableError, GenerationError
from qwen_desktop.core.types import ThinkingKind
from qwen_desktop.engines.ollama_models import (
    MEMORY_ACTION,
    ModelNotDownloadedError,
    model_facts,
    stream_error_for,
    thinking_kind,
    translate_error,
)
from tests.fixtures.ollama_fake_server import FakeModel, FakeOllama

URL = "http://127.0.0.1:5"


THINKS = ("completion", "thinking")


@pytest.mark.parametrize(
    ("name", "capabilities", "kind"),
    [
        ("qwen3:8b", THINKS, ThinkingKind.HYBRID),
        ("qwen3:30b-a3b-thinking-2507-q4_K_M", THINKS, ThinkingKind.THINKING_ONLY),
        ("hf.co/Qwen/Qwen3-4B-Thinking-2507-GGUF:Q8_0", THINKS, ThinkingKind.THINKING_ONLY),
        ("qwen3:4b-instruct-2507", ("completion", "tools"), ThinkingKind.INSTRUCT_ONLY),
        ("qwen2.5vl:7b", ("completion", "vision"), ThinkingKind.INSTRUCT_ONLY),
    ],
)
def test_thinking_kind(name: str, capabilities: tuple[str, ...], kind: ThinkingKind) -> None:
    assert thinking_kind(name, capabilities) is kind


def test_model_facts_read_gguf_keys_of_the_architecture() -> None:
    model = FakeModel("qwen3:8b")
    show = ollama.ShowResponse.model_validate(FakeOllama().show(model))
    facts = model_facts("qwen3:8b", show, 123)
    assert facts.architecture == "qwen3"
    assert (facts.context_length, facts.block_count, facts.head_count) == (40960, 36, 32)
    assert (facts.head_count_kv, facts.key_length) == (8, 128)
    assert (facts.parameters, facts.parameter_size, facts.quantization) == (
        model.parameter_count,
        "8.2B",
        "Q4_K_M",
    )
    assert facts.size_bytes == 123 and not facts.vision
    assert facts.thinking_kind is ThinkingKind.HYBRID


def test_model_facts_survive_missing_fields_and_per_layer_lists() -> None:
    show = ollama.ShowResponse.model_validate(
        {"model_info": {"general.architecture": "x", "x.attention.head_count_kv": [2, 8, 4]}}
    )
    facts = model_facts("m", show)
    assert facts.capabilities == ("completion",)
    assert (facts.head_count_kv, facts.context_length, facts.quantization) == (8, 0, "")
    assert facts.thinking_kind is ThinkingKind.INSTRUCT_ONLY


def test_not_found_becomes_model_not_downloaded_with_the_pull_action() -> None:
    error = translate_error(ollama.ResponseError('{"error":"model not found"}', 404), "q:1", URL)
    assert isinstance(error, ModelNotDownloadedError) and isinstance(error, CheckpointError)
    assert error.message == "The model q:1 is not downloaded."
    assert error.action.startswith("Pull it: qwen-desktop pull q:1")
    assert "model manager" in error.action


@pytest.mark.parametrize(
    "text",
    [
        "model requires more system memory (45.0 GiB) than is available (20.1 GiB)",
        "llama runner process has terminated: cudaMalloc failed: out of memory",
    ],
)
def test_out_of_memory_suggests_a_smaller_quantization_or_context(text: str) -> None:
    error = translate_error(ollama.ResponseError(text, 500), "q:1", URL, "It is too large.")
    assert isinstance(error, EngineUnavailableError)
    assert error.action == MEMORY_ACTION
    assert error.message.endswith("It is too large.")


def test_connection_errors_say_the_engine_is_not_running() -> None:
    for raised in (ConnectionError("Failed to connect"), httpx.ConnectError("refused")):
        error = translate_error(raised, "q:1", URL)
        assert isinstance(error, EngineUnavailableError)
        assert error.message == f"The Ollama engine is not running (nothing answers at {URL})."


def test_timeouts_and_other_errors_have_actions() -> None:
    timeout = translate_error(httpx.ReadTimeout("slow"), "q:1", URL)
    assert "did not answer in time" in timeout.message and timeout.action
    other = translate_error(ollama.ResponseError("template error", 500), "q:1", URL)
    assert isinstance(other, GenerationError) and "template error" in other.message
    dropped = translate_error(httpx.RemoteProtocolError("Server disconnected"), "q:1", URL)
    assert "stopped before answering" in dropped.message


def test_stream_errors_keep_the_cause_and_say_what_to_do() -> None:
    line = stream_error_for(ollama.ResponseError("unexpected EOF"))
    assert "unexpected EOF" in line.message and "cut off" in line.action
    oom = stream_error_for(ollama.ResponseError("CUDA error: out of memory"))
    assert oom.action == MEMORY_ACTION
    dropped = stream_error_for(httpx.RemoteProtocolError("incomplete chunked read"), managed=True)
    assert "stopped while answering" in dropped.message
    assert "restarts by itself" in dropped.action
    remote = stream_error_for(ConnectionError("gone"))
    assert "still running" in remote.action
