"""Composition root of the GUI: every feature is built here, once, and what crosses features
is connected here (pages bind to their own controllers themselves).

:func:`compose` builds the shell with the Chat, Models and Hardware pages over given
controllers; :func:`build_window` adds engine choice, downloads, the Library and the resource
monitor; :func:`run_window` runs the QApplication and the qasync loop around them.
"""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSocketNotifier, Qt, QTimer
from PySide6.QtGui import QIcon, QKeySequence
from PySide6.QtWidgets import QApplication

from qwen_desktop import __version__
from qwen_desktop.chat.answer_recorder import AnswerRecorder
from qwen_desktop.chat.ui.chat_exchange import ChatExchange
from qwen_desktop.chat.ui.chat_page import ChatPage
from qwen_desktop.chat.ui.conversation_controller import ConversationController, open_store
from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.measurement_store import MeasurementStore
from qwen_desktop.core.paths import AppPaths, resources_dir
from qwen_desktop.downloads.service import ACTIVE_STATES, QUEUE_FILE_NAME, DownloadQueue
from qwen_desktop.downloads.ui.downloads_controller import DownloadsController
from qwen_desktop.downloads.ui.downloads_panel import DownloadsPanel
from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.engines.deferred import DeferredBackend, transformers_backend
from qwen_desktop.engines.service import TRANSFORMERS_LABEL, SwitchableBackend
from qwen_desktop.engines.ui.engine_controller import EngineController
from qwen_desktop.engines.ui.engine_ui import EngineUi
from qwen_desktop.engines.ui.model_controller import ModelController
from qwen_desktop.engines.versions import engine_versions
from qwen_desktop.hardware.ui.hardware_controller import HardwareController
from qwen_desktop.hardware.ui.hardware_page import HardwarePage
from qwen_desktop.library.service import LIBRARY_FILE_NAME, ModelLibrary, hub_cache_dir
from qwen_desktop.library.ui.library_model import LibraryController, installed_predicate
from qwen_desktop.library.ui.library_page import LibraryPage
from qwen_desktop.models.ui.catalog_model import CatalogFitModel
from qwen_desktop.models.ui.machine_panel import MachinePanel
from qwen_desktop.models.ui.model_download import ModelDownloadAction
from qwen_desktop.models.ui.models_page import ModelsPage
from qwen_desktop.monitor.health import engine_facts_for, estimate_for_loaded
from qwen_desktop.monitor.sampler import ResourceSampler
from qwen_desktop.monitor.ui.monitor_controller import MonitorController
from qwen_desktop.monitor.ui.monitor_dock import MonitorDock, MonitorSummary, WindowWatcher
from qwen_desktop.shell.main_window import MainWindow
from qwen_desktop.uikit.first_paint import FirstPaint
from qwen_desktop.uikit.loop import install_asyncgen_hooks, new_qt_event_loop
from qwen_desktop.uikit.style import apply_style

DESKTOP_FILE_NAME = "io.github.qwen_desktop.QwenDesktop"


def _tr(text: str) -> str:
    return QCoreApplication.translate("gui", text)


@dataclass(eq=False)
class Desktop:
    """The window and the features it hosts, each built once (see :func:`compose`).

    Attributes:
        shell: The main window (tabs, docks, menus, status bar).
        chat, models, hardware: The conversation, model-loading and hardware controllers.
        catalog: The catalog with its fit on this machine (the Models page's table).
        chat_page, models_page, hardware_page, machine_panel: The pages, each bound to its
            controller.
        chat_exchange: The Chats menu's export and import.
    """

    shell: MainWindow
    chat: ConversationController
    models: ModelController
    hardware: HardwareController
    catalog: CatalogFitModel
    chat_page: ChatPage
    models_page: ModelsPage
    hardware_page: HardwarePage
    machine_panel: MachinePanel
    chat_exchange: ChatExchange

    async def shutdown(self) -> None:
        """Stop the running answer and background work, then free the model's memory."""
        await self._stop_controllers()
        await self.models.backend.unload()
        self.chat.close_store()

    async def _stop_controllers(self) -> None:
        for controller in (self.chat, self.models, self.hardware):
            await controller.shutdown()


