"""The chat store: conversations, messages (thinking apart), images and search in SQLite.

One file, ``<data dir>/chats.sqlite3``, opened with WAL journaling, ``foreign_keys=ON`` and a busy
timeout; the schema comes from numbered migrations (:mod:`.migrations`). The class is assembled
from layers: :mod:`.database` (opening, checks, transactions), :mod:`.images`, :mod:`.messages`,
and this module (conversations, search, export and import).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from qwen_desktop.core.storage import exchange, fulltext
from qwen_desktop.core.storage.database import UNSET, Unset, guarded
from qwen_desktop.core.storage.errors import MissingRecordError
from qwen_desktop.core.storage.messages import MessageStore, NewMessage
from qwen_desktop.core.storage.records import (
    ConversationRecord,
    MessageStatus,
    SearchHit,
    sampling_from_json,
    sampling_to_json,
)
from qwen_desktop.core.types import SamplingSettings


class ChatStore(MessageStore):
    """Conversations and their messages in ``<data dir>/chats.sqlite3``.

    Build it with :meth:`open`. Every public method raises :class:`ChatStoreError` (or a
    subclass) for storage problems; :class:`DamagedDatabaseError` when the file turns out damaged
    (a copy is kept, the file is not touched); :class:`MissingRecordError` for unknown ids.
    """

    @guarded
    def create_conversation(
        self,
        *,
        title: str = "",
        model: str = "",
        engine: str = "",
        system_prompt: str = "",
        sampling: SamplingSettings | None = None,
        thinking: bool = True,
        thinking_budget_tokens: int | None = None,
    ) -> ConversationRecord:
        """Create an empty conversation; returns it."""
        now = self._now()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model, engine, "
                "system_prompt, sampling_json, thinking, thinking_budget_tokens) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    title,
                    now,
                    now,
                    model,
                    engine,
                    system_prompt,
                    sampling_to_json(sampling),
                    int(thinking),
                    thinking_budget_tokens,
                ),
            )
        return self.get_conversation(int(cursor.lastrowid or 0))

    _CONVERSATION_SELECT = (
        "SELECT c.id, c.title, c.created_at, c.updated_at, c.model, c.engine, c.system_prompt, "
        "c.sampling_json, c.thinking, c.thinking_budget_tokens, "
        "(SELECT count(*) FROM messages AS m WHERE m.conversation_id = c.id) "
        "FROM conversations AS c"
    )

    @staticmethod
    def _conversation(row: Sequence[Any]) -> ConversationRecord:
        return ConversationRecord(
            id=int(row[0]),
            title=str(row[1]),
            created_at=float(row[2]),
            updated_at=float(row[3]),
            model=str(row[4]),
            engine=str(row[5]),
            system_prompt=str(row[6]),
            sampling=sampling_from_json(row[7]),
            thinking=bool(row[8]),
            thinking_budget_tokens=None if row[9] is None else int(row[9]),
            message_count=int(row[10]),
        )

    @guarded
    def get_conversation(self, conversation_id: int) -> ConversationRecord:
        """One conversation. Raises :class:`MissingRecordError` when it does not exist."""
        row = self.db.execute(
            f"{self._CONVERSATION_SELECT} WHERE c.id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise MissingRecordError("conversation", conversation_id)
        return self._conversation(row)

    @guarded
    def list_conversations(self, *, limit: int = -1, offset: int = 0) -> list[ConversationRecord]:
        """Conversations, most recently updated first (``limit=-1``: all)."""
        rows = self.db.execute(
            f"{self._CONVERSATION_SELECT} ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [self._conversation(row) for row in rows]

    @guarded
    def update_conversation(
        self,
        conversation_id: int,
        *,
        title: str | None = None,
        model: str | None = None,
        engine: str | None = None,
        system_prompt: str | None = None,
        sampling: SamplingSettings | Unset | None = UNSET,
        thinking: bool | None = None,
        thinking_budget_tokens: int | Unset | None = UNSET,
    ) -> ConversationRecord:
        """Change a conversation's title or settings (None / :data:`UNSET`: unchanged).

        Not counted as activity: the conversation keeps its place in the list.
        """
        changes: dict[str, object] = {}
        for column, value in (
            ("title", title),
            ("model", model),
            ("engine", engine),
            ("system_prompt", system_prompt),
        ):
            if value is not None:
                changes[column] = value
        if thinking is not None:
            changes["thinking"] = int(thinking)
        if sampling is not UNSET:
            changes["sampling_json"] = sampling_to_json(sampling)
        if thinking_budget_tokens is not UNSET:
            changes["thinking_budget_tokens"] = thinking_budget_tokens
        with self._transaction() as db:
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                db.execute(
                    f"UPDATE conversations SET {assignments} WHERE id = ?",
                    (*changes.values(), conversation_id),
                )
            self._touch(db, conversation_id, activity=False)
        return self.get_conversation(conversation_id)

    def rename_conversation(self, conversation_id: int, title: str) -> ConversationRecord:
        """Set a conversation's title."""
        return self.update_conversation(conversation_id, title=title)

    @guarded
    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation with its messages; images no other message uses are removed."""
        with self._transaction() as db:
            if not db.execute(
                "DELETE FROM conversations WHERE id = ?", (conversation_id,)
            ).rowcount:
                raise MissingRecordError("conversation", conversation_id)
        self._prune_images()

    # -- search ---------------------------------------------------------------------------------

    @guarded
    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Conversations whose title, answers or thinking contain every word of ``query``.

        Title matches come first, then message matches by relevance (BM25), one hit per
        conversation. With the LIKE fallback, newest messages come first instead.
        """
        if not query.strip():
            return []
        expression = (
            None if self.full_text is None else fulltext.match_expression(query, self.full_text)
        )
        if expression is not None:
            titles, messages = fulltext.search_fts(self.db, expression, limit)
        else:
            titles, messages = fulltext.search_like(self.db, query, limit)
        picked: dict[int, fulltext.RawHit] = {}
        for hit in [*titles, *messages]:
            picked.setdefault(hit.conversation_id, hit)
        ids = list(picked)[:limit]
        if not ids:
            return []
        rows = self.db.execute(
            f"{self._CONVERSATION_SELECT} WHERE c.id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
        records = {int(row[0]): self._conversation(row) for row in rows}
        return [
            SearchHit(records[cid], picked[cid].snippet, picked[cid].message_id)
            for cid in ids
            if cid in records
        ]

    # -- export / import --------------------------------------------------------------------

    @guarded
    def export_json(self, conversation_ids: Iterable[int]) -> str:
        """The conversations (messages, thinking, stats, images) as a JSON export document.

        Raises:
            MissingRecordError: One of the conversations does not exist.
        """
        items = [(self.get_conversation(cid), self.load_messages(cid)) for cid in conversation_ids]
        return exchange.export_document(items, self.image_bytes, exported_at=self._now())

    @guarded
    def export_markdown(self, conversation_id: int) -> str:
        """One conversation as Markdown (thinking in collapsed ``<details>`` blocks)."""
        conversation = self.get_conversation(conversation_id)
        return exchange.render_markdown(conversation, self.load_messages(conversation_id))

    def import_json(
        self, data: bytes | str, *, source: str = "The file"
    ) -> list[ConversationRecord]:
        """Import an export document as new conversations (new ids); all or nothing.

        Args:
            data: The file's bytes (or text).
            source: How to name the file in error messages (e.g. its file name).

        Raises:
            ImportFileError: Not a valid qwen-desktop export (with the first problems found);
                nothing is imported.
        """
        return self.insert_conversations(exchange.parse_document(data, source=source))

    @guarded
    def insert_conversations(
        self, items: Sequence[tuple[ConversationRecord, Sequence[NewMessage]]]
    ) -> list[ConversationRecord]:
        """Insert whole conversations (import) in one transaction: all or nothing.

        Ids in the records are ignored: every conversation and message gets a new id. Times,
        statuses, counts and settings are kept as given (a ``streaming`` status becomes
        ``stopped``: nothing is writing it).
        """
        ids: list[int] = []
        with self._transaction() as db:
            for conversation, messages in items:
                cursor = db.execute(
                    "INSERT INTO conversations (title, created_at, updated_at, model, engine, "
                    "system_prompt, sampling_json, thinking, thinking_budget_tokens) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        conversation.title,
                        conversation.created_at,
                        conversation.updated_at,
                        conversation.model,
                        conversation.engine,
                        conversation.system_prompt,
                        sampling_to_json(conversation.sampling),
                        int(conversation.thinking),
                        conversation.thinking_budget_tokens,
                    ),
                )
                conversation_id = int(cursor.lastrowid or 0)
                for message in messages:
                    fixed = (
                        dataclasses.replace(message, status=MessageStatus.STOPPED)
                        if message.status is MessageStatus.STREAMING
                        else message
                    )
                    self._insert_message(db, conversation_id, fixed)
                ids.append(conversation_id)
        return [self.get_conversation(cid) for cid in ids]
