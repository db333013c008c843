"""The per-chat settings panel (offscreen): sampling, thinking budget and system prompt, saved
with the conversation, shown again when it is reopened, and used by the next turn's request."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from qwen_desktop.chat.ui.chat_settings_panel import ChatSettings, ChatSettingsPanel
from qwen_desktop.core.presets import PRESETS
from qwen_desktop.core.types import SamplingSettings
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


async def ask(window: Desktop, backend: ScriptedBackend, qtbot: object, text: str) -> None:
    before = len(backend.requests)
    window.chat_page.prompt.setPlainText(text)
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    await until(lambda: len(backend.requests) > before and not window.chat.busy)


def open_panel(window: Desktop, qtbot: object) -> ChatSettingsPanel:
    qtbot.mouseClick(window.chat_page.chat_settings, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    panel = window.chat_page.chat_settings.panel
    assert panel is not None and panel.isVisible()
    return panel


def save(panel: ChatSettingsPanel) -> None:
    panel.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert not panel.isVisible()


async def loaded_window(
    window: tuple[Desktop, ScriptedBackend], tmp_path: Path
) -> tuple[Desktop, ScriptedBackend]:
    win, backend = window
    win.models.load_folder(tmp_path / "Qwen3-8B")
    await until(lambda: win.models.loaded is not None)
    return win, backend


async def test_a_temperature_is_saved_shown_again_and_used_by_the_next_turn(
    window: tuple[Desktop, ScriptedBackend], tmp_path: Path, qtbot: object
) -> None:
    win, backend = await loaded_window(window, tmp_path)
    await ask(win, backend, qtbot, "First question.")
    assert backend.requests[-1].sampling == SamplingSettings.for_mode(True)  # Qwen's default
    conversation = win.chat.current
    assert conversation is not None and conversation.sampling is None

    panel = open_panel(win, qtbot)
    assert panel.recommended.isChecked() and not panel.temperature.isEnabled()
    assert panel.temperature.value() == pytest.approx(0.6)  # thinking mode's recommendation
    panel.recommended.setChecked(False)
    panel.temperature.setValue(0.3)
    panel.max_new_tokens.setValue(2048)
    save(panel)

    stored = win.chat.store.get_conversation(conversation.id)  # type: ignore[union-attr]
    assert stored.sampling is not None
    assert (stored.sampling.temperature, stored.sampling.max_new_tokens) == (0.3, 2048)
    assert (stored.sampling.top_p, stored.sampling.top_k) == (0.95, 20)  # untouched values

    win.chat_page.new_chat()
    fresh = open_panel(win, qtbot)  # a new chat starts with the last choice
    assert fresh.temperature.value() == pytest.approx(0.3)
    fresh.reject()
    assert win.chat.open_conversation(conversation.id)
    reopened = open_panel(win, qtbot)
    assert not reopened.recommended.isChecked() and reopened.temperature.isEnabled()
    assert reopened.temperature.value() == pytest.approx(0.3)
    assert reopened.max_new_tokens.value() == 2048
    reopened.reject()

    await ask(win, backend, qtbot, "Second question.")
    sampling = backend.requests[-1].sampling
    assert (sampling.temperature, sampling.max_new_tokens) == (0.3, 2048)


async def test_going_back_to_the_recommendation_follows_the_thinking_switch(
    window: tuple[Desktop, ScriptedBackend], tmp_path: Path, qtbot: object
) -> None:
    win, backend = await loaded_window(window, tmp_path)
    await ask(win, backend, qtbot, "Hello.")
    panel = open_panel(win, qtbot)
    panel.recommended.setChecked(False)
    panel.temperature.setValue(1.1)
    save(panel)
    panel = open_panel(win, qtbot)
    panel.recommended.setChecked(True)
    assert panel.temperature.value() == pytest.approx(0.6)
    save(panel)
    assert win.chat.current is not None and win.chat.current.sampling is None

    win.chat_page.think_switch.setChecked(False)
    off = open_panel(win, qtbot)
    assert (off.temperature.value(), off.top_p.value()) == pytest.approx((0.7, 0.8))
    assert "does not think" in off.budget_note.text()
    off.reject()
    await ask(win, backend, qtbot, "No thinking now.")
    assert backend.requests[-1].sampling == SamplingSettings.for_mode(False)


async def test_thinking_budget_and_system_prompt_are_saved_per_conversation(
    window: tuple[Desktop, ScriptedBackend], tmp_path: Path, qtbot: object
) -> None:
    win, backend = await loaded_window(window, tmp_path)
    await ask(win, backend, qtbot, "One.")
    first = win.chat.current
    assert first is not None
    panel = open_panel(win, qtbot)
    assert not panel.limit_thinking.isChecked() and not panel.budget.isEnabled()
    panel.limit_thinking.setChecked(True)
    panel.budget.setValue(512)
    combo = panel.system_prompts.combo
    index = combo.findText(CODER.name)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    save(panel)

    stored = win.chat.store.get_conversation(first.id)  # type: ignore[union-attr]
    assert (stored.thinking_budget_tokens, stored.system_prompt) == (512, CODER.text)
    assert (
        win.chat_page.system_prompts.combo.currentText() == CODER.name
    )  # the window's picker follows
    await ask(win, backend, qtbot, "Two.")
    assert backend.requests[-1].messages[0].content == CODER.text
    assert backend.requests[-1].thinking_budget_tokens == 512  # the engine gets the budget

    win.chat_page.new_chat()
    await ask(win, backend, qtbot, "Another chat.")
    second = win.chat.current
    assert second is not None and second.id != first.id
    assert second.thinking_budget_tokens == 512  # new chats start with the last choice
    panel = open_panel(win, qtbot)
    panel.limit_thinking.setChecked(False)
    save(panel)
    assert win.chat.store.get_conversation(second.id).thinking_budget_tokens is None  # type: ignore[union-attr]
    assert win.chat.store.get_conversation(first.id).thinking_budget_tokens == 512  # type: ignore[union-attr]


async def test_the_panel_keeps_values_it_does_not_show(qapp: QApplication) -> None:
    custom = SamplingSettings(temperature=0.9, min_p=0.05, seed=7, max_new_tokens=100)
    panel = ChatSettingsPanel(ChatSettings(custom, None, ""), thinking=True)
    panel.top_k.setValue(0)
    settings = panel.settings()
    assert settings.sampling == SamplingSettings(
        temperature=0.9, top_p=0.95, top_k=0, min_p=0.05, max_new_tokens=100, seed=7
    )
    assert panel.top_k.text() == "off"
    panel.deleteLater()
