"""The window end to end (offscreen): scan, load a tiny Qwen3, send with Enter, see thinking."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from qwen_desktop.chat.ui.chat_view import AssistantMessage, Notice, UserMessage
from qwen_desktop.core.types import SamplingSettings
from qwen_desktop.gui import App
from tests.fixtures.polling import until
from tests.fixtures.tiny_models import TRAINING_CHATS

pytestmark = [pytest.mark.gui, pytest.mark.asyncio]

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=64)


@pytest.fixture
def window(app_window: App) -> App:
    app_window.chat.sampling = GREEDY
    return app_window


async def load(window: App, folder: Path) -> None:
    window.models.load_folder(folder)
    await until(lambda: not window.models.loading)


def type_and_press_enter(qtbot: object, window: App, text: str) -> None:
    window.chat_page.prompt.setPlainText(text)
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]


async def test_scan_fills_the_machine_panel_and_recommendations(window: App) -> None:
    window.hardware.scan()
    await until(lambda: window.machine_panel.recommendations.count() > 0)
    form = window.machine_panel.hardware_form
    labels = [
        form.itemAt(i).widget().text() for i in range(form.count()) if form.itemAt(i).widget()
    ]
    assert "CPU" in labels and "Memory" in labels and "GPU" in labels
    assert any("No GPU found" in text for text in labels)  # this machine has no GPU
    first = window.machine_panel.recommendations.item(0)
    assert first.toolTip()  # the reason in plain words
    window.machine_panel.task_combo.setCurrentIndex(2)  # math
    await until(
        lambda: (
            "Math"
            in window.machine_panel.recommendations.item(0).data(Qt.ItemDataRole.AccessibleTextRole)
        )
    )


async def test_prompt_streams_thinking_and_answer(
    window: App, tiny_qwen3_path: Path, qtbot: object
) -> None:
    await load(window, tiny_qwen3_path)
    assert window.chat_page.think_switch.isEnabled()  # hybrid model
    chat = TRAINING_CHATS[0]
    type_and_press_enter(qtbot, window, chat.prompt)
    await until(lambda: window.chat.last_record is not None and not window.chat.busy)
    answer = window.chat_page.chat_view.current
    assert isinstance(answer, AssistantMessage)
    assert answer.thinking.isVisible()
    assert answer.thinking.text == chat.thinking
    assert answer.thinking.header.text().startswith("Thought for ")
    assert answer.answer_text == chat.answer
    assert "tokens/s" in answer.stats.text()
    assert window.chat_page.prompt.toPlainText() == ""
    users = [w for w in window.chat_page.chat_view.messages() if isinstance(w, UserMessage)]
    assert users[-1].label.text() == chat.prompt


async def test_thinking_switch_off_gives_answer_without_thinking_block(
    window: App, tiny_qwen3_path: Path, qtbot: object
) -> None:
    await load(window, tiny_qwen3_path)
    window.chat_page.think_switch.setChecked(False)
    window.chat.sampling = SamplingSettings.for_mode(False, temperature=0.0)
    chat = TRAINING_CHATS[1]
    type_and_press_enter(qtbot, window, chat.prompt)
    await until(lambda: window.chat.last_record is not None and not window.chat.busy)
    answer = window.chat_page.chat_view.current
    assert answer is not None
    assert not answer.thinking.isVisible()
    assert answer.answer_text == chat.answer


async def test_thinking_only_model_disables_the_switch_with_the_reason(
    window: App, tiny_qwen3_thinking_only_path: Path
) -> None:
    await load(window, tiny_qwen3_thinking_only_path)
    assert not window.chat_page.think_switch.isEnabled()
    assert (
        window.chat_page.think_switch.isChecked()
    )  # never shows "off" while the model thinks (C5)
    assert "always thinks" in window.chat_page.think_switch.toolTip()


async def test_shift_enter_adds_a_line_and_prompt_without_model_is_kept(
    window: App, qtbot: object
) -> None:
    window.chat_page.prompt.setPlainText("first line")
    window.chat_page.prompt.moveCursor(window.chat_page.prompt.textCursor().MoveOperation.End)
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)  # type: ignore[attr-defined]
    assert window.chat_page.prompt.toPlainText() == "first line\n"
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)
    notices = [w for w in window.chat_page.chat_view.messages() if isinstance(w, Notice)]
    assert "No model is loaded" in notices[-1].text()
    assert window.chat_page.prompt.toPlainText() == "first line\n"  # nothing lost


async def test_bad_folder_reports_a_clear_error_and_the_app_stays_up(
    window: App, tmp_path: Path
) -> None:
    broken = tmp_path / "not a model ✓"
    broken.mkdir()
    (broken / "readme.txt").write_text("hello", encoding="utf-8")
    await load(window, broken)
    notices = [w for w in window.chat_page.chat_view.messages() if isinstance(w, Notice)]
    assert "Could not load the model" in notices[-1].text()
    assert "config.json" in notices[-1].text()
    assert window.chat_page.open_button.isEnabled()


async def test_escape_stops_a_long_answer_and_keeps_the_partial_text(
    window: App, tiny_qwen3_random_path: Path, qtbot: object
) -> None:
    await load(window, tiny_qwen3_random_path)
    window.chat.sampling = SamplingSettings(temperature=1.0, max_new_tokens=4000, seed=1)
    type_and_press_enter(qtbot, window, "Tell me a long story")
    await until(
        lambda: (
            window.chat.last_record is not None
            and len(window.chat.last_record.thinking + window.chat.last_record.answer) > 20
        )
    )
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Escape)  # type: ignore[attr-defined]
    await until(lambda: not window.chat.busy)
    answer = window.chat_page.chat_view.current
    assert answer is not None
    assert answer.stats.text() == "Stopped by you"
    record = window.chat.last_record
    assert record.cancelled
    assert len(record.thinking + record.answer) > 20
    assert window.chat_page.send_button.text() == "Send"
    saved = window.chat.messages()
    assert saved[-1].role == "assistant"
    assert saved[-1].status == "stopped"
    assert saved[-1].content == record.answer


async def test_closing_during_an_answer_stops_it_and_unloads_the_model(
    window: App, tiny_qwen3_random_path: Path, qtbot: object
) -> None:
    await load(window, tiny_qwen3_random_path)
    window.chat.sampling = SamplingSettings(temperature=1.0, max_new_tokens=4000, seed=2)
    type_and_press_enter(qtbot, window, "Tell me a long story")
    await until(lambda: window.chat.busy and window.chat_page.chat_view.current is not None)
    await asyncio.sleep(0.2)
    window.shell.close()
    await asyncio.wait_for(window.shutdown(), timeout=10)
    assert not window.chat.busy
    assert window.models.loaded is None
    assert window.chat.last_record is not None and window.chat.last_record.cancelled


async def test_a_folder_opened_while_another_loads_is_refused_with_a_message(
    window: App, tiny_qwen3_path: Path, tmp_path: Path
) -> None:
    failures: list[str] = []
    window.models.load_failed.connect(lambda message, _action: failures.append(message))
    window.models.load_folder(tiny_qwen3_path)
    window.models.load_folder(tmp_path / "Other model")
    assert failures == ["Other model was not opened: another model is loading."]
    await until(lambda: not window.models.loading)
    assert window.models.loaded is not None and window.models.loaded.name == tiny_qwen3_path.name
