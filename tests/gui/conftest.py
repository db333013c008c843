"""The app's window built as the app builds it, in temporary folders, for GUI tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.types import AnswerDelta, Usage
from qwen_desktop.gui import build_window
from qwen_desktop.qt.conversation_controller import ConversationController, open_store
from qwen_desktop.qt.hardware_controller import HardwareController
from qwen_desktop.qt.model_controller import ModelController
from qwen_desktop.ui.main_window import MainWindow
from tests.fixtures.scripted_backend import ScriptedBackend


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


@pytest.fixture
def scripted_window(
    qapp: QApplication, tmp_path: Path
) -> Iterator[tuple[MainWindow, ScriptedBackend]]:
    """A window over a scripted engine that answers "Sure." (its requests are recorded), with
    a stored history in ``tmp_path``; closed after the test."""
    qapp.setQuitOnLastWindowClosed(False)
    backend = ScriptedBackend(script=(AnswerDelta("Sure."), Usage(20, 2, 0.01, 50.0, 0.02)))
    store, error = open_store(tmp_path / "data")
    chat = ConversationController(backend, store, store_error=error)
    built = MainWindow(chat, ModelController(backend), HardwareController(tmp_path / "models"))
    built.show()
    yield built, backend
    built.chat.stop()
    built.close()
    built.chat.close_store()
