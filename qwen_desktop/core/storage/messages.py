"""Messages: add, stream into, finish, edit, delete and page through them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from qwen_desktop.core.storage.database import guarded
from qwen_desktop.core.storage.errors import ChatStoreError, MissingRecordError
from qwen_desktop.core.storage.images import ImageStore
from qwen_desktop.core.storage.records import (
    ImageInput,
    ImageRef,
    MessageRecord,
    MessageStats,
    MessageStatus,
    NewMessage,
    sampling_from_json,
    sampling_to_json,
)
from qwen_desktop.core.types import ChatMessage, Role, SamplingSettings

_MESSAGE_COLUMNS = (
    "id, conversation_id, position, role, content, thinking, status, created_at, "
    "finished_at, error, error_action, prompt_tokens, generated_tokens, thinking_tokens, "
    "ttft_seconds, tokens_per_second, thinking_seconds, total_seconds, finish_reason, "
    "thinking_incomplete, context_window_full, model, engine, thinking_mode, sampling_json"
)


def message_from_row(row: Sequence[Any], images: tuple[ImageRef, ...] = ()) -> MessageRecord:
    stats = MessageStats(
        prompt_tokens=row[11],
        generated_tokens=row[12],
        thinking_tokens=row[13],
        ttft_seconds=row[14],
        tokens_per_second=row[15],
        thinking_seconds=row[16],
        total_seconds=row[17],
        finish_reason=row[18],
        thinking_incomplete=bool(row[19]),
        context_window_full=bool(row[20]),
    )
    return MessageRecord(
        id=int(row[0]),
        conversation_id=int(row[1]),
        position=int(row[2]),
        role=row[3],
        content=str(row[4]),
        thinking=str(row[5]),
        status=MessageStatus(row[6]),
        created_at=float(row[7]),
        finished_at=row[8],
        error=row[9],
        error_action=row[10],
        stats=stats,
        model=str(row[21]),
        engine=str(row[22]),
        thinking_mode=None if row[23] is None else bool(row[23]),
        sampling=sampling_from_json(row[24]),
        images=images,
    )


def goes_to_prompt(message: MessageRecord) -> bool:
    """Whether a stored message goes back into the prompt (as role + text + images).

    Left out: an answer still streaming, and an answer with no text (it failed before writing
    anything). Stopped and failed answers with partial text go in: the user saw them.
    """
    if message.status is MessageStatus.STREAMING:
        return False
    return not (message.role == "assistant" and not message.content)


class MessageStore(ImageStore):
    """The message methods of :class:`~.store.ChatStore`."""

    @guarded
    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        thinking: str = "",
        status: MessageStatus = MessageStatus.COMPLETE,
        images: Iterable[ImageInput] = (),
        model: str = "",
        engine: str = "",
        thinking_mode: bool | None = None,
        sampling: SamplingSettings | None = None,
        stats: MessageStats | None = None,
        error: str | None = None,
        error_action: str | None = None,
    ) -> MessageRecord:
        """Append a message to a conversation (committed before returning).

        An answer about to stream is added with ``status=MessageStatus.STREAMING`` and empty
        text, then written by :meth:`append_to_message` and closed by :meth:`finish_message`
        (:class:`~.streaming.AnswerWriter` does both).

        Raises:
            MissingRecordError: The conversation does not exist.
        """
        message = NewMessage(
            role=role,
            content=content,
            thinking=thinking,
            status=status,
            images=tuple(images),
            model=model,
            engine=engine,
            thinking_mode=thinking_mode,
            sampling=sampling,
            stats=stats or MessageStats(),
            error=error,
            error_action=error_action,
        )
        with self._transaction() as db:
            self._touch(db, conversation_id)
            message_id = self._insert_message(db, conversation_id, message)
        return self.get_message(message_id)

    def _insert_message(
        self, db: sqlite3.Connection, conversation_id: int, message: NewMessage
    ) -> int:
        """Insert one message after the conversation's last one (inside a transaction)."""
        created = self._now() if message.created_at is None else message.created_at
        finished = message.finished_at
        if finished is None and message.status is not MessageStatus.STREAMING:
            finished = created
        s = message.stats
        cursor = db.execute(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS.removeprefix('id, ')}) "
            "SELECT ?, coalesce(max(position), -1) + 1, "
            + ", ".join("?" * 22)
            + " FROM messages WHERE conversation_id = ?",
            (
                conversation_id,
                message.role,
                message.content,
                message.thinking,
                MessageStatus(message.status).value,
                created,
                finished,
                message.error,
                message.error_action,
                s.prompt_tokens,
                s.generated_tokens,
                s.thinking_tokens,
                s.ttft_seconds,
                s.tokens_per_second,
                s.thinking_seconds,
                s.total_seconds,
                s.finish_reason,
                int(s.thinking_incomplete),
                int(s.context_window_full),
                message.model,
                message.engine,
                None if message.thinking_mode is None else int(message.thinking_mode),
                sampling_to_json(message.sampling),
                conversation_id,
            ),
        )
        message_id = int(cursor.lastrowid or 0)
        for index, image in enumerate(message.images):
            db.execute(
                "INSERT INTO message_images (message_id, position, image_sha256) VALUES (?, ?, ?)",
                (message_id, index, self._put_image(db, image)),
            )
        return message_id

    @guarded
    def get_message(self, message_id: int) -> MessageRecord:
        """One message. Raises :class:`MissingRecordError` when it does not exist."""
        row = self.db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise MissingRecordError("message", message_id)
        return message_from_row(row, self._images_of([message_id]).get(message_id, ()))

    @guarded
    def get_messages(self, message_ids: Sequence[int]) -> list[MessageRecord]:
        """Several messages by id, in conversation order (unknown ids are skipped)."""
        found: list[MessageRecord] = []
        for start in range(0, len(message_ids), 500):
            chunk = list(message_ids[start : start + 500])
            rows = self.db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages "
                f"WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            images = self._images_of(chunk)
            found += [message_from_row(row, images.get(int(row[0]), ())) for row in rows]
        return sorted(found, key=lambda m: (m.conversation_id, m.position))

    @guarded
    def message_versions(self, conversation_id: int) -> list[tuple[int, int, tuple[object, ...]]]:
        """``(id, position, version)`` of every message, in order, without reading any text.

        ``version`` changes whenever the message's text, status or counts change (status and the
        ``revision`` column): derived data such as the context meter reloads only the messages
        whose version moved. Reads no text (the text columns come last in each row).
        """
        rows = self.db.execute(
            "SELECT id, position, status, revision FROM messages WHERE conversation_id = ? "
            "ORDER BY position",
            (conversation_id,),
        ).fetchall()
        return [(int(row[0]), int(row[1]), tuple(row[2:])) for row in rows]

    @guarded
    def append_to_message(self, message_id: int, *, answer: str = "", thinking: str = "") -> None:
        """Append streamed text to a ``streaming`` message in one small transaction.

        Raises:
            ChatStoreError: The message is not streaming (finished, or deleted).
        """
        if not answer and not thinking:
            return
        cursor = self.db.execute(
            "UPDATE messages SET content = content || ?, thinking = thinking || ? "
            "WHERE id = ? AND status = 'streaming'",
            (answer, thinking, message_id),
        )
        if not cursor.rowcount:
            raise ChatStoreError(
                f"The answer #{message_id} is no longer being written.", "Reload the conversation."
            )

    @guarded
    def replace_streaming_text(self, message_id: int, *, answer: str, thinking: str) -> None:
        """Overwrite a streaming message's text (text shown as answer turned out to be thinking)."""
        cursor = self.db.execute(
            "UPDATE messages SET content = ?, thinking = ? WHERE id = ? AND status = 'streaming'",
            (answer, thinking, message_id),
        )
        if not cursor.rowcount:
            raise ChatStoreError(
                f"The answer #{message_id} is no longer being written.", "Reload the conversation."
            )

    @guarded
    def finish_message(
        self,
        message_id: int,
        status: Literal[MessageStatus.COMPLETE, MessageStatus.STOPPED, MessageStatus.ERROR],
        *,
        answer: str | None = None,
        thinking: str | None = None,
        stats: MessageStats | None = None,
        error: str | None = None,
        error_action: str | None = None,
    ) -> MessageRecord:
        """Close a streaming answer: final status, text (when given), counts and timings."""
        s = stats or MessageStats()
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE messages SET status = ?, finished_at = ?, revision = revision + 1, "
                "content = coalesce(?, content), thinking = coalesce(?, thinking), "
                "error = ?, error_action = ?, prompt_tokens = ?, generated_tokens = ?, "
                "thinking_tokens = ?, ttft_seconds = ?, tokens_per_second = ?, "
                "thinking_seconds = ?, total_seconds = ?, finish_reason = ?, "
                "thinking_incomplete = ?, context_window_full = ? "
                "WHERE id = ? AND status = 'streaming' RETURNING conversation_id",
                (
                    MessageStatus(status).value,
                    self._now(),
                    answer,
                    thinking,
                    error,
                    error_action,
                    s.prompt_tokens,
                    s.generated_tokens,
                    s.thinking_tokens,
                    s.ttft_seconds,
                    s.tokens_per_second,
                    s.thinking_seconds,
                    s.total_seconds,
                    s.finish_reason,
                    int(s.thinking_incomplete),
                    int(s.context_window_full),
                    message_id,
                ),
            )
            row = cursor.fetchone()
            if row is None:
                raise ChatStoreError(
                    f"The answer #{message_id} is no longer being written.",
                    "Reload the conversation.",
                )
            self._touch(db, int(row[0]))
        return self.get_message(message_id)

    @guarded
    def edit_message(self, message_id: int, content: str) -> int:
        """Replace a message's text and delete every later message of its conversation.

        Returns:
            How many later messages were deleted.
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT conversation_id, position FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise MissingRecordError("message", message_id)
            removed = db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND position > ?", tuple(row)
            ).rowcount
            db.execute(
                "UPDATE messages SET content = ?, revision = revision + 1 WHERE id = ?",
                (content, message_id),
            )
            self._touch(db, int(row[0]))
        if removed:
            self._prune_images()
        return int(removed)

    @guarded
    def later_message_count(self, message_id: int) -> int:
        """How many messages follow this one in its conversation."""
        row = self.db.execute(
            "SELECT count(*) FROM messages AS later JOIN messages AS m "
            "ON later.conversation_id = m.conversation_id AND later.position > m.position "
            "WHERE m.id = ?",
            (message_id,),
        ).fetchone()
        return int(row[0])

    @guarded
    def delete_messages(self, conversation_id: int, *, from_position: int) -> int:
        """Delete the messages at ``from_position`` and after; returns how many."""
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND position >= ?",
                (conversation_id, from_position),
            ).rowcount
            self._touch(db, conversation_id)
        if removed:
            self._prune_images()
        return int(removed)

    @guarded
    def delete_oldest_messages(self, conversation_id: int, count: int) -> int:
        """Delete the ``count`` oldest messages (to make room in the context window)."""
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages "
                "WHERE conversation_id = ? ORDER BY position LIMIT ?)",
                (conversation_id, max(0, count)),
            ).rowcount
            self._touch(db, conversation_id)
        if removed:
            self._prune_images()
        return int(removed)

    @guarded
    def count_messages(self, conversation_id: int) -> int:
        """Number of messages in a conversation."""
        row = self.db.execute(
            "SELECT count(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return int(row[0])

    @guarded
    def load_messages(
        self, conversation_id: int, *, limit: int = -1, before_position: int | None = None
    ) -> list[MessageRecord]:
        """A page of messages, oldest first: the last ``limit`` before ``before_position``.

        Open a long conversation with ``load_messages(cid, limit=50)``; scroll back with
        ``before_position=<first loaded message>.position``. ``limit=-1`` loads them all.
        """
        before = (1 << 62) if before_position is None else before_position
        rows = self.db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages "
            "WHERE conversation_id = ? AND position < ? ORDER BY position DESC LIMIT ?",
            (conversation_id, before, limit),
        ).fetchall()
        rows.reverse()
        images = self._images_of([int(row[0]) for row in rows]) if rows else {}
        return [message_from_row(row, images.get(int(row[0]), ())) for row in rows]

    @guarded
    def load_history(
        self, conversation_id: int, *, before_position: int | None = None
    ) -> list[ChatMessage]:
        """The conversation as it goes back to the model: role, answer text and images.

        Qwen's rule (case C4): earlier thinking is never sent again, so it is not even read.
        Which messages go in is :func:`goes_to_prompt`'s rule.
        """
        before = (1 << 62) if before_position is None else before_position
        rows = self.db.execute(
            "SELECT id, role, content FROM messages WHERE conversation_id = ? AND position < ? "
            "AND status <> 'streaming' AND NOT (role = 'assistant' AND content = '') "
            "ORDER BY position",
            (conversation_id, before),
        ).fetchall()
        with_images = self._images_of([int(row[0]) for row in rows]) if rows else {}
        return [
            ChatMessage(
                row[1],
                row[2],
                images=tuple(self.image_bytes(i.sha256) for i in with_images.get(int(row[0]), ())),
            )
            for row in rows
        ]
