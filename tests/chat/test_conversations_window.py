"""Stored conversations in the window (offscreen): persist, switch, rename, delete, search,
regenerate, edit and resend, the context meter, a damaged history."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog

from qwen_desktop.chat.ui.chat_view import AssistantMessage, Notice, UserMessage
from qwen_desktop.chat.ui.conversation_model import ID_ROLE
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.storage import DB_FILE_NAME, MessageRecord
from qwen_desktop.core.types import SamplingSettings
from qwen_desktop.gui import App, build_window
from tests.fixtures.polling import until
from tests.fixtures.tiny_models import TRAINING_CHATS
from tests.fixtures.windows import Windows

pytestmark = [pytest.mark.gui, pytest.mark.asyncio]

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=64)


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    return AppPaths(data_dir=tmp_path / "data", config_dir=tmp_path, models_dir=tmp_path / "m")


def open_window(windows: Windows, paths: AppPaths) -> App:
    window = build_window(paths)
    window.chat.sampling = GREEDY
    window.shell.show()
    windows.keep(window)
    return window


async def load(window: App, folder: Path) -> None:
    window.models.load_folder(folder)
    await until(lambda: not window.models.loading)
    assert window.models.loaded is not None


async def ask(window: App, qtbot: object, prompt: str) -> None:
    before = len(window.chat.messages())
    window.chat_page.prompt.setPlainText(prompt)
    qtbot.keyClick(window.chat_page.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    await until(lambda: not window.chat.busy and len(window.chat.messages()) >= before + 2)


def shown(window: App) -> list[tuple[str, str]]:
    """The transcript as (role, text) pairs."""
    out: list[tuple[str, str]] = []
    for widget in window.chat_page.chat_view.messages():
        if isinstance(widget, UserMessage):
            out.append(("user", widget.text))
        elif isinstance(widget, AssistantMessage):
            out.append(("assistant", widget.answer_text))
    return out


def titles(window: App) -> list[str]:
    model = window.chat_page.conversation_model
    return [model.index(row, 0).data() for row in range(model.rowCount())]


def select_row(window: App, row: int) -> None:
    index = window.chat_page.conversation_model.index(row, 0)
    window.chat_page.sidebar.list.clicked.emit(index)


async def test_sending_persists_the_conversation_with_its_thinking(
    windows: Windows, paths: AppPaths, tiny_qwen3_path: Path, qtbot: object
) -> None:
    window = open_window(windows, paths)
    await load(window, tiny_qwen3_path)
    chat = TRAINING_CHATS[0]
    await ask(window, qtbot, chat.prompt)
    assert titles(window) == [chat.prompt]
    answer = window.chat_page.chat_view.current
    assert answer is not None and answer.answer_text == chat.answer
    assert answer.copy_button.isVisibleTo(answer) and answer.regenerate_button.isVisibleTo(answer)
    assert "replaces" in answer.regenerate_button.toolTip()
    answer.copy_button.click()
    assert QApplication.clipboard().text() == chat.answer

    window.shell.close()
    await window.shutdown()
    again = open_window(windows, paths)
    assert titles(again) == [chat.prompt]
    select_row(again, 0)
    assert shown(again) == [("user", chat.prompt), ("assistant", chat.answer)]
    restored = again.chat_page.chat_view.current
    assert restored is not None
    assert restored.thinking.text == chat.thinking
    assert not restored.thinking.body.isVisibleTo(restored)  # collapsed
    assert restored.thinking.header.text().startswith("Thought for ")
    assert "tokens/s" in restored.stats.text()
    saved = again.chat.messages()
    assert saved[-1].thinking == chat.thinking
    assert saved[-1].stats.generated_tokens and saved[-1].stats.ttft_seconds is not None


async def test_new_chat_and_switching_show_the_right_messages(
    windows: Windows, paths: AppPaths, tiny_qwen3_path: Path, qtbot: object
) -> None:
    window = open_window(windows, paths)
    await load(window, tiny_qwen3_path)
    first, second = TRAINING_CHATS[0], TRAINING_CHATS[1]
    await ask(window, qtbot, first.prompt)
    assert window.chat_page.new_chat_action.shortcut().toString() == "Ctrl+N"
    window.chat_page.new_chat_action.trigger()  # offscreen windows are never active
    assert window.chat.current is None
    assert shown(window) == []
    await ask(window, qtbot, second.prompt)
    assert titles(window) == [second.prompt, first.prompt]  # newest first
    select_row(window, 1)
    assert shown(window) == [("user", first.prompt), ("assistant", first.answer)]
    select_row(window, 0)
    assert shown(window) == [("user", second.prompt), ("assistant", second.answer)]


async def test_rename_delete_and_search(
    windows: Windows, paths: AppPaths, tiny_qwen3_path: Path, qtbot: object
) -> None:
    window = open_window(windows, paths)
    await load(window, tiny_qwen3_path)
    await ask(window, qtbot, TRAINING_CHATS[0].prompt)
    window.chat_page.new_chat()
    await ask(window, qtbot, TRAINING_CHATS[1].prompt)
    model = window.chat_page.conversation_model
    assert model.setData(model.index(1, 0), "Arithmetic  basics")
    assert titles(window) == [TRAINING_CHATS[1].prompt, "Arithmetic basics"]

    window.chat_page.sidebar.search.setText("blue")  # a word of the second chat's answer
    await until(lambda: titles(window) == [TRAINING_CHATS[1].prompt])
    assert "<b>" in model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    window.chat_page.sidebar.search.setText("")
    await until(lambda: len(titles(window)) == 2)

    sky_id = model.index(0, 0).data(ID_ROLE)
    asked: list[str] = []
    window.chat_page.ask_yes_no = lambda _parent, _title, text, _yes: asked.append(text) is not None
    window.chat_page.delete_conversation(sky_id)  # answered "no": nothing happens
    assert len(titles(window)) == 2 and "cannot be undone" in asked[0]
    window.chat_page.ask_yes_no = lambda *_args: True
    window.chat_page.delete_conversation(sky_id)
    assert titles(window) == ["Arithmetic basics"]
    assert window.chat.current is None and shown(window) == []


async def test_regenerate_replaces_the_last_answer(
    windows: Windows, paths: AppPaths, tiny_qwen3_path: Path, qtbot: object
) -> None:
    window = open_window(windows, paths)
    await load(window, tiny_qwen3_path)
    chat = TRAINING_CHATS[2]
    await ask(window, qtbot, chat.prompt)
    old_finished = window.chat.messages()[-1].finished_at
    answer = window.chat_page.chat_view.current
    assert answer is not None
    started: list[str] = []
    window.chat.turn_started.connect(started.append)
    answer.regenerate_button.click()
    await until(lambda: started == [chat.prompt] and not window.chat.busy)
    saved = window.chat.messages()
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[-1].content == chat.answer
    assert saved[-1].finished_at != old_finished  # a new answer
    assert shown(window) == [("user", chat.prompt), ("assistant", chat.answer)]


async def test_edit_and_resend_removes_later_messages(
    windows: Windows, paths: AppPaths, tiny_qwen3_path: Path, qtbot: object
) -> None:
    window = open_window(windows, paths)
    await load(window, tiny_qwen3_path)
    first, second, third = TRAINING_CHATS[0], TRAINING_CHATS[1], TRAINING_CHATS[3]
    await ask(window, qtbot, first.prompt)
    await ask(window, qtbot, second.prompt)
    notes: list[str] = []

    class FakeDialog:
        def __init__(self, text: str, later: int, parent: object) -> None:
            notes.append(f"{text}|{later}")
            self.text = third.prompt

        def exec(self) -> QDialog.DialogCode:
            return QDialog.DialogCode.Accepted

    window.chat_page.edit_dialog = FakeDialog  # type: ignore[assignment]
    users = [w for w in window.chat_page.chat_view.messages() if isinstance(w, UserMessage)]
    assert users[0].edit_button.isVisibleTo(users[0])
    users[0].edit_button.click()
    assert notes == [f"{first.prompt}|3"]  # its answer, the second question and its answer
    await until(lambda: not window.chat.busy and len(window.chat.messages()) == 2)
    await until(lambda: not window.chat.busy)
    saved: list[MessageRecord] = window.chat.messages()
    assert [(m.role, m.content) for m in saved] == [
        ("user", third.prompt),
        ("assistant", third.answer),
    ]
    assert shown(window) == [("user", third.prompt), ("assistant", third.answer)]


async def test_context_meter_counts_the_conversation_and_refuses_what_does_not_fit(
    windows: Windows, paths: AppPaths, tiny_qwen3_path: Path, qtbot: object
) -> None:
    window = open_window(windows, paths)
    assert "load a model" in window.chat_page.meter.label.text()
    await load(window, tiny_qwen3_path)
    assert window.chat_page.meter.label.text() == "Context: 0 / 8,192 tokens (new chat)"
    await ask(window, qtbot, TRAINING_CHATS[0].prompt)
    reading = window.chat.context_reading()
    assert reading is not None and reading.prompt_tokens > 0
    text = window.chat_page.meter.label.text()
    assert "/ 8,192 tokens" in text and "thinking" in text and "not sent back" in text
    assert not window.chat_page.meter.warning

    huge = "word " * 20000
    window.chat_page.prompt.setPlainText(huge)
    await until(lambda: window.chat_page.meter.warning)  # debounced while typing
    window.chat_page.send_prompt()
    await until(
        lambda: any(
            isinstance(w, Notice) and "does not fit" in w.text()
            for w in window.chat_page.chat_view.messages()
        )
    )
    assert window.chat_page.prompt.toPlainText() == huge  # kept in the box
    assert len(window.chat.messages()) == 2  # nothing saved


async def test_damaged_history_is_reported_and_replaced_only_on_request(
    windows: Windows, paths: AppPaths
) -> None:
    paths.data_dir.mkdir(parents=True)
    damaged = paths.data_dir / DB_FILE_NAME
    damaged.write_bytes(b"this is not a database" * 100)
    window = open_window(windows, paths)
    assert window.chat_page.store_banner.isVisible()
    assert "cannot be used" in window.chat_page.store_message.text()
    assert damaged.read_bytes().startswith(b"this is not")  # untouched
    assert list(paths.data_dir.glob(f"{DB_FILE_NAME}.damaged-*"))  # a copy was kept
    window.chat_page.new_history_button.click()
    assert not window.chat_page.store_banner.isVisible()
    assert window.chat.store is not None
    assert window.chat.conversations() == []
