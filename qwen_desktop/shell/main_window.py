"""The main window: three pages in tabs.

* Chat: the conversations (above) and the machine panel with recommendations (below) on the
  left, the chat on the right;
* Models: the whole catalog with its fit on this computer (``models/ui/models_page.py``);
* Hardware: the full hardware report with each figure's source (``hardware/ui/hardware_page.py``).
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.image_preparation import FILE_DIALOG_FILTER
from qwen_desktop.chat.ui.chat_settings_panel import ChatSettingsButton
from qwen_desktop.chat.ui.chat_view import ChatView, Notice
from qwen_desktop.chat.ui.context_meter_bar import ContextMeterBar
from qwen_desktop.chat.ui.conversation_controller import ConversationController
from qwen_desktop.chat.ui.conversation_model import ConversationListModel
from qwen_desktop.chat.ui.conversation_sidebar import ConversationSidebar
from qwen_desktop.chat.ui.image_attachments import AttachmentStrip, vision_offer
from qwen_desktop.chat.ui.prompt_edit import PromptEdit
from qwen_desktop.chat.ui.system_prompt_picker import SystemPromptPicker
from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.conversation import thinking_switch_reason
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.storage import ConversationRecord, MessageRecord
from qwen_desktop.core.types import ThinkingKind, Usage
from qwen_desktop.core.units import format_bytes
from qwen_desktop.downloads.ui.downloads_controller import DownloadsController
from qwen_desktop.downloads.ui.downloads_panel import DownloadsPanel
from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.engines.ui.engine_controller import EngineController
from qwen_desktop.engines.ui.engine_ui import EngineUi
from qwen_desktop.engines.ui.model_controller import ModelController
from qwen_desktop.hardware.ui.hardware_controller import HardwareController
from qwen_desktop.hardware.ui.hardware_page import HardwarePage
from qwen_desktop.library.ui.library_model import LibraryController
from qwen_desktop.library.ui.library_page import LibraryPage
from qwen_desktop.models.ui.catalog_model import CatalogFitModel
from qwen_desktop.models.ui.machine_panel import MachinePanel
from qwen_desktop.models.ui.model_download import ModelDownloadAction
from qwen_desktop.models.ui.models_page import ModelsPage
from qwen_desktop.monitor.ui.monitor_controller import MonitorController
from qwen_desktop.monitor.ui.monitor_dock import MonitorDock, MonitorSummary, WindowWatcher

METER_TYPING_DELAY_MS = 300


def ask_yes_no(parent: QWidget, title: str, text: str, yes: str) -> bool:
    """A modal question; True when the user chose ``yes``."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    accept = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is accept


