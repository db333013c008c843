"""Errors of the chat store, each with a message and an action a person can follow."""

from __future__ import annotations

from pathlib import Path

from qwen_desktop.core.errors import QwenDesktopError


class ChatStoreError(QwenDesktopError):
    """The chat history could not be read or written (busy, disk full, unknown conversation…)."""


class DamagedDatabaseError(ChatStoreError):
    """The chat database cannot be used: not a database, malformed, or a schema we do not know.

    The file is never replaced silently: before this error is raised a copy is made next to it
    (``chats.sqlite3.damaged-<UTC timestamp>``, plus its ``-wal`` file when there is one). The
    caller may then ask :meth:`~qwen_desktop.core.storage.store.ChatStore.replace_damaged` for a
    new, empty history.

    Attributes:
        path: The damaged database file.
        backup_path: Where the copy was saved (None when copying failed; then nothing is
            replaced either).
        reason: What is wrong, in plain words.
    """

    def __init__(self, path: Path, backup_path: Path | None, reason: str) -> None:
        kept = (
            f"A copy was saved as {backup_path.name}."
            if backup_path is not None
            else "No copy could be saved, so the file is left untouched."
        )
        super().__init__(
            f"The chat history {path} cannot be used: {reason} {kept}",
            "Start a new, empty chat history (the damaged file is kept), or quit and restore "
            "a backup.",
        )
        self.path = path
        self.backup_path = backup_path
        self.reason = reason


class ImportFileError(ChatStoreError):
    """A file given to import is not a valid qwen-desktop chat export."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(
            f"{source} cannot be imported: {reason}",
            "Choose a JSON file exported by qwen-desktop (File › Export › JSON).",
        )
        self.reason = reason


class MissingRecordError(ChatStoreError):
    """A conversation or message asked for is not in the store (deleted meanwhile?)."""

    def __init__(self, what: str, record_id: int) -> None:
        super().__init__(
            f"The {what} #{record_id} is not in the chat history (it may have been deleted).",
            "Reload the conversation list.",
        )
        self.record_id = record_id
