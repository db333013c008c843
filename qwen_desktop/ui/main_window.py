"""The main window: three pages in tabs.

* Chat: the machine panel and recommendations on the left, the chat on the right;
* Models: the whole catalog with its fit on this computer (``ui/models_page.py``);
* Hardware: the full hardware report with each figure's source (``ui/hardware_page.py``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.backends.base import LoadedModel
from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.conversation import thinking_switch_reason
from qwen_desktop.core.types import ThinkingKind, Usage
from qwen_desktop.core.units import format_bytes
from qwen_desktop.qt.catalog_model import CatalogFitModel
from qwen_desktop.qt.chat_controller import ChatController
from qwen_desktop.qt.hardware_controller import HardwareController
from qwen_desktop.qt.model_controller import ModelController
from qwen_desktop.ui.chat_view import ChatView
from qwen_desktop.ui.hardware_page import HardwarePage
from qwen_desktop.ui.machine_panel import MachinePanel
from qwen_desktop.ui.models_page import ModelsPage
from qwen_desktop.ui.prompt_edit import PromptEdit


class MainWindow(QMainWindow):
    """The app's window. It only talks to controllers and Qt models (never to backends).

    Args:
        chat: The chat controller.
        models: Loads models into the backend.
        hardware: Scans the machine and ranks recommendations.
        catalog_model: The catalog with fit estimates (Models page); default: a model over the
            bundled catalog.
    """

    CHAT_TAB, MODELS_TAB, HARDWARE_TAB = 0, 1, 2

    def __init__(
        self,
        chat: ChatController,
        models: ModelController,
        hardware: HardwareController,
        catalog_model: CatalogFitModel | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.chat, self.models, self.hardware = chat, models, hardware
        self.catalog_model = catalog_model or CatalogFitModel(load_catalog(), parent=self)
        self.setWindowTitle("Qwen Desktop")
        self.resize(1200, 780)
        self.models_page = ModelsPage(self.catalog_model)
        self.hardware_page = HardwarePage()

        self.machine_panel = MachinePanel()
        self.machine_panel.setMinimumWidth(300)
        self.chat_view = ChatView()
        self.prompt = PromptEdit()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.model_label = QLabel("No model loaded")
        self.model_label.setObjectName("modelLabel")
        self.open_button = QPushButton("Open model folder…")
        self.think_switch = QCheckBox("Think before answering")
        self.think_switch.setChecked(True)
        self.think_switch.setEnabled(False)
        self.think_switch.setToolTip("Load a model first.")

        self.tabs = QTabWidget()
        self.tabs.setObjectName("pages")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_chat_page(), "Chat")
        self.tabs.addTab(self.models_page, "Models")
        self.tabs.addTab(self.hardware_page, "Hardware")
        for index, tip in enumerate(
            (
                "Chat with the loaded model (Ctrl+1)",
                "Every Qwen model and how it fits this computer (Ctrl+2)",
                "What this computer has, and where each figure came from (Ctrl+3)",
            )
        ):
            self.tabs.setTabToolTip(index, tip)
        self.setCentralWidget(self.tabs)
        self.statusBar().showMessage("Scanning this computer…")
        self._connect()
        self.welcome = self.chat_view.add_notice(
            "Open a Qwen model folder to start chatting. The list on the left shows which "
            "Qwen models fit this computer; the Models page compares them all."
        )

    def _build_chat_page(self) -> QWidget:
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_label, 1)
        top.addWidget(self.think_switch)
        top.addWidget(self.open_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.prompt, 1)
        bottom.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(8, 8, 12, 8)
        column.addLayout(top)
        column.addWidget(self.chat_view, 1)
        column.addLayout(bottom)
        splitter = QSplitter()
        splitter.addWidget(self.machine_panel)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 860])
        return splitter

    def _connect(self) -> None:
        self.prompt.submitted.connect(self.send_prompt)
        self.prompt.stop_requested.connect(self.chat.stop)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.chat.stop)
        for index in range(3):
            QShortcut(
                QKeySequence(f"Ctrl+{index + 1}"),
                self,
                lambda index=index: self.tabs.setCurrentIndex(index),
            )
        self.chat.turn_started.connect(self._on_chat_turn_started)
        self.chat.thinking_received.connect(self._on_chat_thinking_received)
        self.chat.answer_received.connect(self._on_chat_answer_received)
        self.chat.thinking_reclassified.connect(self._on_chat_thinking_reclassified)
        self.chat.turn_finished.connect(self._on_chat_turn_finished)
        self.chat.turn_stopped.connect(self._on_chat_turn_stopped)
        self.chat.turn_failed.connect(self._on_chat_turn_failed)
        self.chat.busy_changed.connect(self._on_chat_busy_changed)
        self.models.load_started.connect(self._on_models_load_started)
        self.models.model_loaded.connect(self._on_models_model_loaded)
        self.models.load_failed.connect(self._on_models_load_failed)
        self.hardware.scan_finished.connect(self._on_hardware_scan_finished)
        self.hardware.advice_ready.connect(self.machine_panel.show_recommendations)
        self.hardware.scan_started.connect(self.hardware_page.set_scanning)
        self.hardware.scan_failed.connect(self._on_hardware_scan_failed)
        self.hardware_page.rescan_requested.connect(self.hardware.scan)
        self.machine_panel.task_changed.connect(self.hardware.set_task)
        self.machine_panel.hardware_page_requested.connect(
            lambda: self.tabs.setCurrentIndex(self.HARDWARE_TAB)
        )
        self.machine_panel.models_page_requested.connect(self._on_machine_panel_models_requested)

    # -- actions -------------------------------------------------------------------------------

    def send_prompt(self) -> None:
        """Send the prompt box's text (kept in the box when it cannot be sent)."""
        text = self.prompt.toPlainText().strip()
        if not text or self.chat.busy:
            return
        if self.models.loaded is None:
            self.chat_view.add_notice(
                "No model is loaded. Open a model folder first (your prompt is still in the box).",
                error=True,
            )
            return
        if self.chat.send(text, thinking=self.think_switch.isChecked()):
            self.prompt.clear()

    def _on_send_button_clicked(self) -> None:
        if self.chat.busy:
            self.chat.stop()
        else:
            self.send_prompt()

    def _on_open_button_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Qwen model folder")
        if folder:
            self.models.load_folder(Path(folder))

    # -- chat events ----------------------------------------------------------------------------

    def _on_chat_turn_started(self, prompt: str) -> None:
        self.chat_view.add_user(prompt)
        self.chat_view.start_answer()
        self.statusBar().showMessage("Generating… (Esc stops)")

    def _on_chat_thinking_received(self, text: str) -> None:
        if self.chat_view.current:
            self.chat_view.current.add_thinking(text)

    def _on_chat_answer_received(self, text: str) -> None:
        if self.chat_view.current:
            self.chat_view.current.add_answer(text)

    def _on_chat_thinking_reclassified(self, text: str) -> None:
        if self.chat_view.current:
            self.chat_view.current.reclassify(text)

    def _on_chat_turn_finished(self, usage: Usage) -> None:
        if self.chat_view.current:
            self.chat_view.current.finish(usage)
        self.statusBar().showMessage(
            f"{usage.tokens_per_second:.1f} tokens/s · {usage.generated_tokens} tokens · "
            f"time to first token {usage.ttft_seconds:.2f} s"
        )

    def _on_chat_turn_stopped(self) -> None:
        if self.chat_view.current:
            self.chat_view.current.mark_stopped()
        self.statusBar().showMessage("Stopped.")

    def _on_chat_turn_failed(self, message: str, action: str) -> None:
        if self.chat_view.current:
            self.chat_view.current.show_error(message, action)
        else:
            self.chat_view.add_notice(f"{message} {action}".strip(), error=True)
        self.statusBar().showMessage(message)

    def _on_chat_busy_changed(self, busy: bool) -> None:
        self.send_button.setText("Stop" if busy else "Send")
        self.send_button.setToolTip("Stop the answer (Esc)" if busy else "Send (Enter)")
        self.open_button.setEnabled(not busy)

    # -- model events ---------------------------------------------------------------------------

    def _on_models_load_started(self, name: str) -> None:
        self.model_label.setText(f"Loading {name}…")
        self.open_button.setEnabled(False)
        self.statusBar().showMessage(f"Loading {name}…")

    def _on_models_model_loaded(self, loaded: LoadedModel) -> None:
        self.open_button.setEnabled(True)
        kind = loaded.capabilities.thinking_kind
        self.model_label.setText(
            f"{loaded.name}  ·  {loaded.device} {loaded.dtype}  ·  "
            f"{format_bytes(loaded.weights_bytes)}"
        )
        self.think_switch.setEnabled(kind is ThinkingKind.HYBRID)
        self.think_switch.setChecked(kind is not ThinkingKind.INSTRUCT_ONLY)
        self.think_switch.setToolTip(thinking_switch_reason(kind))
        self.welcome.setVisible(False)
        self.chat_view.add_notice(
            f"Loaded {loaded.name} in {loaded.load_seconds:.1f} s on {loaded.device} "
            f"({kind.value}, context window {loaded.capabilities.context_window_tokens:,} tokens)."
        )
        self.statusBar().showMessage(f"{loaded.name} is ready.")
        self.prompt.setFocus()

    def _on_models_load_failed(self, message: str, action: str) -> None:
        self.open_button.setEnabled(True)
        loaded = self.models.loaded
        self.model_label.setText(loaded.name if loaded else "No model loaded")
        self.chat_view.add_notice(
            f"Could not load the model: {message} {action}".strip(), error=True
        )
        self.statusBar().showMessage("Loading failed.")

    def _on_hardware_scan_finished(self, machine: object) -> None:
        self.machine_panel.show_machine(machine)  # type: ignore[arg-type]
        self.hardware_page.show_machine(machine)  # type: ignore[arg-type]
        self.catalog_model.set_machine(machine)  # type: ignore[arg-type]
        self.statusBar().showMessage("Ready.", 4000)

    def _on_hardware_scan_failed(self, message: str) -> None:
        self.hardware_page.show_failure(message)
        self.statusBar().showMessage(f"Hardware scan failed: {message}")

    def _on_machine_panel_models_requested(self, task: str) -> None:
        combo = self.models_page.task_combo
        combo.setCurrentIndex(max(0, combo.findData(task)))
        self.tabs.setCurrentIndex(self.MODELS_TAB)

    async def shutdown(self) -> None:
        """Stop the running answer and background work, then free the model's memory."""
        for controller in (self.chat, self.models, self.hardware):
            await controller.shutdown()
        await self.models.backend.unload()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.chat.stop()
        super().closeEvent(event)
