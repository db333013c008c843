"""Export a chat as Markdown or JSON and import it into another history (offscreen)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_desktop.chat.ui.chat_exchange import file_stem
from qwen_desktop.chat.ui.chat_view import Notice
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.gui import App, build_window
from tests.chat.test_conversations_window import GREEDY, ask, load, shown
from tests.fixtures.polling import until
from tests.fixtures.tiny_models import TRAINING_CHATS
from tests.fixtures.windows import Windows

pytestmark = pytest.mark.gui


def open_window(windows: Windows, base: Path) -> App:
    window = build_window(AppPaths(base / "data", base / "config", base / "models"))
    window.chat.sampling = GREEDY
    window.shell.show()
    windows.keep(window)
    return window


def errors(window: App) -> list[str]:
    return [
        w.text()
        for w in window.chat_page.chat_view.messages()
        if isinstance(w, Notice) and w.objectName() == "noticeError"
    ]


@pytest.mark.asyncio
async def test_export_markdown_and_json_then_import_elsewhere(
    windows: Windows, tmp_path: Path, tiny_qwen3_path: Path, qtbot: object
) -> None:
    first = open_window(windows, tmp_path / "one")
    await load(first, tiny_qwen3_path)
    chat = TRAINING_CHATS[0]
    await ask(first, qtbot, chat.prompt)
    record = first.chat.messages()[-1]
    folder = tmp_path / "Exports ü 导出"
    folder.mkdir()
    asked: list[str] = []

    def save_as(name: str):  # type: ignore[no-untyped-def]
        def dialog(_parent, _caption, suggested, _filter):  # type: ignore[no-untyped-def]
            asked.append(suggested)
            return str(folder / name)

        return dialog

    exchange = first.chat_exchange
    exchange.save_dialog = save_as("chat")  # no suffix: the format's is added
    markdown = exchange.export_current("markdown")
    assert markdown == folder / "chat.md"
    assert asked[-1] == file_stem(first.chat.current.title) + ".md"
    text = markdown.read_text(encoding="utf-8")
    assert chat.prompt in text and record.content in text
    assert "<details>" in text and record.thinking.strip()[:20] in text  # thinking kept apart

    exchange.save_dialog = save_as("chat.json")
    exported = exchange.export_current("json")
    assert exported is not None
    document = json.loads(exported.read_text(encoding="utf-8"))
    assert document["conversations"][0]["messages"][1]["thinking"] == record.thinking

    second = open_window(windows, tmp_path / "two")
    second.chat_exchange.open_dialog = lambda *_: str(exported)
    assert second.chat_exchange.import_file() == exported
    await until(lambda: len(second.chat.conversations()) == 1)
    assert second.chat.current is not None  # the imported chat is opened
    assert shown(second) == [("user", chat.prompt), ("assistant", record.content)]


@pytest.mark.asyncio
async def test_a_broken_import_file_is_refused_and_nothing_is_imported(
    windows: Windows, tmp_path: Path
) -> None:
    window = open_window(windows, tmp_path)
    broken = tmp_path / "not an export.json"
    broken.write_text('{"format": "something else"}', encoding="utf-8")
    window.chat_exchange.open_dialog = lambda *_: str(broken)
    assert window.chat_exchange.import_file() is None
    assert window.chat.conversations() == []
    assert any("not an export.json" in text for text in errors(window))


@pytest.mark.asyncio
async def test_exporting_with_no_chat_says_so(windows: Windows, tmp_path: Path) -> None:
    window = open_window(windows, tmp_path)
    window.chat_exchange.save_dialog = lambda *_: pytest.fail("no dialog without a chat")
    assert window.chat_exchange.export_current("markdown") is None
    assert window.chat_exchange.export_all() is None
    assert errors(window)[-2:] == [
        "Open a chat first: there is nothing to export yet.",
        "There are no chats to export yet.",
    ]


def test_file_names_keep_any_script_and_drop_path_characters() -> None:
    assert file_stem('Plan: a/b "c"?') == "Plan a b c"
    assert file_stem("Привет 你好") == "Привет 你好"
    assert file_stem("...") == "chat"