class EditMessageDialog(QDialog):
    """Edit a sent message; says how many later messages resending removes."""

    def __init__(self, text: str, later: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit and resend")
        self.resize(560, 260)
        self.editor = QPlainTextEdit(text)
        if later:
            what = f"the {later} later message{'s' if later != 1 else ''}"
            note = f"Resending removes {what} of this chat and answers the edited message."
        else:
            note = "Resending answers the edited message."
        self.note = QLabel(note)
        self.note.setWordWrap(True)
        self.note.setObjectName("editNote")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.resend = buttons.addButton(
            "Remove later messages and resend" if later else "Resend",
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)

    @property
    def text(self) -> str:
        """The edited text."""
        return self.editor.toPlainText()


class MainWindow(QMainWindow):
    """The app's window. It only talks to controllers and Qt models (never to backends).

    Args:
        chat: The conversation controller (send, stop, history).
        models: Loads models into the backend.
        hardware: Scans the machine and ranks recommendations.
        catalog_model: The catalog with fit estimates (Models page); default: a model over the
            bundled catalog.
    """

    CHAT_TAB, MODELS_TAB = 0, 1
    """Fixed places of the first two pages (later pages are found by widget: see install_*)."""
    vision_notice: Notice | None = None
    """The last notice offering a vision model (images attached, the model cannot see)."""
    _vision_offered_for: str | None = None

    def __init__(
        self,
        chat: ConversationController,
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
        self.conversation_model = ConversationListModel(self)
        self.sidebar = ConversationSidebar(self.conversation_model)
        self.chat_view = ChatView()
        self.prompt = PromptEdit()
        self.meter = ContextMeterBar()
        self.attachments = AttachmentStrip()
        self.store_banner = self._build_store_banner()
        self._meter_timer = QTimer(self)
        self._meter_timer.setSingleShot(True)
        self._meter_timer.setInterval(METER_TYPING_DELAY_MS)
        self.ask_yes_no = ask_yes_no
        """Asks the user a yes/no question (replaceable in tests)."""
        self.edit_dialog = EditMessageDialog
        """Builds the edit-and-resend dialog (replaceable in tests)."""
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
        self.chat_page = self._build_chat_page()
        self.tabs.addTab(self.chat_page, "Chat")
        self.tabs.addTab(self.models_page, "Models")
        self.tabs.addTab(self.hardware_page, "Hardware")
        self._tab_tips: dict[QWidget, str] = {
            self.chat_page: "Chat with the loaded model",
            self.models_page: "Every Qwen model and how it fits this computer",
            self.hardware_page: "What this computer has, and where each figure came from",
        }
        self._refresh_tab_tips()
        self.setCentralWidget(self.tabs)
        self.statusBar().showMessage("Scanning this computer…")
        self._connect()
        self.welcome: Notice | None = None
        self._show_welcome()
        self.refresh_conversations()
        if self.chat.store_error is not None:
            self._show_store_error()

    def _show_welcome(self) -> None:
        if self.models.loaded is None:
            self.welcome = self.chat_view.add_notice(
                "Open a Qwen model folder to start chatting. The list on the left shows which "
                "Qwen models fit this computer; the Models page compares them all."
            )
        else:
            self.welcome = self.chat_view.add_notice(
                f"New chat with {self.models.loaded.name}. Type below; Enter sends."
            )

    def _build_store_banner(self) -> QFrame:
        banner = QFrame()
        banner.setObjectName("storeBanner")
        self.store_message = QLabel()
        self.store_message.setWordWrap(True)
        self.store_message.setObjectName("noticeError")
        self.new_history_button = QPushButton("Start a new, empty chat history")
        self.new_history_button.clicked.connect(self._on_new_history_button_clicked)
        layout = QHBoxLayout(banner)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.store_message, 1)
        layout.addWidget(self.new_history_button, 0, Qt.AlignmentFlag.AlignVCenter)
        banner.setVisible(False)
        return banner

    def _show_store_error(self) -> None:
        error = self.chat.store_error
        if error is None:
            self.store_banner.setVisible(False)
            return
        self.store_message.setText(
            f"{error.message} {error.action}\nChats are not saved until this is solved."
        )
        self.new_history_button.setVisible(self.chat.damaged is not None)
        self.store_banner.setVisible(True)

    def _build_chat_header(self) -> QVBoxLayout:
        """The rows above the chat: the model and its folder button; prompt, thinking, settings."""
        # Two rows, so that a long model label or a narrow window never pushes the controls
        # (or the Send button below) out of the window: the label gives way and is clipped,
        # its tooltip keeps the whole text.
        self.model_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.model_label.setMinimumWidth(120)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model:"))
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(self.open_button)
        self.chat_view.image_loader = self._stored_image
        self.chat_view.earlier_loader = self.chat.earlier_messages
        self.system_prompts = SystemPromptPicker()
        self.system_prompts.prompt_chosen.connect(self._on_system_prompts_prompt_chosen)
        self.chat_settings = ChatSettingsButton(self.chat, self.think_switch, self.system_prompts)
        options_row = QHBoxLayout()
        options_row.addWidget(self.system_prompts)
        options_row.addStretch(1)
        options_row.addWidget(self.think_switch)
        options_row.addWidget(self.chat_settings)
        top = QVBoxLayout()
        top.setSpacing(4)
        top.addLayout(model_row)
        top.addLayout(options_row)
        return top

    def _build_chat_page(self) -> QWidget:
        top = self._build_chat_header()
        bottom = QHBoxLayout()
        bottom.addWidget(self.attachments.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        bottom.addWidget(self.prompt, 1)
        bottom.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(8, 8, 12, 8)
        column.addLayout(top)
        column.addWidget(self.store_banner)
        column.addWidget(self.chat_view, 1)
        column.addWidget(self.attachments)
        column.addLayout(bottom)
        column.addWidget(self.meter)
        left = QSplitter(Qt.Orientation.Vertical)
        left.setObjectName("leftColumn")
        left.addWidget(self.sidebar)
        machine_scroll = QScrollArea()
        machine_scroll.setObjectName("machineScroll")
        machine_scroll.setWidgetResizable(True)
        machine_scroll.setFrameShape(QFrame.Shape.NoFrame)
        machine_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        machine_scroll.setWidget(self.machine_panel)
        left.addWidget(machine_scroll)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 1)
        left.setCollapsible(0, False)
        left.setSizes([200, 520])
        self.left_splitter = left
        splitter = QSplitter()
        splitter.addWidget(left)
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
        self.new_chat_shortcut = QShortcut(QKeySequence("Ctrl+N"), self, self.new_chat)
        self.prompt.textChanged.connect(self._meter_timer.start)
        self.prompt.images_received.connect(self.attachments.add)
        self.attachments.attach_button.clicked.connect(self._on_attach_button_clicked)
        self.attachments.changed.connect(self._on_attachments_changed)
        self.attachments.failed.connect(self._on_attachments_failed)
        self._meter_timer.timeout.connect(self._refresh_meter)
        self.sidebar.new_requested.connect(self.new_chat)
        self.sidebar.selected.connect(self._on_sidebar_selected)
        self.sidebar.delete_requested.connect(self.delete_conversation)
        self.sidebar.search_changed.connect(lambda _query: self.refresh_conversations())
        self.conversation_model.title_edited.connect(self.chat.rename)
        self.chat_view.regenerate_requested.connect(self.regenerate)
        self.chat_view.edit_requested.connect(self.edit_message)
        self.chat.message_added.connect(self._on_chat_message_added)
        self.chat.message_updated.connect(self.chat_view.update_user)
        self.chat.message_finished.connect(self._on_chat_message_finished)
        self.chat.messages_removed.connect(self._on_chat_messages_removed)
        self.chat.conversation_opened.connect(self._on_chat_conversation_opened)
        self.chat.conversations_changed.connect(self.refresh_conversations)
        self.chat.context_changed.connect(self.meter.show_reading)
        self.chat.send_refused.connect(self._on_chat_send_refused)
        self.chat.store_failed.connect(self._on_chat_store_failed)
        for index in range(9):  # Ctrl+1… picks the tab in that place, whatever pages exist
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
            lambda: self.tabs.setCurrentWidget(self.hardware_page)
        )
        self.machine_panel.models_page_requested.connect(self._on_machine_panel_models_requested)

    # -- actions -------------------------------------------------------------------------------

    def send_prompt(self) -> None:
        """Send the prompt box's text (kept in the box when it cannot be sent)."""
        text = self.prompt.toPlainText().strip()
        images = self.attachments.inputs()
        if (not text and not images) or self.chat.busy:
            return
        if self.attachments.pending:
            self.statusBar().showMessage("An image is still being prepared…", 4000)
            return
        if self.models.loaded is None:
            self.chat_view.add_notice(
                "No model is loaded. Open a model folder first (your prompt is still in the box).",
                error=True,
            )
            return
        if self.chat.store is None:
            self.chat_view.add_notice(
                "The chat history is not available, so nothing can be saved. "
                "See the message above the chat (your prompt is still in the box).",
                error=True,
            )
            return
        self.chat.send(text, thinking=self.think_switch.isChecked(), images=images)

    def new_chat(self) -> None:
        """Start a new, empty chat (Ctrl+N)."""
        if self.chat.busy:
            self.statusBar().showMessage("Stop the answer first (Esc).", 4000)
            return
        self.chat.new_chat()
        self.prompt.setFocus()

    def refresh_conversations(self) -> None:
        """Fill the sidebar: every conversation, or the search's hits."""
        query = self.sidebar.search.text().strip()
        if query:
            self.conversation_model.set_hits(self.chat.search(query))
        else:
            self.conversation_model.set_conversations(self.chat.conversations())
        current = self.chat.current
        self.sidebar.select(current.id if current is not None else None)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation after asking."""
        store = self.chat.store
        if store is None:
            return
        row = self.conversation_model.row_of(conversation_id)
        record = self.conversation_model.conversation_at(row)
        title = record.title if record is not None and record.title else "this chat"
        count = record.message_count if record is not None else 0
        if self.ask_yes_no(
            self,
            "Delete chat",
            f"Delete “{title}” and its {count} messages? This cannot be undone.",
            "Delete",
        ):
            self.chat.delete(conversation_id)

    def regenerate(self) -> None:
        """Answer the last question again (the new answer replaces the last one)."""
        if self.models.loaded is None:
            self.chat_view.add_notice("No model is loaded. Open a model folder first.", error=True)
            return
        self.chat.regenerate(thinking=self.think_switch.isChecked())

    def edit_message(self, record: MessageRecord) -> None:
        """Edit a sent message in a dialog and resend it (later messages are removed)."""
        if self.chat.busy:
            return
        if self.models.loaded is None:
            self.chat_view.add_notice("No model is loaded. Open a model folder first.", error=True)
            return
        dialog = self.edit_dialog(record.content, self.chat.later_message_count(record.id), self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.text.strip():
            self.chat.edit_and_resend(
                record.id, dialog.text, thinking=self.think_switch.isChecked()
            )

    def _refresh_meter(self) -> None:
        if not self.chat.busy:
            self.chat.refresh_context(
                self.prompt.toPlainText().strip() or None, self.attachments.inputs()
            )

    def _on_sidebar_selected(self, conversation_id: int) -> None:
        current = self.chat.current
        if current is not None and current.id == conversation_id:
            return
        if not self.chat.open_conversation(conversation_id):
            self.statusBar().showMessage("Stop the answer first (Esc).", 4000)
            self.sidebar.select(current.id if current is not None else None)

    def _on_new_history_button_clicked(self) -> None:
        if self.chat.start_new_history():
            self._show_store_error()
            self.statusBar().showMessage("Started a new, empty chat history.", 6000)

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

    def _on_chat_turn_started(self, _prompt: str) -> None:
        self.statusBar().showMessage("Generating… (Esc stops)")

    def _on_chat_message_added(self, record: MessageRecord) -> None:
        if self.welcome is not None:
            self.welcome.setVisible(False)
        if record.role == "user":
            self.chat_view.add_user(record.content, record)
            self.prompt.clear()
            self.attachments.clear()
        elif record.role == "assistant":
            self.chat_view.start_answer(record)
            self.chat_view.set_busy(True)

    def _on_chat_message_finished(self, record: MessageRecord) -> None:
        if self.chat_view.current is not None:
            self.chat_view.current.record = record

    def _on_chat_messages_removed(self, position: int, _count: int) -> None:
        self.chat_view.remove_from(position)

    def _on_chat_conversation_opened(
        self, conversation: ConversationRecord | None, records: list[MessageRecord]
    ) -> None:
        total = conversation.message_count if conversation is not None else 0
        self.system_prompts.show_prompt(
            conversation.system_prompt if conversation is not None else self.chat.system_prompt
        )
        self.chat_view.show_records(records, more_before=max(0, total - len(records)))
        self.welcome = None
        if conversation is None:
            self._show_welcome()
        elif self.think_switch.isEnabled():
            self.think_switch.setChecked(conversation.thinking)
        self.sidebar.select(conversation.id if conversation is not None else None)
        self.setWindowTitle(
            f"{conversation.title or 'New chat'} — Qwen Desktop" if conversation else "Qwen Desktop"
        )

    def _on_chat_send_refused(self, message: str, action: str) -> None:
        self.chat_view.add_notice(
            f"{message} {action} (Your message is still in the box.)".strip(), error=True
        )
        self.statusBar().showMessage("Not sent.", 6000)

    def _on_chat_store_failed(self, message: str, action: str) -> None:
        self.chat_view.add_notice(f"{message} {action}".strip(), error=True)
        self.statusBar().showMessage("The chat history failed.", 6000)

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
        self.sidebar.new_button.setEnabled(not busy)
        self.sidebar.list.setEnabled(not busy)
        self.chat_view.set_busy(busy)
        current = self.chat.current
        if not busy and current is not None:
            self.setWindowTitle(f"{current.title or 'New chat'} — Qwen Desktop")

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
        if self.welcome is not None:
            self.welcome.setVisible(False)
        self.chat_view.add_notice(
            f"Loaded {loaded.name} in {loaded.load_seconds:.1f} s on {loaded.device} "
            f"({kind.value}, context window {loaded.capabilities.context_window_tokens:,} tokens)."
        )
        self.statusBar().showMessage(f"{loaded.name} is ready.")
        self.prompt.setFocus()
        self.meter.set_window(loaded.capabilities.context_window_tokens)
        self._refresh_meter()
        self._offer_vision()

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

    # -- images -------------------------------------------------------------------------------

    def _on_attach_button_clicked(self) -> None:
        files, _filter = QFileDialog.getOpenFileNames(self, "Attach images", "", FILE_DIALOG_FILTER)
        if files:
            self.attachments.add([Path(name) for name in files])

    def _on_attachments_changed(self) -> None:
        self._meter_timer.start()
        self._offer_vision()

    def _on_attachments_failed(self, message: str, action: str) -> None:
        self.chat_view.add_notice(f"{message} {action}".strip(), error=True)
        self.statusBar().showMessage("Image not attached.", 6000)

    def _offer_vision(self) -> None:
        """Images attached while a model that cannot see is loaded: offer a vision model."""
        loaded = self.models.loaded
        if loaded is None or loaded.capabilities.vision or not self.attachments.images:
            return
        if self._vision_offered_for == loaded.name:
            return
        self._vision_offered_for = loaded.name
        text, variant_id = vision_offer(
            self.catalog_model.catalog, loaded.name, self.models.loaded_path
        )
        notice = self.chat_view.add_notice(text, error=True)
        if variant_id:
            notice.setTextFormat(Qt.TextFormat.RichText)
            link = f'<a href="{html.escape(variant_id)}">Show it on the Models page</a>'
            notice.setText(f"{html.escape(text)} {link}")
            notice.linkActivated.connect(self._on_vision_link_activated)
        self.vision_notice = notice

    def _stored_image(self, sha256: str) -> bytes:
        store = self.chat.store
        if store is None:
            raise QwenDesktopError("The chat history is not available.")
        return store.image_bytes(sha256)

    def _on_system_prompts_prompt_chosen(self, text: str) -> None:
        if not self.chat.set_system_prompt(text):
            current = self.chat.current
            self.system_prompts.show_prompt(current.system_prompt if current else "")
            self.statusBar().showMessage("Stop the answer first (Esc).", 4000)

    def _on_vision_link_activated(self, variant_id: str) -> None:
        self.tabs.setCurrentIndex(self.MODELS_TAB)
        self.models_page.select_variant(variant_id)

    def install_monitor(self, monitor: MonitorController) -> None:
        """Add the resource monitor: a dock (hidden at first; View → Monitor, Ctrl+M) and a
        summary in the status bar that opens it. Sampling slows down while the dock is hidden
        and pauses while the window is minimised."""
        self.monitor = monitor
        self.monitor_dock = MonitorDock(monitor, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.monitor_dock)
        self.monitor_dock.hide()
        self.monitor_summary = MonitorSummary(monitor)
        self.statusBar().addPermanentWidget(self.monitor_summary)
        toggle = self.monitor_dock.toggleViewAction()
        toggle.setText("&Monitor")
        toggle.setShortcut(QKeySequence("Ctrl+M"))
        self.menuBar().addMenu("&View").addAction(toggle)
        self.monitor_summary.clicked.connect(self.show_monitor)
        WindowWatcher(self, self.monitor_dock)
        monitor.set_shown(dock=False, summary=True)

    def install_downloads(self, downloads: DownloadsController) -> None:
        """Add the Downloads page (progress bars; pause, resume, cancel) after Models."""
        self.downloads = downloads
        self.downloads_panel = DownloadsPanel(downloads)
        self.tabs.insertTab(
            self.tabs.indexOf(self.models_page) + 1, self.downloads_panel, "Downloads"
        )
        self._tab_tips[self.downloads_panel] = "Model downloads: progress, pause, resume, cancel"
        self._refresh_tab_tips()

    def install_library(self, library: LibraryController) -> None:
        """Add the Library page after Downloads (or Models) and, once downloads are installed,
        the Models page's Download action; "Open in chat" loads the folder and shows the chat."""
        self.library = library
        self.library_page = LibraryPage(library)
        after = getattr(self, "downloads_panel", self.models_page)
        self.tabs.insertTab(self.tabs.indexOf(after) + 1, self.library_page, "Library")
        self._tab_tips[self.library_page] = "Installed models: open, delete, import, move"
        self._refresh_tab_tips()
        self.library_page.open_requested.connect(self.models.load_folder)
        self.library_page.open_requested.connect(
            lambda _p: self.tabs.setCurrentIndex(self.CHAT_TAB)
        )
        if getattr(self, "downloads", None) is not None:
            self.model_download = ModelDownloadAction(self.models_page, self.downloads)

    def _refresh_tab_tips(self) -> None:
        """Tab tooltips with their current Ctrl+digit shortcut (pages can be inserted later)."""
        for widget, tip in self._tab_tips.items():
            index = self.tabs.indexOf(widget)
            if index >= 0:
                self.tabs.setTabToolTip(index, f"{tip} (Ctrl+{index + 1})")

    def show_monitor(self) -> None:
        """Show the monitor dock."""
        self.monitor_dock.show()
        self.monitor_dock.raise_()

    def install_engine_ui(self, engines: EngineController) -> None:
        """Add engine choice (Engine menu, Ctrl+E; the status bar's engine button), the engine
        log dock (Ctrl+L) and the engine's notices in the chat (see ``engines/ui/engine_ui.py``)."""
        self.engines = engines
        self.engine_ui = EngineUi(
            self,
            engines,
            self.model_label,
            lambda text, error: self.chat_view.add_notice(text, error=error),
        )

    async def shutdown(self) -> None:
        """Stop the running answer and background work, then free the model's memory."""
        for controller in (self.chat, self.models, self.hardware):
            await controller.shutdown()
        downloads = getattr(self, "downloads", None)
        if downloads is not None:
            await downloads.shutdown()
        library = getattr(self, "library", None)
        if library is not None:
            await library.shutdown()
        monitor = getattr(self, "monitor", None)
        if monitor is not None:
            await monitor.shutdown()
        await self.models.backend.unload()
        engines = getattr(self, "engines", None)
        if engines is not None:  # after the unload: the embedded Ollama serves it
            await engines.shutdown()
        self.chat.close_store()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.chat.stop()
        super().closeEvent(event)
