"""The Chat page: the conversations (and what the composition puts under them) on the left, the
chat on the right: model header, transcript, images, prompt, Send and the context meter.

The page binds to its controllers itself. A streamed token goes from the
:class:`~qwen_desktop.chat.ui.conversation_controller.ConversationController`'s signal straight
into the answer being written (:meth:`ChatPage._bind_answer`): no window or page slot relays
it. What the page has to say outside itself goes out as signals (``status_message``,
``title_changed``, ``variant_requested``) that the composition root connects to the shell.
"""

from __future__ import annotations

import html
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.image_preparation import FILE_DIALOG_FILTER
from qwen_desktop.chat.ui.chat_dialogs import EditMessageDialog, ask_yes_no
from qwen_desktop.chat.ui.chat_settings_panel import ChatSettingsButton
from qwen_desktop.chat.ui.chat_view import AssistantMessage, ChatView, Notice
from qwen_desktop.chat.ui.context_meter_bar import ContextMeterBar
from qwen_desktop.chat.ui.conversation_controller import ConversationController
from qwen_desktop.chat.ui.conversation_model import ConversationListModel
from qwen_desktop.chat.ui.conversation_sidebar import ConversationSidebar
from qwen_desktop.chat.ui.image_attachments import AttachmentStrip, vision_offer
from qwen_desktop.chat.ui.model_row import ModelRow
from qwen_desktop.chat.ui.prompt_edit import PromptEdit
from qwen_desktop.chat.ui.system_prompt_picker import SystemPromptPicker
from qwen_desktop.core.catalog import Catalog
from qwen_desktop.core.conversation import thinking_switch_reason
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.storage import ConversationRecord, MessageRecord
from qwen_desktop.core.types import ThinkingKind, Usage
from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.engines.ui.model_controller import ModelController

METER_TYPING_DELAY_MS = 300
"""The context meter is measured again this long after the last keystroke (ms)."""
STATUS_SHORT_MS, STATUS_LONG_MS = 4000, 6000
"""How long passing status-bar messages stay (ms)."""


