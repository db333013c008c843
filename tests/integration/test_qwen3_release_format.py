"""The Transformers engine and ``qwen-desktop chat`` on checkpoints shaped like Qwen3's releases.

The folders come from :mod:`tests.fixtures.tiny_models` (release-shaped variants): Qwen's REAL chat
templates (``tests/fixtures/qwen3_templates``), Qwen's tokenizer_config.json / config.json /
generation_config.json layout, bfloat16 weights with more vocabulary rows than tokens, and the
tiny trained weights that answer :data:`TRAINING_CHATS` exactly under greedy decoding.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop import cli
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
from qwen_desktop.engines.checkpoint import inspect_checkpoint
from qwen_desktop.engines.transformers_backend import TransformersBackend
from qwen_desktop.engines.transformers_loading import detect_thinking_kind
from tests.fixtures.tiny_models import (
    QWEN3_ADDED_TOKENS,
    QWEN3_SPECIAL_TOKENS,
    QWEN3_VOCAB_SIZE,
    TEMPLATES_DIR,
    TRAINING_CHATS,
    TrainingChat,
    qwen3_chat_template,
)

pytestmark = pytest.mark.slow

GREEDY = SamplingSettings(temperature=0, max_new_tokens=100)
SUM, SKY, GERMAN = TRAINING_CHATS[0], TRAINING_CHATS[1], TRAINING_CHATS[5]

UPSTREAM_SHA256 = {
    # Qwen3 dense (hybrid) tokenizer_config.json chat_template, current revision.
    "qwen3": "a55ee1b1660128b7098723e0abcd92caa0788061051c62d51cbe87d9cf1974d8",
    "qwen3-2504": "87a2728cb8dc9fe424d624542f6060ec05a1d285ebbec578bb078900e33396b5",
    "qwen3-thinking-2507": "3802169b2a02b81e6adb7ab4f64f91ff02db753c8c3a64a01c35192d3a61d8d7",
    "qwen3-instruct-2507": "64f85b198065d0fba2a81f37e10ed68161ce2c19a754c7100e67e0ca2ee9c326",
}
"""SHA-256 of each stored template (see qwen3_templates/README.md for where each comes from)."""


def ask(chat: TrainingChat, *, thinking: bool | None = None, **sampling: Any) -> ChatRequest:
    settings = GREEDY if not sampling else SamplingSettings(**{**GREEDY.__dict__, **sampling})
    return ChatRequest((ChatMessage("user", chat.prompt),), thinking=thinking, sampling=settings)


async def collect(backend: TransformersBackend, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in backend.stream_chat(request)]


def text(events: list[StreamEvent], kind: type[ThinkingDelta] | type[AnswerDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def usage(events: list[StreamEvent]) -> Usage:
    assert isinstance(events[-1], Usage), events[-1]
    return events[-1]


def tokenizer_of(backend: TransformersBackend) -> Any:
    assert backend._state is not None
    return backend._state.tokenizer


def token_count(backend: TransformersBackend, text_: str) -> int:
    return len(tokenizer_of(backend).encode(text_, add_special_tokens=False))


def _shared(path: Path) -> Iterator[TransformersBackend]:
    backend = TransformersBackend(device="cpu")
    asyncio.run(backend.load(ModelSpec(name=path.name, path=path)))
    yield backend
    asyncio.run(backend.unload())


@pytest.fixture(scope="module")
def release(tiny_qwen3_release_path: Path) -> Iterator[TransformersBackend]:
    yield from _shared(tiny_qwen3_release_path)


@pytest.fixture(scope="module")
def thinking_2507(tiny_qwen3_thinking_2507_path: Path) -> Iterator[TransformersBackend]:
    yield from _shared(tiny_qwen3_thinking_2507_path)


@pytest.fixture(scope="module")
def instruct_2507(tiny_qwen3_instruct_2507_path: Path) -> Iterator[TransformersBackend]:
    yield from _shared(tiny_qwen3_instruct_2507_path)


# -- the stored templates and the release layout ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(UPSTREAM_SHA256))
def test_stored_templates_are_unchanged(name: str) -> None:
    digest = hashlib.sha256(qwen3_chat_template(name).encode()).hexdigest()
    assert digest == UPSTREAM_SHA256[name]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("qwen3", ThinkingKind.HYBRID),
        ("qwen3-2504", ThinkingKind.HYBRID),
        ("qwen3-thinking-2507", ThinkingKind.THINKING_ONLY),
        ("qwen3-instruct-2507", ThinkingKind.INSTRUCT_ONLY),
    ],
)
def test_a_thinking_kind_is_detected_from_each_real_template(
    release: TransformersBackend, name: str, kind: ThinkingKind
) -> None:
    tokenizer = tokenizer_of(release)
    template = qwen3_chat_template(name)

    def render(on: bool) -> str:
        return str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": "Hello"}],
                chat_template=template,
                add_generation_prompt=True,
                tokenize=False,
                enable_thinking=on,
            )
        )

    assert detect_thinking_kind(render) is kind


def test_the_real_hybrid_template_is_complete(release: TransformersBackend) -> None:
    """Tools, tool calls, tool responses, reasoning_content and '</think>' splitting all render."""
    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": SUM.prompt},
        {
            "role": "assistant",
            "content": "<think>\nOLD thinking\n</think>\n\nLet me add.",
            "tool_calls": [{"function": {"name": "add", "arguments": {"a": 2, "b": 2}}}],
        },
        {"role": "tool", "content": "4"},
        {"role": "assistant", "content": SUM.answer, "reasoning_content": "The tool said 4."},
        {"role": "user", "content": SKY.prompt},
    ]
    prompt = str(
        tokenizer_of(release).apply_chat_template(
            messages, tools=[tool], add_generation_prompt=True, tokenize=False
        )
    )
    assert prompt.startswith("<|im_start|>system\nBe brief.\n\n# Tools\n")
    assert '<tools>\n{"type": "function", "function": {"name": "add"' in prompt
    assert (
        '<|im_start|>assistant\nLet me add.\n<tool_call>\n{"name": "add", "arguments": '
        '{"a": 2, "b": 2}}\n</tool_call><|im_end|>\n'
    ) in prompt
    assert "<|im_start|>user\n<tool_response>\n4\n</tool_response><|im_end|>\n" in prompt
    # Turns before the last user query lose their thinking, whatever its source.
    assert "OLD thinking" not in prompt and "The tool said 4." not in prompt
    assert prompt.endswith(f"<|im_start|>user\n{SKY.prompt}<|im_end|>\n<|im_start|>assistant\n")
    # Within the current query (an agent loop after a tool response) thinking is kept, from
    # reasoning_content or split off the content at '</think>'.
    kept = str(
        tokenizer_of(release).apply_chat_template(messages[:5], tools=[tool], tokenize=False)
    )
    assert "<|im_start|>assistant\n<think>\nOLD thinking\n</think>\n\nLet me add.\n" in kept
    assert kept.endswith(
        f"<|im_start|>assistant\n<think>\nThe tool said 4.\n</think>\n\n{SUM.answer}<|im_end|>\n"
    )
    off = str(
        tokenizer_of(release).apply_chat_template(
            messages[:2], add_generation_prompt=True, tokenize=False, enable_thinking=False
        )
    )
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def _reference(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((TEMPLATES_DIR / name).read_text(encoding="utf-8"))
    return loaded


def test_release_folders_are_laid_out_like_qwen3(
    tiny_qwen3_release_path: Path,
    tiny_qwen3_thinking_2507_path: Path,
    tiny_qwen3_instruct_2507_path: Path,
) -> None:
    real_tokenizer = _reference("qwen3-thinking-2507.tokenizer_config.json")
    real_config = _reference("qwen3-4b-thinking-2507.config.json")
    for folder in (
        tiny_qwen3_release_path,
        tiny_qwen3_thinking_2507_path,
        tiny_qwen3_instruct_2507_path,
    ):
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
        template_file = folder / "chat_template.jinja"
        assert template_file.is_file() != ("chat_template" in tokenizer_config)
        assert set(tokenizer_config) | {"chat_template"} == set(real_tokenizer)
        for key in ("eos_token", "pad_token", "bos_token", "unk_token", "tokenizer_class"):
            assert tokenizer_config[key] == real_tokenizer[key]
        assert (
            tokenizer_config["additional_special_tokens"]
            == (real_tokenizer["additional_special_tokens"])
        )
        # Same tokens, same order, same special flags (ids differ: the vocabulary is tiny).
        ours = list(tokenizer_config["added_tokens_decoder"].values())
        theirs = list(real_tokenizer["added_tokens_decoder"].values())
        assert [(t["content"], t["special"]) for t in ours] == [
            (t["content"], t["special"]) for t in theirs
        ]
        assert [t["content"] for t in ours] == [*QWEN3_SPECIAL_TOKENS, *QWEN3_ADDED_TOKENS]
        ids = [int(i) for i in tokenizer_config["added_tokens_decoder"]]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous, </think> last

        config = json.loads((folder / "config.json").read_text())
        assert set(config) == set(real_config)
        assert (config["torch_dtype"], config["rope_scaling"], config["use_sliding_window"]) == (
            "bfloat16",
            None,
            False,
        )
        assert config["vocab_size"] > len(ours) + ids[0]  # padded rows, as Qwen3's
        generation = json.loads((folder / "generation_config.json").read_text())
        im_end, endoftext = ids[2], ids[0]
        assert generation["eos_token_id"] == [im_end, endoftext]
        assert (generation["do_sample"], generation["top_k"]) == (True, 20)
        assert (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
        assert inspect_checkpoint(folder).dtype == "bfloat16"

    hybrid = json.loads((tiny_qwen3_release_path / "generation_config.json").read_text())
    assert (hybrid["temperature"], hybrid["top_p"]) == (0.6, 0.95)


# -- the hybrid release (Qwen3-8B style) ---------------------------------------------------------


def test_release_checkpoint_loads_as_hybrid(release: TransformersBackend) -> None:
    info = release.loaded
    assert info is not None
    assert info.capabilities.thinking_kind is ThinkingKind.HYBRID
    assert info.capabilities.thinking_switch
    assert info.capabilities.context_window_tokens == 40_960
    assert (info.device, info.dtype) == ("cpu", "float32")  # bfloat16 on disk, upcast on CPU
    state = release._state
    assert state is not None
    tokenizer = state.tokenizer
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert tokenizer.convert_tokens_to_ids("</think>") == len(tokenizer) - 1
    assert state.eos_ids == {  # Qwen's three stop tokens end the answer (issue 13, item 5)
        tokenizer.convert_tokens_to_ids("<|im_end|>"),
        tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        tokenizer.convert_tokens_to_ids("<|im_start|>"),
    }
    assert state.token_limit == len(tokenizer)  # 512 rows, 386 tokens


@pytest.mark.asyncio
@pytest.mark.parametrize("chat", [SUM, SKY, GERMAN], ids=lambda c: c.prompt)
async def test_greedy_thinking_through_the_real_template(
    release: TransformersBackend, chat: TrainingChat
) -> None:
    request = ask(chat)
    assert release.render_prompt(request) == (
        f"<|im_start|>user\n{chat.prompt}<|im_end|>\n<|im_start|>assistant\n"
    )
    events = await collect(release, request)
    assert (text(events, ThinkingDelta), text(events, AnswerDelta)) == (chat.thinking, chat.answer)
    assert not any(isinstance(e, (ThinkingReclassified, StreamError)) for e in events)
    done = usage(events)
    assert done.finish_reason == "stop"
    assert done.prompt_tokens == release.count_prompt_tokens(request)
    assert done.generated_tokens == token_count(release, chat.thinking_output + "<|im_end|>")
    assert done.thinking_tokens == token_count(release, f"<think>\n{chat.thinking}\n</think>")
    assert not done.thinking_incomplete


@pytest.mark.asyncio
@pytest.mark.parametrize("chat", [SUM, GERMAN], ids=lambda c: c.prompt)
async def test_thinking_off_gives_no_thinking(
    release: TransformersBackend, chat: TrainingChat
) -> None:
    request = ask(chat, thinking=False)
    assert release.render_prompt(request).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    events = await collect(release, request)
    assert not any(isinstance(e, ThinkingDelta) for e in events)
    assert text(events, AnswerDelta) == chat.answer
    done = usage(events)
    assert (done.finish_reason, done.thinking_tokens, done.thinking_seconds) == ("stop", 0, None)
    assert done.generated_tokens == token_count(release, chat.answer + "<|im_end|>")


HISTORY = (
    ChatMessage("system", "Be brief."),
    ChatMessage("user", SUM.prompt),
    ChatMessage("assistant", SUM.answer, thinking="SECRET earlier reasoning " * 20),
    ChatMessage("user", SKY.prompt),
)
RAW_TAGS = (
    *HISTORY[:2],
    ChatMessage("assistant", "<think>\nSECRET\n</think>\n\n2+2 = 4."),
    HISTORY[3],
)


@pytest.mark.asyncio
async def test_multi_turn_prompts_never_carry_earlier_thinking(
    release: TransformersBackend,
) -> None:
    expected = (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        f"<|im_start|>user\n{SUM.prompt}<|im_end|>\n"
        f"<|im_start|>assistant\n{SUM.answer}<|im_end|>\n"
        f"<|im_start|>user\n{SKY.prompt}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    for messages in (HISTORY, RAW_TAGS):  # raw tags left in an old answer are stripped too
        assert release.render_prompt(ChatRequest(messages)) == expected
        assert release.render_prompt(ChatRequest(messages, thinking=True)) == expected
        off = release.render_prompt(ChatRequest(messages, thinking=False))
        assert off == expected + "<think>\n\n</think>\n\n"
    request = ChatRequest(HISTORY, thinking=False, sampling=GREEDY)
    events = await collect(release, request)
    assert text(events, AnswerDelta) == SKY.answer
    assert usage(events).prompt_tokens == release.count_prompt_tokens(request)


@pytest.mark.asyncio
async def test_template_in_chat_template_jinja_works_the_same(
    tiny_qwen3_release_path: Path, tmp_path: Path
) -> None:
    """Newer Hugging Face uploads keep the template in chat_template.jinja instead."""
    folder = tmp_path / "jinja-layout"
    folder.mkdir()
    for item in tiny_qwen3_release_path.iterdir():
        (folder / item.name).symlink_to(item)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    template = config.pop("chat_template")
    config_file.unlink()
    config_file.write_text(json.dumps(config))
    (folder / "chat_template.jinja").write_text(template)
    backend = TransformersBackend(device="cpu")
    await backend.load(ModelSpec(name="jinja", path=folder))
    assert backend.capabilities.thinking_kind is ThinkingKind.HYBRID
    events = await collect(backend, ask(SKY))
    assert (text(events, ThinkingDelta), text(events, AnswerDelta)) == (SKY.thinking, SKY.answer)
    await backend.unload()


# -- Qwen3-…-Thinking-2507 and Qwen3-…-Instruct-2507 ---------------------------------------------


@pytest.mark.asyncio
async def test_thinking_2507_output_is_parsed_with_the_template_opened_block(
    thinking_2507: TransformersBackend,
) -> None:
    caps = thinking_2507.capabilities
    assert caps.thinking_kind is ThinkingKind.THINKING_ONLY
    assert not caps.thinking_switch
    assert caps.context_window_tokens == 262_144
    request = ask(SKY, thinking=False)  # ignored: this model always thinks
    prompt = thinking_2507.render_prompt(request)
    assert prompt == f"<|im_start|>user\n{SKY.prompt}<|im_end|>\n<|im_start|>assistant\n<think>\n"
    events = await collect(thinking_2507, request)
    assert (text(events, ThinkingDelta), text(events, AnswerDelta)) == (SKY.thinking, SKY.answer)
    assert not any(isinstance(e, (ThinkingReclassified, StreamError)) for e in events)
    done = usage(events)
    assert done.finish_reason == "stop"
    assert done.thinking_tokens == token_count(thinking_2507, f"{SKY.thinking}\n</think>")
    assert done.generated_tokens == token_count(
        thinking_2507, f"{SKY.thinking}\n</think>\n\n{SKY.answer}<|im_end|>"
    )
    for messages in (HISTORY, RAW_TAGS):
        assert "SECRET" not in thinking_2507.render_prompt(ChatRequest(messages))


@pytest.mark.asyncio
async def test_instruct_2507_has_no_thinking_switch_and_no_think_prompt(
    instruct_2507: TransformersBackend, tiny_qwen3_instruct_2507_path: Path
) -> None:
    assert (tiny_qwen3_instruct_2507_path / "chat_template.jinja").is_file()
    caps = instruct_2507.capabilities
    assert caps.thinking_kind is ThinkingKind.INSTRUCT_ONLY
    assert not caps.thinking_switch
    for thinking in (None, True, False):
        prompt = instruct_2507.render_prompt(ask(SUM, thinking=thinking))
        assert prompt == f"<|im_start|>user\n{SUM.prompt}<|im_end|>\n<|im_start|>assistant\n"
    # No reasoning handling in this template: the engine sends only the answer of earlier turns.
    assert "SECRET" not in instruct_2507.render_prompt(ChatRequest(HISTORY))
    # The shared (hybrid) weights still write a think block: it is parsed, not shown as answer.
    events = await collect(instruct_2507, ask(SUM))
    assert (text(events, ThinkingDelta), text(events, AnswerDelta)) == (SUM.thinking, SUM.answer)
    assert usage(events).finish_reason == "stop"


@pytest.mark.asyncio
async def test_a_think_tag_typed_by_the_user_opens_no_thinking_block(
    release: TransformersBackend,
    thinking_2507: TransformersBackend,
    instruct_2507: TransformersBackend,
) -> None:
    """Only the template's generation prompt may open ``<think>``, never the conversation."""
    request = ChatRequest((ChatMessage("user", "Is <think> a tag?"),), sampling=GREEDY)
    for backend, opens in ((release, False), (instruct_2507, False), (thinking_2507, True)):
        assert backend._state is not None
        assert backend._prepare(backend._state, request)[0] is opens
    for backend in (release, instruct_2507):
        events = await collect(backend, request)
        shown = text(events, ThinkingDelta) + text(events, AnswerDelta)
        assert shown and "<think>" not in shown  # the model's own tag was parsed, not shown
        assert not usage(events).thinking_incomplete


