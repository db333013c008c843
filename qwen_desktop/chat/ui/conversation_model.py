"""The conversation list as a Qt model: titles, newest first, editable (rename)."""

from __future__ import annotations

import html
import time
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from qwen_desktop.core.storage import MATCH_END, MATCH_START, ConversationRecord, SearchHit

UNTITLED = "New chat"
ID_ROLE = Qt.ItemDataRole.UserRole + 1
"""The conversation's id (int)."""
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 2
"""The second line under a title, as HTML: a search hit's snippet with the matched words in
bold, else when the chat was last used, its size and model."""

_Index = QModelIndex | QPersistentModelIndex


def age_text(then: float, now: float | None = None) -> str:
    """ "just now", "5 min ago", "3 h ago", "2 days ago", or the date."""
    seconds = max(0.0, (time.time() if now is None else now) - then)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    if seconds < 7 * 86400:
        days = seconds // 86400
        return f"{days:.0f} day{'s' if days > 1 else ''} ago"
    return time.strftime("%Y-%m-%d", time.localtime(then))


def snippet_html(snippet: str) -> str:
    """A search snippet as HTML, the matched words in bold."""
    text = html.escape(" ".join(snippet.split()))
    return text.replace(MATCH_START, "<b>").replace(MATCH_END, "</b>")


class ConversationListModel(QAbstractListModel):
    """Conversations (or search hits) for the sidebar.

    Signals:
        title_edited(int, str): The user renamed a conversation in the view (id, new title).
    """

    title_edited = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._records: list[ConversationRecord] = []
        self._snippets: dict[int, str] = {}

    def set_conversations(self, records: list[ConversationRecord]) -> None:
        """Show these conversations, in this order."""
        self.beginResetModel()
        self._records = list(records)
        self._snippets = {}
        self.endResetModel()

    def set_hits(self, hits: list[SearchHit]) -> None:
        """Show search results (the snippet as tooltip)."""
        self.beginResetModel()
        self._records = [hit.conversation for hit in hits]
        self._snippets = {hit.conversation.id: hit.snippet for hit in hits}
        self.endResetModel()

    def conversation_at(self, row: int) -> ConversationRecord | None:
        """The conversation on this row, or None."""
        return self._records[row] if 0 <= row < len(self._records) else None

    def row_of(self, conversation_id: int) -> int:
        """The row showing this conversation, or -1."""
        return next((i for i, r in enumerate(self._records) if r.id == conversation_id), -1)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        record = self.conversation_at(index.row()) if index.isValid() else None
        if record is None:
            return None
        title = record.title or UNTITLED
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.EditRole:
            return record.title
        if role == ID_ROLE:
            return record.id
        if role == DETAIL_ROLE:
            snippet = self._snippets.get(record.id)
            if snippet:
                return snippet_html(snippet)
            facts = [age_text(record.updated_at), f"{record.message_count} messages"]
            if record.model:
                facts.append(record.model)
            return html.escape(" · ".join(facts))
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [
                f"<b>{html.escape(title)}</b>",
                f"{record.message_count} messages · {age_text(record.updated_at)}",
            ]
            if record.model:
                lines.append(html.escape(record.model))
            snippet = self._snippets.get(record.id)
            if snippet:
                lines.append(f"… {snippet_html(snippet)} …")
            return "<br>".join(lines)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return super().flags(index) | Qt.ItemFlag.ItemIsEditable

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        record = self.conversation_at(index.row()) if index.isValid() else None
        title = " ".join(str(value).split())
        if record is None or role != Qt.ItemDataRole.EditRole or not title:
            return False
        if title != record.title:
            self.title_edited.emit(record.id, title)
        return True