@dataclass(eq=False)
class App(Desktop):
    """:class:`Desktop` with every optional feature: engine choice, downloads, the Library and
    the resource monitor (built by :func:`build_window`)."""

    engines: EngineController
    engine_ui: EngineUi
    downloads: DownloadsController
    downloads_panel: DownloadsPanel
    model_download: ModelDownloadAction
    library: LibraryController
    library_page: LibraryPage
    monitor: MonitorController
    monitor_dock: MonitorDock
    monitor_summary: MonitorSummary

    async def shutdown(self) -> None:
        """Stop everything that runs, free the model, then stop the engine that served it."""
        await self._stop_controllers()
        for feature in (self.downloads, self.library, self.monitor):
            await feature.shutdown()
        await self.models.backend.unload()
        await self.engines.shutdown()  # after the unload: the embedded Ollama serves it
        self.chat.close_store()

    def start(self, model: Path | None = None) -> None:
        """Start the background work once the event loop runs: the hardware scan, sampling,
        the saved downloads, the Library listing, then ``model`` or the default engine."""
        self.hardware.scan()
        self.monitor.start()
        self.downloads.start()
        self.library.refresh()
        if model is not None:
            self.models.load_folder(model)
        else:
            self.engines.start_default()


def compose(
    chat: ConversationController,
    models: ModelController,
    hardware: HardwareController,
    catalog: CatalogFitModel | None = None,
) -> Desktop:
    """The shell with the Chat, Models and Hardware pages over these controllers.

    Pages bind to their own controllers; what crosses features is connected here.
    """
    catalog = catalog or CatalogFitModel(load_catalog())
    shell = MainWindow(quit_menu=_tr("&Chats"), about_facts=engine_versions)
    for controller in (chat, models, hardware, catalog):
        controller.setParent(shell)
    machine_panel = MachinePanel()
    machine_panel.setMinimumWidth(300)
    chat_page = ChatPage(chat, models, catalog.catalog, side=machine_panel)
    models_page = ModelsPage(catalog)
    hardware_page = HardwarePage(hardware)
    shell.add_page(chat_page, _tr("Chat"), _tr("Chat with the loaded model"))
    shell.add_page(
        models_page, _tr("Models"), _tr("Every Qwen model and how it fits this computer")
    )
    shell.add_page(
        hardware_page,
        _tr("Hardware"),
        _tr("What this computer has, and where each figure came from"),
    )
    exchange = ChatExchange(chat_page)
    chats = _tr("&Chats")
    for action in exchange.menu_actions:
        shell.add_menu_action(chats, action)
    shell.menu(chats).aboutToShow.connect(exchange.refresh_actions)

    shell.closing.connect(chat.stop)
    chat_page.status_message.connect(shell.show_status)
    chat_page.title_changed.connect(shell.setWindowTitle)

    def show_variant(variant_id: str) -> None:
        shell.show_page(models_page)
        models_page.select_variant(variant_id)

    chat_page.variant_requested.connect(show_variant)

    def show_models_for(task: str) -> None:
        combo = models_page.task_combo
        combo.setCurrentIndex(max(0, combo.findData(task)))
        shell.show_page(models_page)

    hardware.scan_started.connect(lambda: shell.show_status(_tr("Scanning this computer…")))
    hardware.scan_finished.connect(machine_panel.show_machine)
    hardware.scan_finished.connect(catalog.set_machine)
    hardware.scan_finished.connect(lambda _machine: shell.show_status(_tr("Ready."), 4000))
    hardware.scan_failed.connect(
        lambda message: shell.show_status(_tr("Hardware scan failed: {}").format(message))
    )
    hardware.advice_ready.connect(machine_panel.show_recommendations)
    machine_panel.task_changed.connect(hardware.set_task)
    machine_panel.hardware_page_requested.connect(lambda: shell.show_page(hardware_page))
    machine_panel.models_page_requested.connect(show_models_for)
    shell.show_status(_tr("Scanning this computer…"))
    return Desktop(
        shell=shell,
        chat=chat,
        models=models,
        hardware=hardware,
        catalog=catalog,
        chat_page=chat_page,
        models_page=models_page,
        hardware_page=hardware_page,
        machine_panel=machine_panel,
        chat_exchange=exchange,
    )


