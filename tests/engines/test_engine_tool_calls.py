"""Tools through every engine: passed the way each expects, calls out as the same events.

OpenAI-compatible servers with a tool parser stream ``delta.tool_calls``; without one the raw
``<tool_call>`` text arrives in the content. Ollama returns ``message.tool_calls``. Transformers
renders ``tools=`` and tool messages with the real Qwen3 chat template.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    SamplingSettings,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    ToolCallError,
    ToolSpec,
    Usage,
)
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.ollama_backend import OllamaBackend
from qwen_desktop.engines.openai_backend import OpenAICompatibleBackend
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama
from tests.fixtures.openai_fake_server import FakeServedModel, running_fake_openai

pytestmark = pytest.mark.timeout(300)  # the first run builds the tiny checkpoint

TEMPLATES = Path(__file__).parents[1] / "fixtures" / "qwen3_templates"
WEATHER = ToolSpec(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
RAW_CALLS = (
    "I will check both cities.\n\n"
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n"
    "</tool_call>"
)


def ask(*messages: ChatMessage, tools: tuple[ToolSpec, ...] = (WEATHER,)) -> ChatRequest:
    return ChatRequest(
        messages or (ChatMessage("user", "Weather in Paris and Oslo?"),),
        sampling=SamplingSettings(temperature=0),
        tools=tools,
    )


async def collect(backend: Any, request: ChatRequest) -> list[StreamEvent]:
    async with contextlib.aclosing(backend.stream_chat(request)) as stream:
        return [event async for event in stream]


def calls(events: list[StreamEvent]) -> list[tuple[int, str, dict[str, Any]]]:
    return [(e.index, e.name, dict(e.arguments)) for e in events if isinstance(e, ToolCall)]


def answer(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, AnswerDelta))


@pytest.mark.asyncio
async def test_openai_structured_calls_streamed_in_pieces() -> None:
    model = FakeServedModel(
        "Qwen/Qwen3-8B",
        tool_calls=(("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')),
    )
    with running_fake_openai(model) as (fake, url):
        backend = OpenAICompatibleBackend(url)
        await backend.load(ModelSpec(model.id))
        events = await collect(backend, ask())
        await backend.aclose()
    body = fake.chat_bodies()[-1]
    assert body["tools"] == [WEATHER.as_openai()]
    assert calls(events) == [
        (0, "get_weather", {"city": "Paris"}),
        (1, "get_weather", {"city": "Oslo"}),
    ]
    ids = [e.id for e in events if isinstance(e, ToolCall)]
    assert ids == ["chatcmpl-tool-0", "chatcmpl-tool-1"]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert "".join(d.text for d in deltas if d.index == 0) == '{"city": "Paris"}'
    assert isinstance(events[-1], Usage) and events[-1].finish_reason == "stop"
    last_call = max(i for i, e in enumerate(events) if isinstance(e, ToolCall))
    assert last_call < len(events) - 1


@pytest.mark.asyncio
async def test_openai_raw_tool_call_text_without_a_server_parser() -> None:
    model = FakeServedModel("Qwen/Qwen3-8B", reasoning_field=None, tool_call_text=RAW_CALLS)
    with running_fake_openai(model) as (_, url):
        backend = OpenAICompatibleBackend(url)
        await backend.load(ModelSpec(model.id))
        events = await collect(backend, ask())
        plain = await collect(backend, ask(tools=()))
        await backend.aclose()
    assert calls(events) == [
        (0, "get_weather", {"city": "Paris"}),
        (1, "get_weather", {"city": "Oslo"}),
    ]
    assert answer(events) == "I will check both cities."
    assert not calls(plain)  # no tools offered: the text is the answer, untouched


@pytest.mark.asyncio
async def test_openai_bad_arguments_from_the_server_become_a_call_error() -> None:
    model = FakeServedModel("Qwen/Qwen3-8B", tool_calls=(("get_weather", '{"city": '),))
    with running_fake_openai(model) as (_, url):
        backend = OpenAICompatibleBackend(url)
        await backend.load(ModelSpec(model.id))
        events = await collect(backend, ask())
        await backend.aclose()
    (failure,) = [e for e in events if isinstance(e, ToolCallError)]
    assert failure.name == "get_weather" and "not valid JSON" in failure.message
    assert '{\\"city\\": ' in failure.text


@pytest.mark.asyncio
async def test_openai_history_with_calls_and_results_in_openai_shape() -> None:
    model = FakeServedModel("Qwen/Qwen3-8B", "", "It is sunny.", tool_calls=(("x", "{}"),))
    call = ToolCall("get_weather", {"city": "Paris"}, id="call_abc", index=0)
    history = (
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"sky": "sunny"}', tool_call_id="call_abc", tool_name="get_weather"),
    )
    with running_fake_openai(model) as (fake, url):
        backend = OpenAICompatibleBackend(url)
        await backend.load(ModelSpec(model.id))
        events = await collect(backend, ask(*history))
        await backend.aclose()
    assert answer(events) == "It is sunny."
    messages = fake.chat_bodies()[-1]["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": "call_abc",
        "content": '{"sky": "sunny"}',
    }
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.asyncio
async def test_ollama_tool_calls_and_the_history_it_is_sent() -> None:
    tools_model = FakeModel(
        "qwen3:8b",
        answer="Paris: sunny.",
        capabilities=("completion", "thinking", "tools"),
        tool_calls=(("get_weather", {"city": "Paris"}),),
    )
    raw_model = FakeModel(
        "qwen3:raw", capabilities=("completion", "tools"), answer=RAW_CALLS, thinking=""
    )
    no_tools = FakeModel("qwen2:0.5b", capabilities=("completion",))
    with running_fake_ollama(tools_model, raw_model, no_tools) as (fake, url):
        backend = OllamaBackend(url)
        await backend.load(ModelSpec("qwen3:8b"))
        events = await collect(backend, ask())
        (call,) = [e for e in events if isinstance(e, ToolCall)]
        assert (call.index, call.name, dict(call.arguments)) == (
            0,
            "get_weather",
            {"city": "Paris"},
        )
        assert call.id.startswith("call_")
        assert isinstance(events[-1], Usage)
        assert fake.chat_requests()[-1]["tools"] == [WEATHER.as_openai()]
        result = ChatMessage("tool", "sunny", tool_call_id=call.id, tool_name="get_weather")
        history = (
            ChatMessage("user", "Weather in Paris?"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            result,
        )
        events = await collect(backend, ask(*history))
        assert answer(events) == "Paris: sunny." and not calls(events)
        sent = fake.chat_requests()[-1]["messages"]
        # the ollama client sends its Message.ToolCall model: {"function": {name, arguments}}
        assert sent[1]["tool_calls"] == [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
        ]
        assert sent[2] == {"role": "tool", "content": "sunny", "tool_name": "get_weather"}

        await backend.load(ModelSpec("qwen3:raw"))  # Ollama's parser missed them: raw text
        events = await collect(backend, ask())
        assert calls(events) == [
            (0, "get_weather", {"city": "Paris"}),
            (1, "get_weather", {"city": "Oslo"}),
        ]
        assert answer(events) == "I will check both cities."

        await backend.load(ModelSpec("qwen2:0.5b"))
        with pytest.raises(QwenDesktopError, match="does not support tools"):
            await collect(backend, ask())
        await backend.aclose()


def release_template_request() -> ChatRequest:
    call = ToolCall("get_weather", {"city": "Paris"}, id="call_1", index=0)
    return ask(
        ChatMessage("system", "You are helpful."),
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"sky": "sunny"}', tool_call_id="call_1", tool_name="get_weather"),
    )


@pytest.mark.slow
@pytest.mark.asyncio
async def test_transformers_real_qwen3_template_renders_tools_calls_and_results(
    tiny_qwen3_release_path: Path,
) -> None:
    from qwen_desktop.engines.transformers_backend import TransformersBackend, open_model_folder

    backend = TransformersBackend(device="cpu")
    await backend.load(open_model_folder(tiny_qwen3_release_path))
    prompt = backend.render_prompt(release_template_request())
    plain = backend.render_prompt(ask(ChatMessage("user", "Hi"), tools=()))
    await backend.unload()
    tool_json = json.dumps(WEATHER.as_openai(), ensure_ascii=False)  # Jinja's tojson
    assert prompt.startswith(
        "<|im_start|>system\nYou are helpful.\n\n# Tools\n\nYou may call one or more functions"
    )
    assert f"<tools>\n{tool_json}\n</tools>" in prompt
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}\n</tool_call><|im_end|>\n'
        '<|im_start|>user\n<tool_response>\n{"sky": "sunny"}\n</tool_response><|im_end|>\n'
        "<|im_start|>assistant\n"
    ) in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "# Tools" not in plain


@pytest.mark.slow
@pytest.mark.asyncio
async def test_transformers_output_with_tool_calls_is_split_by_the_real_tokenizer(
    tiny_qwen3_release_path: Path,
) -> None:
    """The model's tokens (scripted: a tiny model cannot call tools) decode through the real
    tokenizer, where ``<tool_call>`` is an added non-special token, and the calls come out."""
    import types

    import torch

    from qwen_desktop.engines.transformers_backend import TransformersBackend, open_model_folder

    backend = TransformersBackend(device="cpu")
    await backend.load(open_model_folder(tiny_qwen3_release_path))
    state = backend._state
    assert state is not None
    output = f"<think>\nI need the weather.\n</think>\n\n{RAW_CALLS}"
    ids = state.tokenizer.encode(output, add_special_tokens=False)
    end = state.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert state.tokenizer.convert_ids_to_tokens(ids).count("<tool_call>") == 2

    def scripted(model: Any, prompt_ids: list[int], *, streamer: Any, **_: Any) -> None:
        streamer.put(torch.tensor([prompt_ids]))
        for token in [*ids, end]:
            streamer.put(torch.tensor([token]))

    state.runtime = types.SimpleNamespace(**{**vars(state.runtime), "generate": scripted})
    events = await collect(backend, ask())
    await backend.unload()
    assert calls(events) == [
        (0, "get_weather", {"city": "Paris"}),
        (1, "get_weather", {"city": "Oslo"}),
    ]
    assert answer(events) == "I will check both cities."
    assert isinstance(events[-1], Usage) and events[-1].finish_reason == "stop"
