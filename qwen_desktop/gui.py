"""Composition root of the GUI: QApplication, the qasync loop, backend, controllers, window."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from qwen_desktop import __version__
from qwen_desktop.chat.answer_recorder import AnswerRecorder
from qwen_desktop.chat.ui.chat_exchange import ChatExchange
from qwen_desktop.chat.ui.conversation_controller import ConversationController, open_store
from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.measurement_store import MeasurementStore
from qwen_desktop.core.paths import AppPaths, resources_dir
from qwen_desktop.downloads.service import ACTIVE_STATES, QUEUE_FILE_NAME, DownloadQueue
from qwen_desktop.downloads.ui.downloads_controller import DownloadsController
from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.engines.service import TRANSFORMERS_LABEL, SwitchableBackend
from qwen_desktop.engines.transformers_backend import TransformersBackend
from qwen_desktop.engines.ui.engine_controller import EngineController
from qwen_desktop.engines.ui.model_controller import ModelController
from qwen_desktop.hardware.advisor import latest_measurements
from qwen_desktop.hardware.ui.hardware_controller import HardwareController
from qwen_desktop.library.service import LIBRARY_FILE_NAME, ModelLibrary, hub_cache_dir
from qwen_desktop.library.ui.library_model import LibraryController, installed_predicate
from qwen_desktop.models.ui.catalog_model import CatalogFitModel
from qwen_desktop.monitor.health import engine_facts_for, estimate_for_loaded
from qwen_desktop.monitor.sampler import ResourceSampler
from qwen_desktop.monitor.ui.monitor_controller import MonitorController
from qwen_desktop.shell.main_window import MainWindow
from qwen_desktop.uikit.loop import install_asyncgen_hooks, new_qt_event_loop
from qwen_desktop.uikit.style import apply_style

DESKTOP_FILE_NAME = "io.github.qwen_desktop.QwenDesktop"


def build_window(paths: AppPaths) -> MainWindow:
    """Build the window and its controllers (the composition of the GUI).

    The chat history is opened from ``paths.data_dir``; when it cannot be (a damaged database),
    the window says so and offers a new, empty history: it is never replaced silently.
    """
    backend = SwitchableBackend(TransformersBackend(), TRANSFORMERS_LABEL)
    store, store_error = open_store(paths.data_dir)
    chat = ConversationController(backend, store, store_error=store_error)
    models = ModelController(backend)
    hardware = HardwareController(hub_cache_dir(paths.config_dir))  # free disk where models go
    catalog = CatalogFitModel(load_catalog(), measurements=latest_measurements)
    window = MainWindow(chat, models, hardware, catalog)
    for controller in (chat, models, hardware, catalog):
        controller.setParent(window)
    recorder = AnswerRecorder(load_catalog(), MeasurementStore.open_default)
    chat.turn_started.connect(lambda _prompt: recorder.answer_started(models.loaded))
    chat.turn_finished.connect(
        lambda usage: recorder.answer_finished(
            usage, models.loaded, models.loaded_path, hardware.machine
        )
    )
    window.chat_exchange = ChatExchange(window)  # type: ignore[attr-defined]
    _wire_monitor(
        window, MonitorController(ResourceSampler(engine_pid=lambda: _engine_pid(window)))
    )
    _wire_downloads(window, paths)
    _wire_engines(window, paths)
    return window


def _engine_pid(window: MainWindow) -> int | None:
    """The process id of the embedded Ollama while it runs (its memory is sampled apart)."""
    engines = getattr(window, "engines", None)
    server = engines.server if engines is not None else None
    return server.pid if server is not None else None


def _wire_engines(window: MainWindow, paths: AppPaths) -> None:
    """Engine choice: the embedded Ollama, a running one (C8), Transformers, a server.

    The window starts on the in-process Transformers engine; :func:`run_window` then applies
    the default engine (``EngineController.start_default``) unless a model folder was given.
    """
    engines = EngineController(window.models, paths, is_busy=lambda: window.chat.busy)
    engines.setParent(window)
    window.install_engine_ui(engines)
    window.hardware.scan_finished.connect(
        lambda machine: engines.set_gpu_present(bool(machine.gpus))
    )
    library = getattr(window, "library", None)
    if library is not None:

        def list_the_engines_models(_label: str) -> None:
            library.ollama_url = engines.ollama_url
            library.refresh()

        engines.engine_changed.connect(list_the_engines_models)


def _wire_downloads(window: MainWindow, paths: AppPaths) -> None:
    """The download queue (``<data dir>/downloads.json``) into the models folder
    (``QWEN_DESKTOP_MODELS_DIR``, the settings' choice, or huggingface_hub's cache); it resumes
    in :func:`run_window`. Ollama pulls go to the app's embedded Ollama while it is ready."""

    def ollama_url() -> str | None:
        engines = getattr(window, "engines", None)
        return engines.ollama_url if engines is not None else None

    queue = DownloadQueue(
        paths.data_dir / QUEUE_FILE_NAME, hub_cache_dir(paths.config_dir), ollama_url=ollama_url
    )
    downloads = DownloadsController(queue, window.catalog_model.catalog)
    downloads.setParent(window)
    window.install_downloads(downloads)
    _wire_library(window, paths, queue)


