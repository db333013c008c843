"""Composition root of the GUI: QApplication, the qasync loop, backend, controllers, window."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from qwen_desktop import __version__
from qwen_desktop.backends.transformers_backend import TransformersBackend
from qwen_desktop.core.paths import AppPaths, resources_dir
from qwen_desktop.qt.chat_controller import ChatController
from qwen_desktop.qt.hardware_controller import HardwareController
from qwen_desktop.qt.loop import install_asyncgen_hooks, new_qt_event_loop
from qwen_desktop.qt.model_controller import ModelController
from qwen_desktop.services.chat import ChatSession
from qwen_desktop.ui.main_window import MainWindow
from qwen_desktop.ui.style import apply_style

DESKTOP_FILE_NAME = "io.github.qwen_desktop.QwenDesktop"


def build_window(paths: AppPaths) -> MainWindow:
    """Build the window and its controllers (the composition of the GUI)."""
    backend = TransformersBackend()
    chat = ChatController(ChatSession(backend))
    models = ModelController(backend)
    hardware = HardwareController(paths.models_dir)
    window = MainWindow(chat, models, hardware)
    for controller in (chat, models, hardware):
        controller.setParent(window)
    return window


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qwen-desktop", add_help=False)
    parser.add_argument("--model", type=Path, help="Load this local model folder at start.")
    args, _unknown = parser.parse_known_args(list(argv))  # Qt's own flags (-platform …) pass
    return args


def run_window(argv: Sequence[str]) -> int:
    """Open the window and run until it closes; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = _parse(argv)
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    assert isinstance(app, QApplication)
    app.setApplicationName("Qwen Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    icon = resources_dir() / "icons" / "qwen-desktop.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    apply_style(app)
    loop = new_qt_event_loop(app)
    asyncio.set_event_loop(loop)
    paths = AppPaths.default()
    window = build_window(paths)
    window.show()
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    app.lastWindowClosed.connect(closed.set)

    async def start() -> None:
        install_asyncgen_hooks(asyncio.get_running_loop())
        window.hardware.scan()
        if args.model is not None:
            window.models.load_folder(args.model)
        await closed.wait()
        await window.models.backend.unload()

    with loop:
        loop.run_until_complete(start())
    return 0
