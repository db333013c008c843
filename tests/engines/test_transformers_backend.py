"""TransformersBackend pieces that need no model: device choice, template kinds, light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwen_desktop.core.errors import CheckpointError, NoModelLoadedError
from qwen_desktop.core.types import (
    BackendCapabilities,
    ChatMessage,
    ChatRequest,
    ThinkingKind,
)
from qwen_desktop.engines.base import ChatBackend, ModelSpec
from qwen_desktop.engines.transformers_backend import TransformersBackend
from qwen_desktop.engines.transformers_loading import (
    choose_device_and_dtype,
    detect_thinking_kind,
)

GIB = 1024**3


def test_importing_the_backend_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import qwen_desktop.engines.transformers_backend\n"
        "import qwen_desktop.engines.transformers_loading\n"
        "heavy = {'torch', 'transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_it_is_a_chat_backend() -> None:
    backend = TransformersBackend()
    assert isinstance(backend, ChatBackend)
    assert backend.loaded is None
    assert backend.capabilities == BackendCapabilities()


@pytest.mark.parametrize(
    ("facts", "parameters", "ram", "expected"),
    [
        ((True, True, False), 8 * 10**9, 16 * GIB, ("cuda", "bfloat16")),
        ((True, False, False), 8 * 10**9, 16 * GIB, ("cuda", "float16")),
        ((False, False, True), 8 * 10**9, 16 * GIB, ("mps", "float16")),
        ((False, False, False), 600 * 10**6, 16 * GIB, ("cpu", "float32")),  # 2.4 GB < 6.4 GiB
        ((False, False, False), 4 * 10**9, 16 * GIB, ("cpu", "bfloat16")),  # 16 GB > 6.4 GiB
        ((False, False, False), None, 16 * GIB, ("cpu", "bfloat16")),
    ],
)
def test_device_and_dtype(
    facts: tuple[bool, bool, bool], parameters: int | None, ram: int, expected: tuple[str, str]
) -> None:
    cuda, cuda_bf16, mps = facts
    chosen = choose_device_and_dtype(
        cuda=cuda, cuda_bf16=cuda_bf16, mps=mps, parameters=parameters, available_ram_bytes=ram
    )
    assert chosen == expected


def test_thinking_kind_from_what_the_template_renders() -> None:
    base = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    hybrid = {True: base, False: base + "<think>\n\n</think>\n\n"}
    assert detect_thinking_kind(hybrid.__getitem__) is ThinkingKind.HYBRID
    assert detect_thinking_kind(lambda _: base + "<think>\n") is ThinkingKind.THINKING_ONLY
    assert detect_thinking_kind(lambda _: base) is ThinkingKind.INSTRUCT_ONLY


@pytest.mark.asyncio
async def test_stream_without_a_model_raises() -> None:
    backend = TransformersBackend()
    request = ChatRequest((ChatMessage("user", "Hi"),))
    with pytest.raises(NoModelLoadedError):
        async for _ in backend.stream_chat(request):
            pass
    with pytest.raises(NoModelLoadedError):
        backend.render_prompt(request)


@pytest.mark.asyncio
async def test_load_needs_a_folder() -> None:
    with pytest.raises(CheckpointError, match="no folder was given"):
        await TransformersBackend().load(ModelSpec(name="qwen3:0.6b"))


@pytest.mark.asyncio
async def test_load_refuses_a_broken_folder_before_loading(tmp_path: Path) -> None:
    backend = TransformersBackend()
    with pytest.raises(CheckpointError, match=r"has no config\.json"):
        await backend.load(ModelSpec(name="x", path=tmp_path))
    assert backend.loaded is None
