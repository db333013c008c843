"""The engine in the window: the Engine dialog, the engine log dock, status bar and chat notices.

* The status bar's engine button names the engine that serves models and opens the dialog
  (also Engine → Choose engine…, Ctrl+E).
* The log dock (Engine → Engine log, Ctrl+L) shows the managed ``ollama serve``'s output live,
  headed by what its log revealed: the compute library, "a GPU is present but unused", a model
  too large for this system.
* Crashes, restarts and such findings appear in the chat as notices; an answer cut by a crash
  keeps its partial text with the error (case C12: the conversation controller reports it).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.engines.engine_choice import EngineStatus
from qwen_desktop.engines.ollama_logs import RING_LINES
from qwen_desktop.engines.ollama_server import ServerEvent
from qwen_desktop.engines.ui.engine_controller import EngineController
from qwen_desktop.engines.ui.engine_dialog import EngineDialog

NOTICE_KINDS = frozenset({"crashed", "restarted", "gave_up", "too_large"})
"""Server events worth a notice in the chat (others go to the status bar and the log only)."""
ERROR_KINDS = frozenset({"crashed", "gave_up", "too_large"})
"""Of those, the ones shown as errors."""


class EngineLogDock(QDockWidget):
    """The embedded server's log, live, with its findings above it."""

    def __init__(self, engines: EngineController, parent: QWidget | None = None) -> None:
        super().__init__("Engine log", parent)
        self.setObjectName("engineLogDock")
        self.engines = engines
        self.findings = QLabel()
        self.findings.setObjectName("sectionTitle")
        self.findings.setWordWrap(True)
        self.where = QLabel()
        self.where.setObjectName("notice")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit()
        self.text.setObjectName("engineLog")
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(RING_LINES)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("The app's own Ollama engine has not run yet.")
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.findings)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.where)
        self.setWidget(body)
        engines.log_line.connect(self.append)
        engines.server_event.connect(self._on_engines_server_event)
        self.refresh_findings()

    def append(self, line: str) -> None:
        """Add a line the server printed (the view keeps the last :data:`RING_LINES`)."""
        self.text.appendPlainText(line.rstrip("\n"))
        if not self.engines.findings() or "inference compute" in line or "too large" in line:
            self.refresh_findings()

    def _on_engines_server_event(self, event: ServerEvent) -> None:
        # The server's own notes (crash, restart, stop) go to its file; show them here too.
        self.text.appendPlainText(f"[qwen-desktop] {event.message}")
        self.refresh_findings()

    def refresh_findings(self) -> None:
        """Show what the log revealed, and where the full log is."""
        found = self.engines.findings()
        self.findings.setText(" ".join(found) if found else "Nothing notable in the log yet.")
        warn = self.engines.gpu_warning is not None or any("too large" in f for f in found)
        name = "noticeError" if warn else "sectionTitle"
        if self.findings.objectName() != name:
            self.findings.setObjectName(name)
            self.findings.style().unpolish(self.findings)
            self.findings.style().polish(self.findings)
        where = self.engines.log_file
        if where:
            self.where.setText(f"Full log: {where}")


class EngineUi(QObject):
    """The engine's controls (see the module docstring), for the composition root to place.

    Args:
        engines: The engine controller.
        parent: The window (the Engine dialog's parent).

    Attributes:
        log_dock: The engine log dock (hidden at first; ``log_action`` toggles it).
        engine_button: The status bar's engine button.
        choose_action, log_action: The Engine menu's actions (Ctrl+E, Ctrl+L).

    Signals:
        notice(str, bool): Something to say where the user reads the chat: text, is an error.
        status_message(str, int): A status-bar message and how long it stays (ms).
    """

    notice = Signal(str, bool)
    status_message = Signal(str, int)

    def __init__(self, engines: EngineController, parent: QWidget) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.engines = engines
        self.dialog: EngineDialog | None = None
        self.log_dock = EngineLogDock(engines, parent)
        self.engine_button = QPushButton()
        self.engine_button.setObjectName("engineButton")
        self.engine_button.setFlat(True)
        self.engine_button.setToolTip(
            self.tr("The engine that runs the models; click to change (Ctrl+E)")
        )
        self.engine_button.clicked.connect(self.open_dialog)
        self.choose_action = QAction(self.tr("&Choose engine…"), self)
        self.choose_action.setShortcut(QKeySequence("Ctrl+E"))
        self.choose_action.triggered.connect(self.open_dialog)
        self.log_action = self.log_dock.toggleViewAction()
        self.log_action.setText(self.tr("Engine &log"))
        self.log_action.setShortcut(QKeySequence("Ctrl+L"))
        self._show_engine(engines.label)
        engines.models.engine_changed.connect(self._on_models_engine_changed)
        engines.server_event.connect(self._on_engines_server_event)
        engines.engine_failed.connect(self._on_engines_engine_failed)
        engines.busy_changed.connect(self._on_engines_busy_changed)
        engines.status_ready.connect(self._on_engines_status_ready)
        self.offered_running: str | None = None
        """The URL of a running Ollama the chat offered (case C8), once per address."""

    def open_dialog(self) -> EngineDialog:
        """Show the Engine dialog (probing what can run the first time)."""
        if self.dialog is None:
            self.dialog = EngineDialog(self.engines, self.parent_widget)
        if self.engines.status is None and not self.engines.busy:
            self.engines.probe()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def show_log(self) -> None:
        """Show the engine log dock."""
        self.log_dock.show()
        self.log_dock.raise_()

    def _show_engine(self, label: str) -> None:
        self.engine_button.setText(f"Engine: {label}")

    def _on_models_engine_changed(self, label: str) -> None:
        self._show_engine(label)
        self.notice.emit(
            f"Models now run on {label}. Choose a model in the Engine dialog (Ctrl+E).", False
        )
        self.status_message.emit(f"Engine: {label}.", 6000)

    def _on_engines_server_event(self, event: ServerEvent) -> None:
        self.status_message.emit(event.message, 10000)
        gpu_unused = event.kind == "compute" and self.engines.gpu_warning is not None
        if event.kind in NOTICE_KINDS or gpu_unused:
            self.notice.emit(
                f"{event.message} (Engine → Engine log shows its output.)",
                event.kind in ERROR_KINDS or gpu_unused,
            )

    def _on_engines_status_ready(self, status: EngineStatus) -> None:
        running = status.running
        if running.state != "ollama" or self.offered_running == running.url:
            return
        self.offered_running = running.url
        self.notice.emit(
            f"{running.offer} Choose “Your running Ollama” in the Engine dialog (Ctrl+E).", False
        )

    def _on_engines_engine_failed(self, message: str, action: str) -> None:
        self.notice.emit(f"The engine was not changed: {message} {action}", True)
        self.status_message.emit("The engine was not changed.", 6000)

    def _on_engines_busy_changed(self, busy: bool) -> None:
        if busy:
            self.engine_button.setText(f"Engine: {self.engines.label} (working…)")
        else:
            self._show_engine(self.engines.label)
