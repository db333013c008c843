"""The conversation sidebar: New chat, a search box and the list of conversations."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.ui.conversation_delegate import ConversationDelegate
from qwen_desktop.chat.ui.conversation_model import ID_ROLE, ConversationListModel

SEARCH_DELAY_MS = 250


class ConversationSidebar(QWidget):
    """New chat, search, and the conversations (newest first).

    Double-click or F2 renames in place; the context menu renames or deletes.

    Signals:
        new_requested(): New chat was clicked.
        selected(int): A conversation was chosen (its id).
        delete_requested(int): Delete was chosen for a conversation (not yet confirmed).
        export_requested(int, str): Export a conversation as ``markdown`` or ``json``.
        search_changed(str): The search text changed (debounced; empty: show all).
    """

    new_requested = Signal()
    selected = Signal(int)
    delete_requested = Signal(int)
    export_requested = Signal(int, str)
    search_changed = Signal(str)

    def __init__(self, model: ConversationListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationSidebar")
        self.model = model
        self.new_button = QPushButton("New chat")
        self.new_button.setObjectName("newChatButton")
        self.new_button.setToolTip("Start a new chat (Ctrl+N)")
        self.search = QLineEdit()
        self.search.setObjectName("conversationSearch")
        self.search.setPlaceholderText("Search chats…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Find chats by words in their titles, answers or thinking")
        self.list = QListView()
        self.list.setObjectName("conversationList")
        self.list.setModel(model)
        self.list.setItemDelegate(ConversationDelegate(self.list))
        self.list.setUniformItemSizes(True)
        triggers = QAbstractItemView.EditTrigger
        self.list.setEditTriggers(triggers.DoubleClicked | triggers.EditKeyPressed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.empty = QLabel("No chats yet.")
        self.empty.setObjectName("emptyNotice")
        self.empty.setWordWrap(True)

        title = QLabel("Chats")
        title.setObjectName("sectionTitle")
        header = QHBoxLayout()
        header.addWidget(title, 1)
        header.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 4)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(
            lambda: self.search_changed.emit(self.search.text().strip())
        )
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.new_button.clicked.connect(self.new_requested)
        self.list.clicked.connect(self._on_list_activated)
        self.list.activated.connect(self._on_list_activated)
        self.list.customContextMenuRequested.connect(self._on_list_context_menu)
        model.modelReset.connect(self._on_model_reset)
        self._on_model_reset()

    def select(self, conversation_id: int | None) -> None:
        """Highlight this conversation in the list (None: no selection)."""
        row = -1 if conversation_id is None else self.model.row_of(conversation_id)
        selection = self.list.selectionModel()
        if row < 0:
            selection.clearSelection()
            self.list.setCurrentIndex(QModelIndex())
            return
        index = self.model.index(row, 0)
        self.list.setCurrentIndex(index)

    def rename(self, conversation_id: int) -> None:
        """Start editing a conversation's title in place."""
        row = self.model.row_of(conversation_id)
        if row >= 0:
            self.list.edit(self.model.index(row, 0))

    def _on_model_reset(self) -> None:
        empty = self.model.rowCount() == 0
        searching = bool(self.search.text().strip())
        self.empty.setText("No chat matches this search." if searching else "No chats yet.")
        self.empty.setVisible(empty)

    def _on_list_activated(self, index: QModelIndex) -> None:
        conversation_id = index.data(ID_ROLE)
        if conversation_id is not None:
            self.selected.emit(int(conversation_id))

    def _on_list_context_menu(self, point: QPoint) -> None:
        index = self.list.indexAt(point)
        conversation_id = index.data(ID_ROLE)
        if conversation_id is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.list.edit(index))
        menu.addAction(
            "Export as Markdown…",
            lambda: self.export_requested.emit(int(conversation_id), "markdown"),
        )
        menu.addAction(
            "Export as JSON…", lambda: self.export_requested.emit(int(conversation_id), "json")
        )
        menu.addAction("Delete…", lambda: self.delete_requested.emit(int(conversation_id)))
        menu.exec(self.list.viewport().mapToGlobal(point))