# -- output ids the tokenizer does not know -------------------------------------------------------


@pytest.fixture(scope="module")
def random_release(tiny_qwen3_release_random_path: Path) -> Iterator[TransformersBackend]:
    yield from _shared(tiny_qwen3_release_random_path)


@pytest.mark.asyncio
@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 1.0, "seed": 5}])
async def test_ids_without_a_token_are_never_generated(
    random_release: TransformersBackend,
    monkeypatch: pytest.MonkeyPatch,
    sampling: dict[str, Any],
) -> None:
    """151,936 output rows, ~400 tokens: unmasked, nearly every id would decode to nothing."""
    state = random_release._state
    assert state is not None
    assert state.model.config.vocab_size == QWEN3_VOCAB_SIZE
    assert state.token_limit == len(state.tokenizer)
    seen: list[int] = []
    original = transformers_runtime.generate

    def recording(model: Any, prompt_ids: list[int], *, streamer: Any, **kwargs: Any) -> None:
        class Recorder:
            def put(self, value: Any) -> None:
                seen.extend(value.reshape(-1).tolist())
                streamer.put(value)

            def end(self) -> None:
                streamer.end()

        original(model, prompt_ids, streamer=Recorder(), **kwargs)

    monkeypatch.setattr(transformers_runtime, "generate", recording)
    request = ask(SUM, max_new_tokens=12, **sampling)
    prompt_tokens = random_release.count_prompt_tokens(request)
    events = await collect(random_release, request)
    assert not any(isinstance(e, StreamError) for e in events)
    generated = seen[prompt_tokens:]
    assert len(generated) == usage(events).generated_tokens > 0
    assert max(generated) < len(state.tokenizer)
    if sampling["temperature"]:
        assert text(events, ThinkingDelta) + text(events, AnswerDelta)  # visible text


