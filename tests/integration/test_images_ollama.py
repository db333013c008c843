"""Case C11 end to end with the Ollama engine: a 3840×2160 PNG is prepared, stored, sent through
the conversation service and reaches Ollama's /api/chat as base64 of the resized image."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from qwen_desktop.chat.conversations import ConversationService
from qwen_desktop.chat.image_preparation import prepare_image_file
from qwen_desktop.core.storage import ChatStore
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.ollama_backend import OllamaBackend
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama

pytestmark = [pytest.mark.timeout(30), pytest.mark.asyncio]

VISION = FakeModel("qwen2.5vl:7b", thinking="", answer="A blue screen.", capabilities=("vision",))


async def test_c11_the_resized_image_reaches_ollama_as_base64(tmp_path: Path) -> None:
    source = tmp_path / "screenshot.png"
    Image.new("RGB", (3840, 2160), (30, 120, 200)).save(source)
    prepared = prepare_image_file(source)
    assert prepared.tokens == 1222
    with running_fake_ollama(VISION) as (fake, url), ChatStore.open(tmp_path / "data") as store:
        backend = OllamaBackend(url, request_timeout_s=5, load_timeout_s=5)
        try:
            await backend.load(ModelSpec("qwen2.5vl:7b"))
            service = ConversationService(store, backend)
            conversation = service.new_conversation(thinking=False)
            events = service.send(conversation.id, "What is this?", images=[prepared.image])
            async for _event in events:
                pass
        finally:
            await backend.aclose()
        body = fake.chat_requests()[-1]
        [sent] = body["messages"][-1]["images"]
        decoded = Image.open(io.BytesIO(base64.b64decode(sent)))
        assert decoded.format == "PNG" and decoded.size == (1316, 728)
        [stored] = store.load_messages(conversation.id)[0].images
        assert (stored.width, stored.height, stored.mime) == (1316, 728, "image/png")
        assert store.image_bytes(stored.sha256) == prepared.image.data