def add_engine_ui(desktop: Desktop, engines: EngineController) -> EngineUi:
    """Engine choice in the window: the Engine menu (Ctrl+E, Ctrl+L), the status bar's engine
    button, the engine log dock, and the engine's notices in the chat."""
    shell = desktop.shell
    engines.setParent(shell)
    engine_ui = EngineUi(engines, shell)
    shell.add_dock(engine_ui.log_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    shell.add_status_widget(engine_ui.engine_button)
    menu = _tr("&Engine")
    shell.add_menu_action(menu, engine_ui.choose_action)
    shell.add_menu_action(menu, engine_ui.log_action)
    engine_ui.notice.connect(desktop.chat_page.add_notice)
    engine_ui.status_message.connect(shell.show_status)
    desktop.hardware.scan_finished.connect(
        lambda machine: engines.set_gpu_present(bool(machine.gpus))
    )
    return engine_ui


def add_model_download(action: ModelDownloadAction, downloads: DownloadsController) -> None:
    """The Models page's Download action asks the download queue, and hears back from it."""
    action.download_requested.connect(downloads.add)
    downloads.request_refused.connect(action.show_refusal)
    downloads.job_changed.connect(action.show_job)


def _latest_measurements(*args: Any, **kwargs: Any) -> Any:
    """``hardware.advisor.latest_measurements``, imported when the Models page first needs it
    (the advisor brings the probes: they load after the first paint)."""
    from qwen_desktop.hardware.advisor import latest_measurements

    return latest_measurements(*args, **kwargs)


def build_window(paths: AppPaths) -> App:
    """Build the window and every feature (the composition of the GUI).

    The chat history is opened from ``paths.data_dir``; when it cannot be (a damaged database),
    the window says so and offers a new, empty history: it is never replaced silently. The
    window starts on the in-process Transformers engine; :meth:`App.start` then applies the
    default engine unless a model folder was given.
    """
    backend = SwitchableBackend(DeferredBackend(transformers_backend), TRANSFORMERS_LABEL)
    store, store_error = open_store(paths.data_dir)
    chat = ConversationController(backend, store, store_error=store_error)
    models = ModelController(backend)
    hardware = HardwareController(hub_cache_dir(paths.config_dir))  # free disk where models go
    catalog = CatalogFitModel(load_catalog(), measurements=_latest_measurements)
    desktop = compose(chat, models, hardware, catalog)
    shell = desktop.shell

    recorder = AnswerRecorder(catalog.catalog, MeasurementStore.open_default)
    chat.turn_started.connect(lambda _prompt: recorder.answer_started(models.loaded))
    chat.turn_finished.connect(
        lambda usage: recorder.answer_finished(
            usage, models.loaded, models.loaded_path, hardware.machine
        )
    )

    engines = EngineController(models, paths, is_busy=lambda: chat.busy)
    engine_ui = add_engine_ui(desktop, engines)

    # Downloads: the queue (``<data dir>/downloads.json``) into the models folder
    # (``QWEN_DESKTOP_MODELS_DIR``, the settings' choice, or huggingface_hub's cache); Ollama
    # pulls go to the app's embedded Ollama while it is ready.
    queue = DownloadQueue(
        paths.data_dir / QUEUE_FILE_NAME,
        hub_cache_dir(paths.config_dir),
        ollama_url=lambda: engines.ollama_url,
    )
    downloads = DownloadsController(queue, catalog.catalog, parent=shell)
    downloads_panel = DownloadsPanel(downloads)
    shell.add_page(
        downloads_panel,
        _tr("Downloads"),
        _tr("Model downloads: progress, pause, resume, cancel"),
        after=desktop.models_page,
    )
    model_download = ModelDownloadAction(desktop.models_page)
    add_model_download(model_download, downloads)

    # The Library over the queue's models folder: loads are recorded (last used), finished
    # downloads refresh it, its listing marks catalog variants installed, a new models folder
    # is used by the queue too, and it lists the models of the engine in use.
    library = LibraryController(
        ModelLibrary(paths.data_dir / LIBRARY_FILE_NAME, queue.cache_dir),
        paths.config_dir,
        busy_reason=lambda: (
            _tr("Downloads are running into the models folder.")
            if any(job.state in ACTIVE_STATES for job in queue.jobs)
            else None
        ),
        parent=shell,
    )
    library_page = LibraryPage(library)
    shell.add_page(
        library_page,
        _tr("Library"),
        _tr("Installed models: open, delete, import, move"),
        after=downloads_panel,
    )
    library_page.open_requested.connect(models.load_folder)
    library_page.open_requested.connect(lambda _path: shell.show_page(desktop.chat_page))
    models.model_loaded.connect(
        lambda loaded: library.record_load(models.loaded_path, loaded.name if loaded else None)
    )
    downloads.job_changed.connect(lambda job: library.refresh() if job.state == "done" else None)
    library.models_changed.connect(
        lambda listed: catalog.set_installed_predicate(installed_predicate(listed))
    )
    library.folder_changed.connect(lambda folder: setattr(queue, "cache_dir", folder))

    def list_the_engines_models(_label: str) -> None:
        library.ollama_url = engines.ollama_url
        library.refresh()

    engines.engine_changed.connect(list_the_engines_models)

    monitor = MonitorController(
        ResourceSampler(engine_pid=lambda: engines.server.pid if engines.server else None),
        parent=shell,
    )
    monitor_dock, monitor_summary = _add_monitor(desktop, monitor, engines)
    return App(
        **{field.name: getattr(desktop, field.name) for field in dataclasses.fields(desktop)},
        engines=engines,
        engine_ui=engine_ui,
        downloads=downloads,
        downloads_panel=downloads_panel,
        model_download=model_download,
        library=library,
        library_page=library_page,
        monitor=monitor,
        monitor_dock=monitor_dock,
        monitor_summary=monitor_summary,
    )


def _add_monitor(
    desktop: Desktop, monitor: MonitorController, engines: EngineController
) -> tuple[MonitorDock, MonitorSummary]:
    """The resource monitor: a dock (hidden at first; View → Monitor, Ctrl+M) and a summary in
    the status bar that opens it, fed with the answer's tokens and the loaded model's facts.
    Sampling slows down while the dock is hidden and pauses while the window is minimised;
    it starts with the event loop (:meth:`App.start`)."""
    shell, chat, models, hardware = desktop.shell, desktop.chat, desktop.models, desktop.hardware
    dock = MonitorDock(monitor, shell)
    shell.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
    summary = MonitorSummary(monitor)
    shell.add_status_widget(summary)
    toggle = dock.toggleViewAction()
    toggle.setText(_tr("&Monitor"))
    toggle.setShortcut(QKeySequence("Ctrl+M"))
    shell.add_menu_action(_tr("&View"), toggle)
    summary.clicked.connect(lambda: shell.show_dock(dock))
    WindowWatcher(shell, dock)
    monitor.set_shown(dock=False, summary=True)

    chat.turn_started.connect(lambda _prompt: monitor.answer_started())
    chat.thinking_received.connect(monitor.tokens_received)
    chat.answer_received.connect(monitor.tokens_received)
    chat.turn_finished.connect(monitor.answer_finished)
    chat.turn_stopped.connect(monitor.answer_ended)
    chat.turn_failed.connect(monitor.answer_ended)
    catalog = desktop.catalog.catalog

    def model_changed(loaded: LoadedModel | None) -> None:
        if loaded is None:
            monitor.set_model(None, None)
            return
        facts = engine_facts_for(loaded, hardware.machine)
        server = engines.server
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
    return dock, summary


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
    app_parts = build_window(AppPaths.default())
    window = app_parts.shell
    # We end the loop ourselves once the window has shut down cleanly (turn stopped, model
    # unloaded); letting Qt quit on the last window would stop the loop under running tasks.
    app.setQuitOnLastWindowClosed(False)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    window.closing.connect(closed.set)  # Quit, even with another top-level window open
    _close_on_signals(window)
    painted = asyncio.Event()
    FirstPaint(window, lambda _seconds: painted.set())
    window.show()

    async def main() -> None:
        install_asyncgen_hooks(asyncio.get_running_loop())
        await painted.wait()  # start-up work begins once the window is on screen
        app_parts.start(args.model)
        if args.quit_after is not None:
            QTimer.singleShot(max(0, round(args.quit_after * 1000)), window.close)
        await closed.wait()
        await app_parts.shutdown()

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