# -- the command line, in a subprocess as a user runs it -------------------------------------------


def start_cli(*argv: str) -> subprocess.Popen[str]:
    """``python -m qwen_desktop chat …`` (on the CPU, so greedy output is exactly reproducible)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "qwen_desktop", "chat", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    """Wait for a CLI run; its exit status must be 0 and its stdout one JSON object."""
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # pragma: no cover - only when it hangs
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_cli_json_on_the_release_checkpoint(tiny_qwen3_release_path: Path) -> None:
    """Greedy, and with default sampling (Qwen's 0.6 / 0.95 / 20): both end promptly."""
    model = str(tiny_qwen3_release_path)
    greedy = start_cli("--model", model, GERMAN.prompt, "--json", "--temperature", "0")
    sampled = start_cli("--model", model, SUM.prompt, "--json", "--seed", "3")  # both at once

    result = finish(greedy)
    assert (result["thinking"], result["answer"]) == (GERMAN.thinking, GERMAN.answer)
    assert result["prompt_tokens"] > 0
    assert result["generated_tokens"] > result["thinking_tokens"] > 0
    assert result["ttft_seconds"] >= 0 and result["tokens_per_second"] > 0
    assert (result["finish_reason"], result["error"]) == ("stop", None)

    result = finish(sampled)
    assert (result["finish_reason"], result["error"]) == ("stop", None)
    assert result["generated_tokens"] < 100
    assert result["answer"]


def test_cli_on_random_weights_with_a_padded_vocabulary(
    tiny_qwen3_release_random_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["chat", "--model", str(tiny_qwen3_release_random_path), "hi", "--json"]
    assert cli.run([*argv, "--max-tokens", "12", "--seed", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["generated_tokens"], result["finish_reason"]) == (12, "length")
    assert result["thinking"] + result["answer"]  # real tokens, not 12 ids that print nothing
