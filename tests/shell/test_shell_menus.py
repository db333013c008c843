"""The shell's menus: Quit (Ctrl+Q) closes the window, Help → About names the versions, and
features add their actions above Quit."""

from __future__ import annotations

import platform

import pytest
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QAction, QKeySequence

from qwen_desktop.engines.versions import ENGINE_PACKAGES
from qwen_desktop.gui import App
from qwen_desktop.shell.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.asyncio]


def menu_titles(shell: MainWindow) -> list[str]:
    return [action.text() for action in shell.menuBar().actions()]


def entries(shell: MainWindow, title: str) -> list[str]:
    menu = shell.menu(title)
    return ["---" if a.isSeparator() else a.text() for a in menu.actions()]


async def test_the_menus_end_with_quit_and_help(app_window: App) -> None:
    shell = app_window.shell
    titles = menu_titles(shell)
    assert titles[0] == "&Chats" and titles[-1] == "&Help"
    assert {"&Engine", "&View"} <= set(titles)
    chats = entries(shell, "&Chats")
    assert chats[0] == "&New chat" and chats[-2:] == ["---", "&Quit"]
    assert QKeySequence("Ctrl+Q") in shell.quit_action.shortcuts()
    assert app_window.chat_page.new_chat_action.shortcut().toString() == "Ctrl+N"


async def test_quit_closes_the_window(app_window: App) -> None:
    shell = app_window.shell
    closing: list[bool] = []
    shell.closing.connect(lambda: closing.append(True))
    assert shell.isVisible()
    shell.quit_action.trigger()  # what Ctrl+Q does; a running answer stops (tests/chat)
    assert not shell.isVisible() and closing == [True]


async def test_about_names_the_app_python_qt_and_the_engines(app_window: App) -> None:
    box = app_window.shell.show_about()
    text = box.text().replace("&nbsp;", " ")
    assert platform.python_version() in text
    assert qVersion() in text and pyside_version in text
    for engine, _packages in ENGINE_PACKAGES:
        assert engine in text
    assert "transformers " in text  # the test environment has the ml extra
    box.close()


async def test_an_action_added_to_the_first_menu_goes_above_quit(app_window: App) -> None:
    shell = app_window.shell
    action = QAction("Open log folder")
    shell.add_menu_action("&Help", action)
    assert entries(shell, "&Help")[-1] == "Open log folder"
    extra = QAction("Something else")
    shell.add_menu_action("&Chats", extra)
    assert entries(shell, "&Chats")[-3:] == ["Something else", "---", "&Quit"]
    assert extra.parent() is shell  # kept alive by the window
    shell.menu("&Tools")
    assert menu_titles(shell)[-2:] == ["&Tools", "&Help"]  # Help stays last
