"""Images in the chat window (offscreen): attach, drop, paste, thumbnails with remove, the
visual-token cost (case C11), refusals, and the vision model offered for a text-only model."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from qwen_desktop.chat.ui.chat_view import UserMessage
from qwen_desktop.chat.ui.conversation_controller import ConversationController, open_store
from qwen_desktop.chat.ui.image_attachments import vision_offer
from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.types import AnswerDelta, BackendCapabilities, Usage
from qwen_desktop.engines.ui.model_controller import ModelController
from qwen_desktop.gui import Desktop, compose
from qwen_desktop.hardware.ui.hardware_controller import HardwareController
from tests.fixtures.polling import until
from tests.fixtures.scripted_backend import ScriptedBackend
from tests.fixtures.windows import Windows

pytestmark = [pytest.mark.gui, pytest.mark.asyncio]

SCRIPT = (AnswerDelta("A blue square."), Usage(40, 4, 0.01, 100.0, 0.05))


@dataclass
class SeeingBackend(ScriptedBackend):
    """The scripted engine, reporting whether its model sees images."""

    vision: bool = True

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            vision=self.vision, thinking_kind=self.kind, context_window_tokens=32768
        )


async def open_window(
    windows: Windows, tmp_path: Path, *, vision: bool, folder: str = "Qwen2.5-VL-7B"
) -> tuple[Desktop, SeeingBackend]:
    backend = SeeingBackend(script=SCRIPT, vision=vision)
    store, error = open_store(tmp_path / "data")
    chat = ConversationController(backend, store, store_error=error)
    window = compose(chat, ModelController(backend), HardwareController(tmp_path / "models"))
    window.shell.resize(1100, 720)
    window.shell.show()
    windows.keep(window)
    window.models.load_folder(tmp_path / folder)
    await until(lambda: window.models.loaded is not None)
    return window, backend


def png_file(tmp_path: Path, size: tuple[int, int], name: str = "screenshot.png") -> Path:
    path = tmp_path / name
    Image.new("RGB", size, (40, 90, 220)).save(path)
    return path


def dropped_files(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    return mime


def drop_onto(target: QWidget, mime: QMimeData) -> None:
    """A drag entering ``target`` and a drop, as the window system delivers them."""
    where = QPointF(target.rect().center())
    action, button = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton
    modifiers = Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(where.toPoint(), action, mime, button, modifiers)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(where, action, mime, button, modifiers))


async def test_c11_a_dropped_4k_png_shows_its_cost_and_reaches_the_engine_resized(
    windows: Windows, tmp_path: Path, qtbot: object
) -> None:
    window, backend = await open_window(windows, tmp_path, vision=True)
    mime = dropped_files(png_file(tmp_path, (3840, 2160)))
    assert window.chat_page.prompt.canInsertFromMimeData(mime)
    drop_onto(window.chat_page.prompt.viewport(), mime)
    strip = window.chat_page.attachments
    await until(lambda: len(strip.images) == 1)
    assert window.chat_page.prompt.toPlainText() == ""  # the path is not typed into the prompt
    assert strip.isVisible()
    [thumbnail] = strip.thumbnails()
    assert "3840×2160 → 1316×728 px, 1,222 visual tokens" in thumbnail.toolTip()
    assert thumbnail.cost.text() == "1,222 tok"
    assert strip.summary.text() == "1 image: 1,222 visual tokens (1 resized to the pixel budget)"
    window.chat_page.prompt.setPlainText("What is this?")
    window.shell.grab().save(str(tmp_path / "prompt_with_image.png"))
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    await until(lambda: bool(backend.requests) and not window.chat.busy)
    sent = backend.requests[-1].messages[-1]
    assert sent.content == "What is this?" and len(sent.images) == 1
    assert Image.open(io.BytesIO(sent.images[0])).size == (1316, 728)
    assert not strip.images and not strip.isVisible()  # cleared once sent
    users = [w for w in window.chat_page.chat_view.messages() if isinstance(w, UserMessage)]
    assert users[-1].images_label.text() == "1 image (1316×728 px) · 1,222 visual tokens"
    stored = window.chat.messages()[0]
    assert [(i.width, i.height) for i in stored.images] == [(1316, 728)]
    [picture] = users[-1].pictures  # the sent image, read back from the history by hash
    assert (picture.pixmap().width(), picture.pixmap().height()) == (96, 53)
    window.chat_page.new_chat()
    assert window.chat.current is None
    window.chat.open_conversation(stored.conversation_id)
    users = [w for w in window.chat_page.chat_view.messages() if isinstance(w, UserMessage)]
    assert users[0].pictures[0].pixmap().width() == 96  # shown again when the chat reopens
    await until(lambda: users[0].isVisible() and users[0].height() > 96)  # laid out
    window.shell.grab().save(str(tmp_path / "sent_with_image.png"))

    # A second image on the next draft counts in the context meter with its visual tokens.
    window.chat_page.prompt.insertFromMimeData(
        dropped_files(png_file(tmp_path, (3840, 2160), "b.png"))
    )
    await until(lambda: len(strip.images) == 1)
    without = window.chat.context_reading(None)
    with_image = window.chat.context_reading(None, draft_images=strip.inputs())
    assert without is not None and with_image is not None
    assert with_image.prompt_tokens - without.prompt_tokens >= 1222


async def test_pasted_image_data_attaches_and_the_remove_button_detaches(
    windows: Windows, tmp_path: Path
) -> None:
    window, backend = await open_window(windows, tmp_path, vision=True)
    image = QImage(100, 60, QImage.Format.Format_RGB32)
    image.fill(QColor("orange"))
    QApplication.clipboard().setImage(image)
    window.chat_page.prompt.paste()  # Ctrl+V
    strip = window.chat_page.attachments
    await until(lambda: len(strip.images) == 1)
    assert strip.images[0].name == "pasted image"
    assert (strip.images[0].width, strip.images[0].height) == (112, 56)
    strip.thumbnails()[0].remove_button.click()
    assert strip.images == [] and strip.thumbnails() == [] and not strip.isVisible()

    window.chat_page.prompt.paste()  # an image alone is a message too
    await until(lambda: len(strip.images) == 1)
    window.chat_page.send_prompt()
    await until(lambda: bool(backend.requests) and not window.chat.busy)
    sent = backend.requests[-1].messages[-1]
    assert sent.content == "" and len(sent.images) == 1
    assert window.chat.current is not None and window.chat.current.title == "Image"


async def test_the_attach_button_opens_a_dialog_for_images(
    windows: Windows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window, _backend = await open_window(windows, tmp_path, vision=True)
    path = png_file(tmp_path, (640, 480), "photo.png")
    asked: list[str] = []

    def fake_dialog(*args: object) -> tuple[list[str], str]:
        asked.append(str(args[-1]))
        return [str(path)], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", fake_dialog)
    window.chat_page.attachments.attach_button.click()
    await until(lambda: len(window.chat_page.attachments.images) == 1)
    assert "*.webp" in asked[0] and "*.gif" in asked[0]
    assert window.chat_page.attachments.images[0].tokens == 23 * 17  # 644×476


async def test_broken_and_non_image_files_are_refused_with_a_notice(
    windows: Windows, tmp_path: Path
) -> None:
    window, _backend = await open_window(windows, tmp_path, vision=True)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    broken = tmp_path / "broken.png"
    broken.write_bytes(png_file(tmp_path, (300, 300)).read_bytes()[:150])
    window.chat_page.prompt.insertFromMimeData(dropped_files(text, broken))
    await until(lambda: window.chat_page.attachments.pending == 0)
    errors = [
        w.text() for w in window.chat_page.chat_view.messages() if w.objectName() == "noticeError"
    ]
    assert any("notes.txt is not a PNG, JPEG, WebP or GIF image" in e for e in errors)
    assert any("broken.png" in e and "damaged" in e for e in errors)
    assert window.chat_page.attachments.images == []


async def test_a_text_only_model_offers_its_vision_sibling_and_refuses_to_send_images(
    windows: Windows, tmp_path: Path, qtbot: object
) -> None:
    window, backend = await open_window(windows, tmp_path, vision=False, folder="Qwen3-8B")
    window.chat_page.prompt.insertFromMimeData(dropped_files(png_file(tmp_path, (200, 200))))
    await until(lambda: window.chat_page.vision_notice is not None)
    notice = window.chat_page.vision_notice
    assert notice is not None
    assert "Qwen3-8B cannot see images" in notice.text()
    assert "its vision sibling Qwen3.5" in notice.text()
    notice.linkActivated.emit("qwen3.5-9b")
    assert window.shell.tabs.currentWidget() is window.models_page
    assert window.models_page.current_variant() is not None
    assert window.models_page.current_variant().id == "qwen3.5-9b"  # type: ignore[union-attr]
    window.shell.show_page(window.chat_page)
    window.chat_page.prompt.setPlainText("What is this?")
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    errors = [
        w.text() for w in window.chat_page.chat_view.messages() if w.objectName() == "noticeError"
    ]
    assert any("cannot see images" in e and "Remove the images" in e for e in errors)
    assert backend.requests == []  # nothing was sent, nothing dropped silently
    assert (
        window.chat_page.prompt.toPlainText() == "What is this?"
        and len(window.chat_page.attachments.images) == 1
    )


async def test_the_offer_names_the_engine_when_the_model_itself_is_a_vision_model(
    qapp: QApplication, tmp_path: Path
) -> None:
    catalog = load_catalog()
    text, variant_id = vision_offer(catalog, "Qwen2.5-VL-3B", tmp_path / "Qwen2.5-VL-3B-Instruct")
    assert "is a vision model" in text and "Ollama" in text and variant_id == ""
    text, variant_id = vision_offer(catalog, "my-model", tmp_path / "my-model")
    assert "cannot see images" in text and "a vision model" in text
    assert variant_id == "qwen3.5-0.8b"  # unknown model: the smallest vision model


async def test_regenerating_or_resending_images_to_a_model_that_cannot_see_is_refused(
    windows: Windows, tmp_path: Path
) -> None:
    window, backend = await open_window(windows, tmp_path, vision=True)
    window.chat_page.prompt.insertFromMimeData(dropped_files(png_file(tmp_path, (300, 200))))
    await until(lambda: len(window.chat_page.attachments.images) == 1)
    window.chat_page.prompt.setPlainText("What is this?")
    window.chat_page.send_prompt()
    await until(lambda: len(backend.requests) == 1 and not window.chat.busy)
    backend.vision = False  # e.g. another model was loaded on the same engine
    refusals: list[str] = []
    window.chat.send_refused.connect(lambda message, _action: refusals.append(message))
    assert not window.chat.regenerate(thinking=False)
    question = window.chat.messages()[0]
    assert not window.chat.edit_and_resend(question.id, "And now?", thinking=False)
    assert len(refusals) == 2 and all("cannot see images" in r for r in refusals)
    assert len(backend.requests) == 1
    backend.vision = True
    assert window.chat.regenerate(thinking=False)
    await until(lambda: len(backend.requests) == 2 and not window.chat.busy)
    assert len(backend.requests[-1].messages[-1].images) == 1  # the same image, sent again
