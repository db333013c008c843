"""The Chats menu: export a chat as Markdown or JSON, import chats from a JSON export.

Exports carry the thinking (apart from the answer), timings, token counts, sampling settings
and images (JSON); Markdown puts each answer's thinking in a collapsed ``<details>`` block.
Files are written with the platform's file dialog; a file that cannot be written or read is
reported in the chat, and nothing in the history changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QWidget

from qwen_desktop.chat.ui.chat_page import ChatPage
from qwen_desktop.chat.ui.conversation_controller import ConversationController

JSON_FILTER = "qwen-desktop export (*.json)"
SaveDialog = Callable[[QWidget, str, str, str], str]
"""(parent, caption, suggested path, filter) → the chosen path, or "" when cancelled."""
OpenDialog = Callable[[QWidget, str, str], str]
"""(parent, caption, filter) → the chosen path, or "" when cancelled."""


def _save_dialog(parent: QWidget, caption: str, suggested: str, name_filter: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, caption, suggested, name_filter)
    return path


def _open_dialog(parent: QWidget, caption: str, name_filter: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, caption, "", name_filter)
    return path


def file_stem(title: str) -> str:
    """A file name for a chat title: letters of any script kept, path characters dropped."""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title).strip().strip(".")
    return re.sub(r"\s+", " ", stem)[:80] or "chat"


class ChatExchange(QObject):
    """Export and import actions for the page's chats (the Chats menu and the sidebar).

    Args:
        page: The Chat page (its controller, sidebar, transcript and status messages).
        save_dialog, open_dialog: File dialogs (replaceable in tests).

    :attr:`menu_actions` are the menu's entries, separators included, in order: the composition
    root puts them in the Chats menu and calls :meth:`refresh_actions` before it shows.
    Each action returns the file written or read, or None when cancelled or refused (the
    reason is shown in the chat).
    """

    def __init__(
        self,
        page: ChatPage,
        save_dialog: SaveDialog = _save_dialog,
        open_dialog: OpenDialog = _open_dialog,
    ) -> None:
        super().__init__(page)
        self.page = page
        self.chat: ConversationController = page.chat
        self.save_dialog = save_dialog
        self.open_dialog = open_dialog
        self.markdown_action = self._action(
            self.tr("Export this chat as &Markdown…"), lambda: self.export_current("markdown")
        )
        self.json_action = self._action(
            self.tr("Export this chat as &JSON…"), lambda: self.export_current("json")
        )
        self.all_action = self._action(self.tr("Export &all chats as JSON…"), self.export_all)
        self.import_action = self._action(self.tr("&Import chats (JSON)…"), self.import_file)
        self.menu_actions: list[QAction] = [
            page.new_chat_action,
            self._separator(),
            self.markdown_action,
            self.json_action,
            self.all_action,
            self._separator(),
            self.import_action,
        ]
        page.sidebar.export_requested.connect(self._on_sidebar_export_requested)
        self.refresh_actions()

    def _action(self, text: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        return action

    def _separator(self) -> QAction:
        separator = QAction(self)
        separator.setSeparator(True)
        return separator

    def _on_sidebar_export_requested(self, conversation_id: int, fmt: str) -> None:
        model = self.page.conversation_model
        record = model.conversation_at(model.row_of(conversation_id))
        self.export(conversation_id, (record.title if record is not None else "") or "chat", fmt)

    def refresh_actions(self) -> None:
        """Enable what can be done now (export needs a chat, import a history)."""
        has_current = self.chat.current is not None
        for action in (self.markdown_action, self.json_action):
            action.setEnabled(has_current)
        self.all_action.setEnabled(bool(self.chat.conversations()))
        self.import_action.setEnabled(self.chat.store is not None)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.page.add_notice(text, error)

    def export_current(self, fmt: str) -> Path | None:
        """Export the chat on screen (``markdown`` or ``json``)."""
        current = self.chat.current
        if current is None:
            self._say("Open a chat first: there is nothing to export yet.", error=True)
            return None
        return self.export(current.id, current.title or "chat", fmt)

    def export(self, conversation_id: int, title: str, fmt: str) -> Path | None:
        """Export one conversation to a file the user picks."""
        markdown = fmt == "markdown"
        suffix, name_filter = (".md", "Markdown (*.md)") if markdown else (".json", JSON_FILTER)
        chosen = self.save_dialog(self.page, "Export chat", file_stem(title) + suffix, name_filter)
        if not chosen:
            return None
        text = (
            self.chat.export_markdown(conversation_id)
            if markdown
            else self.chat.export_json([conversation_id])
        )
        return self._write(chosen, text, suffix)

    def export_all(self) -> Path | None:
        """Export every chat to one JSON file."""
        ids = [record.id for record in self.chat.conversations()]
        if not ids:
            self._say("There are no chats to export yet.", error=True)
            return None
        chosen = self.save_dialog(
            self.page,
            "Export all chats",
            "qwen-desktop chats.json",
            JSON_FILTER,
        )
        if not chosen:
            return None
        return self._write(chosen, self.chat.export_json(ids), ".json")

    def _write(self, chosen: str, text: str | None, suffix: str) -> Path | None:
        if text is None:  # store_failed already said why
            return None
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(suffix)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self._say(
                f"The chat could not be written to {path}: {exc.strerror or exc}. Pick another "
                "folder, or free some disk space.",
                error=True,
            )
            return None
        self.page.status_message.emit(f"Exported to {path}.", 6000)
        return path

    def import_file(self) -> Path | None:
        """Import chats from a qwen-desktop JSON export the user picks (all or nothing)."""
        chosen = self.open_dialog(self.page, "Import chats", f"{JSON_FILTER};;All files (*)")
        if not chosen:
            return None
        path = Path(chosen)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._say(f"{path} could not be read: {exc.strerror or exc}.", error=True)
            return None
        imported = self.chat.import_json(data, path.name)
        if not imported:
            return None  # store_failed said what is wrong with the file
        count = len(imported)
        self.page.status_message.emit(
            f"Imported {count} chat{'s' if count != 1 else ''} from {path.name}.", 6000
        )
        return path
