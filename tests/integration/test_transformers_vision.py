"""Images through the Transformers engine on a tiny real-format Qwen2.5-VL checkpoint (CPU).

The tiny model has random weights (its answers are noise and it never ends by itself), so these
tests check what reaches the model: the prompt's visual tokens, the image tensors, the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwen_desktop.chat.image_preparation import prepare_image
from qwen_desktop.core.errors import GenerationError
from qwen_desktop.core.images import image_tokens, token_cost
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    SamplingSettings,
    StreamEvent,
    Usage,
)
from qwen_desktop.engines import transformers_runtime
from qwen_desktop.engines.checkpoint import inspect_checkpoint
from qwen_desktop.engines.transformers_backend import TransformersBackend, open_model_folder

pytestmark = pytest.mark.slow

GREEDY = SamplingSettings(temperature=0, max_new_tokens=6)
IMAGE_PAD = "<|image_pad|>"


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def ask(text: str, *images: bytes, max_new_tokens: int = 6) -> ChatRequest:
    sampling = SamplingSettings(temperature=0, max_new_tokens=max_new_tokens)
    return ChatRequest((ChatMessage("user", text, images=images),), sampling=sampling)


async def _loaded(path: Path, name: str) -> TransformersBackend:
    backend = TransformersBackend(device="cpu")
    await backend.load(open_model_folder(path, name))
    return backend


@pytest.fixture(scope="module")
def vl_backend(tiny_qwen25_vl_path: Path) -> Iterator[TransformersBackend]:
    """One loaded backend for the module (it keeps no event-loop state between streams)."""
    backend = asyncio.run(_loaded(tiny_qwen25_vl_path, "Tiny-Qwen2.5-VL"))
    yield backend
    asyncio.run(backend.unload())


def test_the_checkpoint_check_accepts_the_vl_architecture(tiny_qwen25_vl_path: Path) -> None:
    info = inspect_checkpoint(tiny_qwen25_vl_path)
    assert info.architecture == "Qwen2_5_VLForConditionalGeneration"
    assert info.model_type == "qwen2_5_vl"
    assert info.has_vision


@pytest.mark.asyncio
async def test_a_vision_checkpoint_reports_that_it_can_see(vl_backend: TransformersBackend) -> None:
    assert vl_backend.capabilities.vision
    assert vl_backend.loaded is not None and vl_backend.loaded.capabilities.vision


@pytest.mark.asyncio
async def test_the_prompt_holds_one_image_pad_token_per_visual_token_of_the_resized_image(
    vl_backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = prepare_image(png(1000, 700), name="photo.png")  # resized to the pixel budget
    assert (prepared.width, prepared.height) == (1008, 700)  # multiples of 28 (smart_resize)
    expected = token_cost(prepared.width, prepared.height)
    assert expected == image_tokens(1000, 700) == 36 * 25

    seen: dict[str, Any] = {}
    real_generate = transformers_runtime.generate

    def spy(model: Any, prompt_ids: list[int], **kwargs: Any) -> None:
        seen["prompt_ids"], seen["vision"] = prompt_ids, kwargs["vision"]
        real_generate(model, prompt_ids, **kwargs)

    monkeypatch.setattr(transformers_runtime, "generate", spy)
    request = ask("What is in this picture?", prepared.image.data)
    events = [e async for e in vl_backend.stream_chat(request)]

    pad_id = vl_backend._require_state().tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    assert seen["prompt_ids"].count(pad_id) == expected
    assert vl_backend.count_prompt_tokens(request) == len(seen["prompt_ids"])
    vision = seen["vision"]
    assert vision.tokens_per_image == (expected,)
    assert vision.image_grid_thw.tolist() == [[1, 700 // 14, 1008 // 14]]
    assert vision.pixel_values.shape[0] == expected * 4  # 2×2 patches merge into one token
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.prompt_tokens == len(seen["prompt_ids"])
    assert "<|vision_start|>" in vl_backend.render_prompt(request)


@pytest.mark.asyncio
async def test_generation_with_an_image_streams_answer_tokens(
    vl_backend: TransformersBackend,
) -> None:
    request = ask("Describe it.", png(300, 200), max_new_tokens=8)
    events: list[StreamEvent] = [e async for e in vl_backend.stream_chat(request)]
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert usage.generated_tokens == 8 and usage.finish_reason == "length"
    deltas = [e for e in events if isinstance(e, AnswerDelta)]
    assert len(deltas) >= 2  # streamed piece by piece, not in one block at the end


@pytest.mark.asyncio
async def test_images_in_two_turns_each_get_their_tokens(vl_backend: TransformersBackend) -> None:
    first, second = png(280, 280), png(560, 280, (10, 10, 200))
    request = ChatRequest(
        (
            ChatMessage("user", "One.", images=(first,)),
            ChatMessage("assistant", "Seen."),
            ChatMessage("user", "Two.", images=(second,)),
        ),
        sampling=GREEDY,
    )
    state = vl_backend._require_state()
    _, ids, vision = TransformersBackend._prepare(state, request)
    assert vision.tokens_per_image == (100, 200)
    assert ids.count(state.tokenizer.convert_tokens_to_ids(IMAGE_PAD)) == 300


@pytest.mark.asyncio
async def test_stop_ends_a_generation_with_an_image(vl_backend: TransformersBackend) -> None:
    request = ask("Go on.", png(280, 280), max_new_tokens=100_000)
    received = asyncio.Event()

    async def consume() -> None:
        async for event in vl_backend.stream_chat(request):
            if isinstance(event, AnswerDelta):
                received.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(received.wait(), timeout=30)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
    job = vl_backend.last_job
    assert job is not None and not job.running
    assert job.tokens_at_stop is not None and job.tokens_generated <= job.tokens_at_stop + 1


@pytest.mark.asyncio
async def test_a_broken_image_is_refused_with_the_reason(vl_backend: TransformersBackend) -> None:
    with pytest.raises(GenerationError, match="could not be read: image 1 cannot be decoded"):
        async for _ in vl_backend.stream_chat(ask("This?", b"not an image at all")):
            pass


@pytest.mark.asyncio
async def test_a_text_only_checkpoint_refuses_images_with_a_clear_message(
    tiny_qwen3_random_path: Path,
) -> None:
    backend = await _loaded(tiny_qwen3_random_path, "Tiny-Qwen3")
    try:
        assert not backend.capabilities.vision
        with pytest.raises(GenerationError, match="Tiny-Qwen3 cannot see images") as caught:
            async for _ in backend.stream_chat(ask("What is this?", png(56, 56))):
                pass
        assert "load a vision model" in caught.value.action
        assert backend.last_job is None  # refused before anything ran
    finally:
        await backend.unload()


@pytest.mark.asyncio
async def test_a_vl_checkpoint_without_its_image_processor_says_why_it_cannot_see(
    tiny_qwen25_vl_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "no-preprocessor"
    copy.mkdir()
    for file in tiny_qwen25_vl_path.iterdir():
        if file.name != "preprocessor_config.json":
            (copy / file.name).symlink_to(file)
    backend = await _loaded(copy, "Half-VL")
    try:
        assert not backend.capabilities.vision
        with pytest.raises(GenerationError, match=r"no preprocessor_config\.json"):
            async for _ in backend.stream_chat(ask("This?", png(56, 56))):
                pass
    finally:
        await backend.unload()
