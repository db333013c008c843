"""The app's window built as the app builds it, in temporary folders, for GUI tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.paths import AppPaths
from qwen_desktop.gui import build_window
from qwen_desktop.ui.main_window import MainWindow


@pytest.fixture
def app_window(qapp: QApplication, tmp_path: Path) -> Iterator[MainWindow]:
    """A shown main window; stopped and closed after the test."""
    qapp.setQuitOnLastWindowClosed(False)  # as the app itself does (see gui.run_window)
    paths = AppPaths(data_dir=tmp_path, config_dir=tmp_path, models_dir=tmp_path / "models")
    window = build_window(paths)
    window.show()
    yield window
    window.chat.stop()
    window.close()
