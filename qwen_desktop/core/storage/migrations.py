"""Numbered schema migrations of the chat database.

``PRAGMA user_version`` holds the number of migrations applied. :data:`MIGRATIONS` lists them in
order: migration *n* (1-based) is ``MIGRATIONS[n - 1]``. To change the schema, append a function
(never edit a released one); :func:`migrate` runs each missing one in its own transaction and bumps
``user_version`` inside that transaction, so a crash leaves the database at a known version.

The full-text index is not part of the migrations: it is derived data, created, rebuilt or dropped
on open by :mod:`qwen_desktop.core.storage.fulltext` depending on whether SQLite has FTS5.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x5157_4E43  # "QWNC": marks the file as a qwen-desktop chat database
"""``PRAGMA application_id`` of our files (SQLite's file-format field for this purpose)."""

Migration = Callable[[sqlite3.Connection], None]


def _migration_1(db: sqlite3.Connection) -> None:
    """Conversations, messages (thinking apart, timings, token counts), images, their links.

    In ``messages`` the long texts (``content``, ``thinking``) come last: SQLite stores a row's
    columns in order and spills long ones to overflow pages, so the small columns before them
    (status, counts, ``revision``) are read without touching the text. ``revision`` grows each
    time a saved message's text or status changes (not on streamed-text writes).
    """
    statements = [
        f"PRAGMA application_id = {APPLICATION_ID}",
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            engine TEXT NOT NULL DEFAULT '',
            system_prompt TEXT NOT NULL DEFAULT '',
            sampling_json TEXT,
            thinking INTEGER NOT NULL DEFAULT 1 CHECK (thinking IN (0, 1)),
            thinking_budget_tokens INTEGER CHECK (thinking_budget_tokens > 0)
        )
        """,
        "CREATE INDEX conversations_by_update ON conversations (updated_at DESC, id DESC)",
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('complete', 'streaming', 'stopped', 'error')),
            revision INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            finished_at REAL,
            error TEXT,
            error_action TEXT,
            prompt_tokens INTEGER,
            generated_tokens INTEGER,
            thinking_tokens INTEGER,
            ttft_seconds REAL,
            tokens_per_second REAL,
            thinking_seconds REAL,
            total_seconds REAL,
            finish_reason TEXT CHECK (finish_reason IN ('stop', 'length', 'cancelled')),
            thinking_incomplete INTEGER NOT NULL DEFAULT 0,
            context_window_full INTEGER NOT NULL DEFAULT 0,
            model TEXT NOT NULL DEFAULT '',
            engine TEXT NOT NULL DEFAULT '',
            thinking_mode INTEGER,
            sampling_json TEXT,
            content TEXT NOT NULL DEFAULT '',
            thinking TEXT NOT NULL DEFAULT '',
            UNIQUE (conversation_id, position)
        )
        """,
        "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
        """
        CREATE TABLE images (
            sha256 TEXT PRIMARY KEY,
            mime TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            width INTEGER,
            height INTEGER,
            data BLOB,
            path TEXT,
            CHECK ((data IS NULL) <> (path IS NULL))
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE message_images (
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            image_sha256 TEXT NOT NULL REFERENCES images (sha256),
            PRIMARY KEY (message_id, position)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX message_images_by_image ON message_images (image_sha256)",
    ]
    for statement in statements:
        db.execute(statement)


MIGRATIONS: list[Migration] = [_migration_1]
"""Every migration, in order; ``len(MIGRATIONS)`` is the schema version this code writes."""

LATEST_VERSION = len(MIGRATIONS)

REQUIRED_TABLES = frozenset({"conversations", "messages", "images", "message_images"})
"""Tables a database at :data:`LATEST_VERSION` must have (checked on open)."""


def schema_version(db: sqlite3.Connection) -> int:
    """The number of migrations applied to ``db`` (``PRAGMA user_version``)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the missing migrations, each in its own ``BEGIN IMMEDIATE`` transaction.

    Args:
        db: A connection in autocommit mode (``isolation_level=None``).
        migrations: The list to apply (default :data:`MIGRATIONS`; tests pass their own).

    Returns:
        The version numbers applied (empty when the database was up to date).
    """
    migrations = MIGRATIONS if migrations is None else migrations
    applied: list[int] = []
    for version in range(schema_version(db) + 1, len(migrations) + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            migrations[version - 1](db)
            db.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        applied.append(version)
    return applied