def _wire_library(window: MainWindow, paths: AppPaths, queue: DownloadQueue) -> None:
    """The Library page over the queue's models folder: loads are recorded (last used),
    finished downloads refresh it, its listing marks catalog variants installed, and a new
    models folder is used by the queue too. The first listing runs in :func:`run_window`."""
    library = LibraryController(
        ModelLibrary(paths.data_dir / LIBRARY_FILE_NAME, queue.cache_dir),
        paths.config_dir,
        busy_reason=lambda: (
            "Downloads are running into the models folder."
            if any(job.state in ACTIVE_STATES for job in queue.jobs)
            else None
        ),
    )
    library.setParent(window)
    window.install_library(library)
    models = window.models
    models.model_loaded.connect(
        lambda loaded: library.record_load(models.loaded_path, loaded.name if loaded else None)
    )
    window.downloads.job_changed.connect(
        lambda job: library.refresh() if job.state == "done" else None
    )
    library.models_changed.connect(
        lambda listed: window.catalog_model.set_installed_predicate(installed_predicate(listed))
    )
    library.folder_changed.connect(lambda folder: setattr(queue, "cache_dir", folder))


def _wire_monitor(window: MainWindow, monitor: MonitorController) -> None:
    """The resource monitor: fed with the answer's tokens and the loaded model's facts.

    Sampling itself starts with the event loop (``monitor.start()`` in :func:`run_window`).
    """
    chat, models, hardware = window.chat, window.models, window.hardware
    window.install_monitor(monitor)
    monitor.setParent(window)
    chat.turn_started.connect(lambda _prompt: monitor.answer_started())
    chat.thinking_received.connect(monitor.tokens_received)
    chat.answer_received.connect(monitor.tokens_received)
    chat.turn_finished.connect(monitor.answer_finished)
    chat.turn_stopped.connect(monitor.answer_ended)
    chat.turn_failed.connect(monitor.answer_ended)
    catalog = window.catalog_model.catalog

    def model_changed(loaded: LoadedModel | None) -> None:
        if loaded is None:
            monitor.set_model(None, None)
            return
        facts = engine_facts_for(loaded, hardware.machine)
        engines = getattr(window, "engines", None)
        server = engines.server if engines is not None else None
        if server is not None and loaded.engine == "ollama" and server.compute_library:
            # The embedded server's log says which library it runs models on (CPU, CUDA…).
            facts = dataclasses.replace(facts, compute_library=server.compute_library)
        monitor.set_model(
            loaded.name,
            facts,
            estimate_tokens_per_second=estimate_for_loaded(
                catalog, hardware.machine, loaded, models.loaded_path
            ),
        )

    models.model_loaded.connect(model_changed)
    hardware.scan_finished.connect(lambda _machine: model_changed(models.loaded))


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qwen-desktop", add_help=False)
    parser.add_argument("--model", type=Path, help="Load this local model folder at start.")
    parser.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="Close the window (cleanly) after SECONDS: the installers' smoke test.",
    )
    args, _unknown = parser.parse_known_args(list(argv))  # Qt's own flags (-platform …) pass
    return args


def run_window(argv: Sequence[str]) -> int:
    """Open the window and run until it closes; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = _parse(argv)
    problem = _display_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    assert isinstance(app, QApplication)
    app.setApplicationName("Qwen Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    # The installed icon theme's copy (hicolor, named like the desktop file) else the bundled SVG.
    icon = resources_dir() / "icons" / "qwen-desktop.svg"
    fallback = QIcon(str(icon)) if icon.exists() else QIcon()
    app.setWindowIcon(QIcon.fromTheme(DESKTOP_FILE_NAME, fallback))
    apply_style(app)
    loop = new_qt_event_loop(app)
    asyncio.set_event_loop(loop)
    window = build_window(AppPaths.default())
    # We end the loop ourselves once the window has shut down cleanly (turn stopped, model
    # unloaded); letting Qt quit on the last window would stop the loop under running tasks.
    app.setQuitOnLastWindowClosed(False)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    _close_on_signals(window)
    window.show()

    async def main() -> None:
        install_asyncgen_hooks(asyncio.get_running_loop())
        window.hardware.scan()
        window.monitor.start()
        window.downloads.start()
        window.library.refresh()
        if args.model is not None:
            window.models.load_folder(args.model)
        else:
            window.engines.start_default()
        if args.quit_after is not None:
            QTimer.singleShot(max(0, round(args.quit_after * 1000)), window.close)
        await closed.wait()
        await window.shutdown()

    with loop:
        loop.run_until_complete(main())
    return 0


def _close_on_signals(window: MainWindow) -> None:
    """Ctrl-C in the terminal or SIGTERM closes the window the normal way (clean shutdown).

    Python runs signal handlers only when the interpreter gets control, and an idle Qt loop
    never gives it. A wakeup socket (``signal.set_wakeup_fd``) watched by a ``QSocketNotifier``
    wakes Python as soon as a signal arrives.
    """

    def handler(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)

    def drain() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)

    notifier.activated.connect(drain)
    window.setProperty("_signal_sockets", (reader, writer))  # keep them alive with the window


def _display_problem() -> str | None:
    """Why no window can open here (Linux without a display), or None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "No display found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the window cannot "
        "open. Start qwen-desktop from a desktop session, or use its command-line verbs: "
        "qwen-desktop --help"
    )
