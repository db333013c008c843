"""System-prompt presets in the window (offscreen): chosen before or during a chat, custom
prompts, stored per conversation and sent first."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from qwen_desktop.core.presets import PRESETS
from qwen_desktop.gui import Desktop
from tests.fixtures.polling import until
from tests.fixtures.scripted_backend import ScriptedBackend

pytestmark = [pytest.mark.gui, pytest.mark.asyncio]

CODER = next(p for p in PRESETS if p.name == "Coding assistant")


@pytest.fixture
def window(
    scripted_window: tuple[Desktop, ScriptedBackend],
) -> tuple[Desktop, ScriptedBackend]:
    return scripted_window


def choose(window: Desktop, name: str) -> None:
    combo = window.chat_page.system_prompts.combo
    index = combo.findText(name)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


async def ask(window: Desktop, backend: ScriptedBackend, qtbot: object, text: str) -> None:
    before = len(backend.requests)
    window.chat_page.prompt.setPlainText(text)
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    await until(lambda: len(backend.requests) > before and not window.chat.busy)


async def test_a_preset_chosen_before_the_first_message_is_stored_and_sent_first(
    window: tuple[Desktop, ScriptedBackend], tmp_path: Path, qtbot: object
) -> None:
    win, backend = window
    win.models.load_folder(tmp_path / "Qwen3-8B")
    await until(lambda: win.models.loaded is not None)
    choose(win, "Coding assistant")
    await ask(win, backend, qtbot, "Write a loop.")
    first = backend.requests[-1].messages[0]
    assert (first.role, first.content) == ("system", CODER.text)
    assert win.chat.current is not None and win.chat.current.system_prompt == CODER.text

    # A custom prompt replaces it for the next turns of this chat; cancelling changes nothing.
    win.chat_page.system_prompts.ask_text = lambda _parent, _text: None
    choose(win, "Custom…")
    assert win.chat_page.system_prompts.combo.currentText() == "Coding assistant"
    win.chat_page.system_prompts.ask_text = lambda _parent, _text: "  Reply in French.  "
    choose(win, "Custom…")
    assert win.chat_page.system_prompts.combo.currentText() == "Custom…"
    assert "Reply in French." in win.chat_page.system_prompts.combo.toolTip()
    await ask(win, backend, qtbot, "Another one.")
    assert backend.requests[-1].messages[0].content == "Reply in French."

    # A new chat starts with the last choice; an older chat shows its own prompt again.
    win.chat_page.new_chat()
    choose(win, "None")
    await ask(win, backend, qtbot, "Hello")
    assert backend.requests[-1].messages[0].role == "user"  # no system message at all
    older = [c for c in win.chat.conversations() if c.system_prompt == "Reply in French."]
    assert len(older) == 1
    win.chat.open_conversation(older[0].id)
    assert win.chat_page.system_prompts.combo.currentText() == "Custom…"
    win.chat_page.new_chat()
    assert win.chat_page.system_prompts.combo.currentText() == "None"
