"""The GUI fixtures leave nothing behind: windows are deleted, leftovers are found."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMainWindow

from qwen_desktop.core.paths import AppPaths
from qwen_desktop.gui import build_window
from tests.fixtures.windows import (
    Windows,
    delete_deferred,
    end_leftover_windows,
    main_windows_alive,
)

pytestmark = [pytest.mark.gui, pytest.mark.asyncio]


async def test_a_disposed_window_leaves_no_widget_behind(
    qapp: QApplication, tmp_path: Path
) -> None:
    delete_deferred()
    widgets_before = len(QApplication.allWidgets())
    kept = Windows()
    window = kept.keep(build_window(AppPaths(tmp_path, tmp_path, tmp_path / "models")))
    window.shell.show()
    assert len(QApplication.allWidgets()) > widgets_before + 100  # a real window was built
    await kept.dispose_all()
    assert window not in main_windows_alive()
    assert len(QApplication.allWidgets()) == widgets_before


async def test_a_window_left_alive_is_found_and_ended(qapp: QApplication) -> None:
    before = {id(w) for w in main_windows_alive()}
    stray = QMainWindow()
    stray.show()
    assert end_leftover_windows(before) == 1
    assert not any(w is stray for w in main_windows_alive())
    assert end_leftover_windows(before) == 0
