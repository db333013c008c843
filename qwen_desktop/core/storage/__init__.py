"""Chat history in SQLite: conversations, messages (thinking apart), images, search, export.

Use :meth:`ChatStore.open` with the app's data folder; stream answers into it with
:class:`AnswerWriter`. See :mod:`.database` for the durability and damage rules.
"""

from __future__ import annotations

from qwen_desktop.core.storage.database import DB_FILE_NAME, UNSET
from qwen_desktop.core.storage.errors import (
    ChatStoreError,
    DamagedDatabaseError,
    ImportFileError,
    MissingRecordError,
)
from qwen_desktop.core.storage.migrations import LATEST_VERSION, MIGRATIONS
from qwen_desktop.core.storage.records import (
    MATCH_END,
    MATCH_START,
    ConversationRecord,
    ImageInput,
    ImageRef,
    MessageRecord,
    MessageStats,
    MessageStatus,
    NewMessage,
    SearchHit,
)
from qwen_desktop.core.storage.store import ChatStore
from qwen_desktop.core.storage.streaming import DEFAULT_FLUSH_INTERVAL_S, AnswerWriter

__all__ = [
    "DB_FILE_NAME",
    "DEFAULT_FLUSH_INTERVAL_S",
    "LATEST_VERSION",
    "MATCH_END",
    "MATCH_START",
    "MIGRATIONS",
    "UNSET",
    "AnswerWriter",
    "ChatStore",
    "ChatStoreError",
    "ConversationRecord",
    "DamagedDatabaseError",
    "ImageInput",
    "ImageRef",
    "ImportFileError",
    "MessageRecord",
    "MessageStats",
    "MessageStatus",
    "MissingRecordError",
    "NewMessage",
    "SearchHit",
]