class ChatPage(QWidget):
    """The Chat page (see the module docstring).

    Args:
        chat: The conversation controller (send, stop, history, the streamed answer).
        models: Loads models (the header's model, the folder button, the thinking switch).
        catalog: The model catalog (the vision model offered when images meet a text model).
        side: Shown under the conversations, scrolled (the machine panel); None: nothing.

    Signals:
        status_message(str, int): A status-bar message and how long it stays (ms; 0: until
            the next one).
        title_changed(str): The window title for the chat on screen.
        variant_requested(str): The user asked to see this catalog variant (its id).
    """

    status_message = Signal(str, int)
    title_changed = Signal(str)
    variant_requested = Signal(str)

    def __init__(
        self,
        chat: ConversationController,
        models: ModelController,
        catalog: Catalog,
        side: QWidget | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.chat, self.models, self.catalog = chat, models, catalog
        self.ask_yes_no = ask_yes_no
        """Asks the user a yes/no question (replaceable in tests)."""
        self.edit_dialog = EditMessageDialog
        """Builds the edit-and-resend dialog (replaceable in tests)."""
        self.welcome: Notice | None = None
        self.vision_notice: Notice | None = None
        """The last notice offering a vision model (images attached, the model cannot see)."""
        self._vision_offered_for: str | None = None
        self._bound: AssistantMessage | None = None
        self._meter_timer = QTimer(self)
        self._meter_timer.setSingleShot(True)
        self._meter_timer.setInterval(METER_TYPING_DELAY_MS)
        self._build_widgets()
        self._lay_out(side)
        self._connect()
        self._show_welcome()
        self.refresh_conversations()
        if chat.store_error is not None:
            self._show_store_error()

    # -- building ---------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.conversation_model = ConversationListModel(self)
        self.sidebar = ConversationSidebar(self.conversation_model)
        self.chat_view = ChatView()
        self.chat_view.image_loader = self._stored_image
        self.chat_view.earlier_loader = self.chat.earlier_messages
        self.prompt = PromptEdit()
        self.meter = ContextMeterBar()
        self.attachments = AttachmentStrip()
        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.model_row = ModelRow(self.models)
        self.model_label, self.open_button = self.model_row.label, self.model_row.open_button
        self.think_switch = QCheckBox(self.tr("Think before answering"))
        self.think_switch.setChecked(True)
        self.think_switch.setEnabled(False)
        self.think_switch.setToolTip(self.tr("Load a model first."))
        self.system_prompts = SystemPromptPicker()
        self.chat_settings = ChatSettingsButton(self.chat, self.think_switch, self.system_prompts)
        self.store_banner = QFrame()
        self.store_banner.setObjectName("storeBanner")
        self.store_message = QLabel()
        self.store_message.setWordWrap(True)
        self.store_message.setObjectName("noticeError")
        self.new_history_button = QPushButton(self.tr("Start a new, empty chat history"))
        banner = QHBoxLayout(self.store_banner)
        banner.setContentsMargins(8, 6, 8, 6)
        banner.addWidget(self.store_message, 1)
        banner.addWidget(self.new_history_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.store_banner.setVisible(False)
        self.new_chat_action = QAction(self.tr("&New chat"), self)
        self.new_chat_action.setShortcut(QKeySequence.StandardKey.New)
        if self.new_chat_action.shortcut().isEmpty():
            self.new_chat_action.setShortcut(QKeySequence("Ctrl+N"))
        self.addAction(self.new_chat_action)  # the shortcut works with or without a menu

    def _header(self) -> QVBoxLayout:
        """The rows above the chat: the model and its folder button; prompt, thinking, settings
        (two rows, so that a narrow window never pushes the controls out of it)."""
        options_row = QHBoxLayout()
        options_row.addWidget(self.system_prompts)
        options_row.addStretch(1)
        options_row.addWidget(self.think_switch)
        options_row.addWidget(self.chat_settings)
        top = QVBoxLayout()
        top.setSpacing(4)
        top.addWidget(self.model_row)
        top.addLayout(options_row)
        return top

    def _lay_out(self, side: QWidget | None) -> None:
        bottom = QHBoxLayout()
        bottom.addWidget(self.attachments.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        bottom.addWidget(self.prompt, 1)
        bottom.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(8, 8, 12, 8)
        column.addLayout(self._header())
        column.addWidget(self.store_banner)
        column.addWidget(self.chat_view, 1)
        column.addWidget(self.attachments)
        column.addLayout(bottom)
        column.addWidget(self.meter)
        left = QSplitter(Qt.Orientation.Vertical)
        left.setObjectName("leftColumn")
        left.addWidget(self.sidebar)
        if side is not None:
            scroll = QScrollArea()
            scroll.setObjectName("machineScroll")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(side)
            left.addWidget(scroll)
            left.setStretchFactor(0, 1)
            left.setStretchFactor(1, 1)
            left.setSizes([200, 520])
        left.setCollapsible(0, False)
        self.left_splitter = left
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 860])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _connect(self) -> None:
        chat, models = self.chat, self.models
        self.prompt.submitted.connect(self.send_prompt)
        self.prompt.stop_requested.connect(chat.stop)
        self.prompt.textChanged.connect(self._meter_timer.start)
        self.prompt.images_received.connect(self.attachments.add)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.new_history_button.clicked.connect(self._on_new_history_button_clicked)
        self.new_chat_action.triggered.connect(self.new_chat)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, chat.stop)
        self.attachments.attach_button.clicked.connect(self._on_attach_button_clicked)
        self.attachments.changed.connect(self._on_attachments_changed)
        self.attachments.failed.connect(self._on_attachments_failed)
        self._meter_timer.timeout.connect(self._refresh_meter)
        self.system_prompts.prompt_chosen.connect(self._on_system_prompts_prompt_chosen)
        self.sidebar.new_requested.connect(self.new_chat)
        self.sidebar.selected.connect(self._on_sidebar_selected)
        self.sidebar.delete_requested.connect(self.delete_conversation)
        self.sidebar.search_changed.connect(lambda _query: self.refresh_conversations())
        self.conversation_model.title_edited.connect(chat.rename)
        self.chat_view.regenerate_requested.connect(self.regenerate)
        self.chat_view.edit_requested.connect(self.edit_message)
        chat.message_added.connect(self._on_chat_message_added)
        chat.message_updated.connect(self.chat_view.update_user)
        chat.message_finished.connect(self._on_chat_message_finished)
        chat.messages_removed.connect(self._on_chat_messages_removed)
        chat.conversation_opened.connect(self._on_chat_conversation_opened)
        chat.conversations_changed.connect(self.refresh_conversations)
        chat.context_changed.connect(self.meter.show_reading)
        chat.send_refused.connect(self._on_chat_send_refused)
        chat.store_failed.connect(self._on_chat_store_failed)
        chat.turn_started.connect(self._on_chat_turn_started)
        chat.turn_finished.connect(self._on_chat_turn_finished)
        chat.turn_stopped.connect(self._on_chat_turn_stopped)
        chat.turn_failed.connect(self._on_chat_turn_failed)
        chat.busy_changed.connect(self._on_chat_busy_changed)
        models.load_started.connect(self._on_models_load_started)
        models.model_loaded.connect(self._on_models_model_loaded)
        models.load_failed.connect(self._on_models_load_failed)

    # -- the streamed answer ----------------------------------------------------------------

    def _bind_answer(self, answer: AssistantMessage) -> None:
        """The controller's stream goes straight into ``answer`` until the turn ends."""
        self._unbind_answer()
        chat = self.chat
        chat.thinking_received.connect(answer.add_thinking)
        chat.answer_received.connect(answer.add_answer)
        chat.thinking_reclassified.connect(answer.reclassify)
        chat.turn_finished.connect(answer.finish)
        chat.turn_stopped.connect(answer.mark_stopped)
        self._bound = answer

    def _unbind_answer(self) -> None:
        answer, self._bound = self._bound, None
        if answer is None or not shiboken6.isValid(answer):
            return  # a deleted widget's connections went with it
        chat = self.chat
        chat.thinking_received.disconnect(answer.add_thinking)
        chat.answer_received.disconnect(answer.add_answer)
        chat.thinking_reclassified.disconnect(answer.reclassify)
        chat.turn_finished.disconnect(answer.finish)
        chat.turn_stopped.disconnect(answer.mark_stopped)

    # -- actions ----------------------------------------------------------------------------

    def add_notice(self, text: str, error: bool = False) -> Notice:
        """A notice line in the transcript (``error``: shown as an error)."""
        return self.chat_view.add_notice(text, error=error)

    def _no_model_notice(self) -> None:
        self.add_notice(self.tr("No model is loaded. Open a model folder first."), error=True)

    def send_prompt(self) -> None:
        """Send the prompt box's text (kept in the box when it cannot be sent)."""
        text = self.prompt.toPlainText().strip()
        images = self.attachments.inputs()
        if (not text and not images) or self.chat.busy:
            return
        if self.attachments.pending:
            self.status_message.emit(self.tr("An image is still being prepared…"), STATUS_SHORT_MS)
            return
        if self.models.loaded is None:
            self.add_notice(
                self.tr(
                    "No model is loaded. Open a model folder first (your prompt is still in "
                    "the box)."
                ),
                error=True,
            )
            return
        if self.chat.store is None:
            self.add_notice(
                self.tr(
                    "The chat history is not available, so nothing can be saved. See the "
                    "message above the chat (your prompt is still in the box)."
                ),
                error=True,
            )
            return
        self.chat.send(text, thinking=self.think_switch.isChecked(), images=images)

    def new_chat(self) -> None:
        """Start a new, empty chat (Ctrl+N)."""
        if self.chat.busy:
            self.status_message.emit(self.tr("Stop the answer first (Esc)."), STATUS_SHORT_MS)
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
        if self.chat.store is None:
            return
        record = self.conversation_model.conversation_at(
            self.conversation_model.row_of(conversation_id)
        )
        title = record.title if record is not None and record.title else self.tr("this chat")
        count = record.message_count if record is not None else 0
        if self.ask_yes_no(
            self,
            self.tr("Delete chat"),
            self.tr("Delete “{title}” and its {count} messages? This cannot be undone.").format(
                title=title, count=count
            ),
            self.tr("Delete"),
        ):
            self.chat.delete(conversation_id)

    def regenerate(self) -> None:
        """Answer the last question again (the new answer replaces the last one)."""
        if self.models.loaded is None:
            self._no_model_notice()
            return
        self.chat.regenerate(thinking=self.think_switch.isChecked())

    def edit_message(self, record: MessageRecord) -> None:
        """Edit a sent message in a dialog and resend it (later messages are removed)."""
        if self.chat.busy:
            return
        if self.models.loaded is None:
            self._no_model_notice()
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

    def _show_welcome(self) -> None:
        loaded = self.models.loaded
        if loaded is None:
            text = self.tr(
                "Open a Qwen model folder to start chatting. The list on the left shows which "
                "Qwen models fit this computer; the Models page compares them all."
            )
        else:
            text = self.tr("New chat with {name}. Type below; Enter sends.").format(
                name=loaded.name
            )
        self.welcome = self.add_notice(text)

    def _show_store_error(self) -> None:
        error = self.chat.store_error
        if error is None:
            self.store_banner.setVisible(False)
            return
        self.store_message.setText(
            f"{error.message} {error.action}\n"
            + self.tr("Chats are not saved until this is solved.")
        )
        self.new_history_button.setVisible(self.chat.damaged is not None)
        self.store_banner.setVisible(True)

    def _stored_image(self, sha256: str) -> bytes:
        store = self.chat.store
        if store is None:
            raise QwenDesktopError(self.tr("The chat history is not available."))
        return store.image_bytes(sha256)

    def _window_title(self, conversation: ConversationRecord | None) -> str:
        if conversation is None:
            return self.tr("Qwen Desktop")
        title = conversation.title or self.tr("New chat")
        return self.tr("{title} — Qwen Desktop").format(title=title)

    # -- the user's clicks ------------------------------------------------------------------

    def _on_sidebar_selected(self, conversation_id: int) -> None:
        current = self.chat.current
        if current is not None and current.id == conversation_id:
            return
        if not self.chat.open_conversation(conversation_id):
            self.status_message.emit(self.tr("Stop the answer first (Esc)."), STATUS_SHORT_MS)
            self.sidebar.select(current.id if current is not None else None)

    def _on_new_history_button_clicked(self) -> None:
        if self.chat.start_new_history():
            self._show_store_error()
            self.status_message.emit(self.tr("Started a new, empty chat history."), STATUS_LONG_MS)

    def _on_send_button_clicked(self) -> None:
        if self.chat.busy:
            self.chat.stop()
        else:
            self.send_prompt()

    def _on_system_prompts_prompt_chosen(self, text: str) -> None:
        if not self.chat.set_system_prompt(text):
            current = self.chat.current
            self.system_prompts.show_prompt(current.system_prompt if current else "")
            self.status_message.emit(self.tr("Stop the answer first (Esc)."), STATUS_SHORT_MS)

    # -- the conversation's events ----------------------------------------------------------

    def _on_chat_turn_started(self, _prompt: str) -> None:
        self.status_message.emit(self.tr("Generating… (Esc stops)"), 0)

    def _on_chat_message_added(self, record: MessageRecord) -> None:
        if self.welcome is not None:
            self.welcome.setVisible(False)
        if record.role == "user":
            self.chat_view.add_user(record.content, record)
            self.prompt.clear()
            self.attachments.clear()
        elif record.role == "assistant":
            self._bind_answer(self.chat_view.start_answer(record))
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
        self.title_changed.emit(self._window_title(conversation))

    def _on_chat_send_refused(self, message: str, action: str) -> None:
        note = self.tr("(Your message is still in the box.)")
        self.add_notice(f"{message} {action} {note}".strip(), error=True)
        self.status_message.emit(self.tr("Not sent."), STATUS_LONG_MS)

    def _on_chat_store_failed(self, message: str, action: str) -> None:
        self.add_notice(f"{message} {action}".strip(), error=True)
        self.status_message.emit(self.tr("The chat history failed."), STATUS_LONG_MS)

    def _on_chat_turn_finished(self, usage: Usage) -> None:
        self.status_message.emit(
            self.tr(
                "{speed:.1f} tokens/s · {tokens} tokens · time to first token {ttft:.2f} s"
            ).format(
                speed=usage.tokens_per_second,
                tokens=usage.generated_tokens,
                ttft=usage.ttft_seconds,
            ),
            0,
        )

    def _on_chat_turn_stopped(self) -> None:
        self.status_message.emit(self.tr("Stopped."), 0)

    def _on_chat_turn_failed(self, message: str, action: str) -> None:
        if self.chat_view.current:
            self.chat_view.current.show_error(message, action)
        else:
            self.add_notice(f"{message} {action}".strip(), error=True)
        self.status_message.emit(message, 0)

    def _on_chat_busy_changed(self, busy: bool) -> None:
        if not busy:
            self._unbind_answer()
        self.send_button.setText(self.tr("Stop") if busy else self.tr("Send"))
        self.send_button.setToolTip(
            self.tr("Stop the answer (Esc)") if busy else self.tr("Send (Enter)")
        )
        self.open_button.setEnabled(not busy)
        self.sidebar.new_button.setEnabled(not busy)
        self.sidebar.list.setEnabled(not busy)
        self.chat_view.set_busy(busy)
        current = self.chat.current
        if not busy and current is not None:
            self.title_changed.emit(self._window_title(current))

    # -- the model's events -----------------------------------------------------------------

    def _on_models_load_started(self, name: str) -> None:
        self.status_message.emit(self.tr("Loading {name}…").format(name=name), 0)

    def _on_models_model_loaded(self, loaded: LoadedModel) -> None:
        kind = loaded.capabilities.thinking_kind
        self.think_switch.setEnabled(kind is ThinkingKind.HYBRID)
        self.think_switch.setChecked(kind is not ThinkingKind.INSTRUCT_ONLY)
        self.think_switch.setToolTip(thinking_switch_reason(kind))
        if self.welcome is not None:
            self.welcome.setVisible(False)
        self.add_notice(
            self.tr(
                "Loaded {name} in {seconds:.1f} s on {device} ({kind}, context window "
                "{window:,} tokens)."
            ).format(
                name=loaded.name,
                seconds=loaded.load_seconds,
                device=loaded.device,
                kind=kind.value,
                window=loaded.capabilities.context_window_tokens,
            )
        )
        self.status_message.emit(self.tr("{name} is ready.").format(name=loaded.name), 0)
        self.prompt.setFocus()
        self.meter.set_window(loaded.capabilities.context_window_tokens)
        self._refresh_meter()
        self._offer_vision()

    def _on_models_load_failed(self, message: str, action: str) -> None:
        self.add_notice(
            self.tr("Could not load the model: {message} {action}")
            .format(message=message, action=action)
            .strip(),
            error=True,
        )
        self.status_message.emit(self.tr("Loading failed."), 0)

    # -- images -----------------------------------------------------------------------------

    def _on_attach_button_clicked(self) -> None:
        files, _filter = QFileDialog.getOpenFileNames(
            self, self.tr("Attach images"), "", FILE_DIALOG_FILTER
        )
        if files:
            self.attachments.add([Path(name) for name in files])

    def _on_attachments_changed(self) -> None:
        self._meter_timer.start()
        self._offer_vision()

    def _on_attachments_failed(self, message: str, action: str) -> None:
        self.add_notice(f"{message} {action}".strip(), error=True)
        self.status_message.emit(self.tr("Image not attached."), STATUS_LONG_MS)

    def _offer_vision(self) -> None:
        """Images attached while a model that cannot see is loaded: offer a vision model."""
        loaded = self.models.loaded
        if loaded is None or loaded.capabilities.vision or not self.attachments.images:
            return
        if self._vision_offered_for == loaded.name:
            return
        self._vision_offered_for = loaded.name
        text, variant_id = vision_offer(self.catalog, loaded.name, self.models.loaded_path)
        notice = self.add_notice(text, error=True)
        if variant_id:
            notice.setTextFormat(Qt.TextFormat.RichText)
            link = self.tr("Show it on the Models page")
            notice.setText(
                f'{html.escape(text)} <a href="{html.escape(variant_id)}">{html.escape(link)}</a>'
            )
            notice.linkActivated.connect(self.variant_requested)
        self.vision_notice = notice
