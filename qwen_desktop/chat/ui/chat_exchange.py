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

from PySide6.QtWidgets import QFileDialog, QMainWindow, QWidget

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


class ChatExchange:
    """Export and import actions for the window's chats (the Chats menu and the sidebar).

    Args:
        window: The main window (its ``chat`` controller, ``chat_view`` and status bar).
        save_dialog, open_dialog: File dialogs (replaceable in tests).

    Each action returns the file written or read, or None when cancelled or refused (the
    reason is shown in the chat).
    """

    def __init__(
        self,
        window: QMainWindow,
        save_dialog: SaveDialog = _save_dialog,
        open_dialog: OpenDialog = _open_dialog,
    ) -> None:
        self.window = window
        self.chat: ConversationController = window.chat  # type: ignore[attr-defined]
        self.save_dialog = save_dialog
        self.open_dialog = open_dialog
        menu = window.menuBar().addMenu("&Chats")
        menu.addAction("New chat (Ctrl+N)", window.new_chat)  # type: ignore[attr-defined]
        menu.addSeparator()
        self.markdown_action = menu.addAction(
            "Export this chat as Markdown…", lambda: self.export_current("markdown")
        )
        self.json_action = menu.addAction(
            "Export this chat as JSON…", lambda: self.export_current("json")
        )
        self.all_action = menu.addAction("Export all chats as JSON…", self.export_all)
        menu.addSeparator()
        self.import_action = menu.addAction("Import chats (JSON)…", self.import_file)
        menu.aboutToShow.connect(self._refresh_actions)
        sidebar = window.sidebar  # type: ignore[attr-defined]
        sidebar.export_requested.connect(self._on_sidebar_export_requested)

    def _on_sidebar_export_requested(self, conversation_id: int, fmt: str) -> None:
        model = self.window.conversation_model  # type: ignore[attr-defined]
        record = model.conversation_at(model.row_of(conversation_id))
        self.export(conversation_id, (record.title if record is not None else "") or "chat", fmt)

    def _refresh_actions(self) -> None:
        has_current = self.chat.current is not None
        for action in (self.markdown_action, self.json_action):
            action.setEnabled(has_current)
        self.all_action.setEnabled(bool(self.chat.conversations()))
        self.import_action.setEnabled(self.chat.store is not None)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.window.chat_view.add_notice(text, error=error)  # type: ignore[attr-defined]

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
        chosen = self.save_dialog(
            self.window, "Export chat", file_stem(title) + suffix, name_filter
        )
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
            self.window,
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
        self.window.statusBar().showMessage(f"Exported to {path}.", 6000)
        return path

    def import_file(self) -> Path | None:
        """Import chats from a qwen-desktop JSON export the user picks (all or nothing)."""
        chosen = self.open_dialog(self.window, "Import chats", f"{JSON_FILTER};;All files (*)")
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
        self.window.statusBar().showMessage(
            f"Imported {count} chat{'s' if count != 1 else ''} from {path.name}.", 6000
        )
        return path
