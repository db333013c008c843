"""Opening the chat database safely: pragmas, damage checks, migrations, error translation.

Durability rule (what a crash can lose):

- every call that adds, edits or deletes something commits its own transaction before it returns,
  so a message, once added, survives the app being killed;
- a streaming answer is a row with status ``streaming``; its text is written by
  ``append_to_message`` calls, which :class:`~.streaming.AnswerWriter` makes at most every
  ``flush_interval_s`` (0.25 s by default) and on stop/finish/error. Killing the app mid-answer
  loses at most the text streamed in that last interval of that one answer; the next open marks
  the row ``error`` ("qwen-desktop closed before this answer finished") and keeps its text;
- ``synchronous=NORMAL`` (SQLite's recommendation with WAL): commits survive the app being killed;
  a power cut or OS crash may roll back the last few commits but never corrupts the file.

Damage rule: a file that is not an SQLite database, fails ``PRAGMA quick_check``, carries another
program's ``application_id``, holds foreign tables, or has a schema newer than
:data:`~.migrations.MIGRATIONS` knows, is copied aside (``chats.sqlite3.damaged-<UTC time>``) and
reported with :class:`~.errors.DamagedDatabaseError`; it is replaced by an empty history only by
:meth:`StoreBase.replace_damaged`, which the app calls when the user asks. Damage found later
(SQLITE_CORRUPT on a query) is handled the same way and closes the store.

``quick_check`` reads the whole file (about 75 ms for 50 MB), so :meth:`StoreBase.open` runs it
only after an unclean shutdown (a ``-wal`` file left behind: a clean close removes it) or when
asked (``integrity_check=True``, e.g. from a "check chat history" action); the checks of the
header, application id, schema version and tables run on every open and cost well under 1 ms.

The store is not thread-safe: use it from one thread (the app's asyncio/Qt thread). Calls are
short (one indexed statement or a small transaction).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, Self, TypeVar

from qwen_desktop.core.storage import fulltext
from qwen_desktop.core.storage import migrations as schema
from qwen_desktop.core.storage.errors import (
    ChatStoreError,
    DamagedDatabaseError,
    MissingRecordError,
)

log = logging.getLogger(__name__)

DB_FILE_NAME = "chats.sqlite3"
BUSY_TIMEOUT_MS = 5000
SQLITE_HEADER = b"SQLite format 3\x00"
INTERRUPTED_ERROR = (
    "qwen-desktop closed before this answer finished; the text saved until then is kept."
)
INTERRUPTED_ACTION = "Regenerate the answer to get a complete one."

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreBase")


class Unset(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = 0


UNSET = Unset.UNSET
"""Marks an argument of :meth:`ChatStore.update_conversation` as "leave unchanged"."""


class _DamageFoundError(Exception):
    """Internal: the open checks found the file unusable (converted to DamagedDatabaseError)."""


def _timestamp_suffix(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def backup_damaged(path: Path, now: float) -> Path | None:
    """Copy ``path`` (and its ``-wal``) aside as ``<name>.damaged-<UTC time>``; None on failure."""
    target = path.with_name(f"{path.name}.damaged-{_timestamp_suffix(now)}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.damaged-{_timestamp_suffix(now)}-{counter}")
        counter += 1
    try:
        shutil.copy2(path, target)
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            shutil.copy2(wal, target.with_name(target.name + "-wal"))
    except OSError as exc:
        log.error("Could not back up the damaged chat database %s: %s", path, exc)
        return None
    log.error("Chat database %s is damaged; a copy was saved as %s", path, target)
    return target


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def guarded(
    method: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], R]:
    """Turn SQLite errors of a public method into :class:`ChatStoreError` subclasses."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._damaged is not None:
            raise self._damaged
        if self._db is None:
            raise ChatStoreError("The chat history is closed.", "Restart qwen-desktop.")
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    return wrapper


class StoreBase:
    """The connection, its checks and transactions; :class:`~.store.ChatStore` builds on it."""

    def __init__(
        self,
        db: sqlite3.Connection,
        path: Path,
        index: fulltext.FullTextIndex | None,
        now: Callable[[], float],
    ) -> None:
        self._db: sqlite3.Connection | None = db
        self.path = path
        self.data_dir = path.parent
        self.full_text = index
        self._now = now
        self._damaged: DamagedDatabaseError | None = None
        self.recovered_messages = 0
        """Answers found ``streaming`` on open (the app had been killed) and marked ``error``."""
        self._revisions: dict[int, int] = {}

    def revision(self, conversation_id: int) -> int:
        """A number that changes whenever a conversation's messages or settings change through
        this store (not on streamed-text writes): a cache key for derived data."""
        return self._revisions.get(conversation_id, 0)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        full_text: bool | None = None,
        integrity_check: bool | None = None,
        now: Callable[[], float] = time.time,
    ) -> Self:
        """Open (creating or migrating) the chat database in ``data_dir``.

        Args:
            data_dir: The app's data folder (created when missing); any path, non-ASCII included.
            full_text: None uses FTS5 when SQLite has it; False forces the LIKE fallback.
            integrity_check: Run ``PRAGMA quick_check``: None = only after an unclean shutdown
                (a leftover ``-wal`` file); True = always; False = never.
            now: Wall clock (seconds since the epoch), replaceable in tests.

        Raises:
            DamagedDatabaseError: The file is not an SQLite database, is malformed, belongs to
                another program or has a newer schema than this version knows. A copy was saved.
            ChatStoreError: The folder cannot be created, or the file is locked or unreadable.
        """
        path = Path(data_dir) / DB_FILE_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ChatStoreError(
                f"The folder {path.parent} for the chat history cannot be created: "
                f"{exc.strerror or exc}.",
                "Check the folder's permissions and free space.",
            ) from exc
        db: sqlite3.Connection | None = None
        try:
            cls._check_header(path)
            if integrity_check is None:
                integrity_check = path.with_name(path.name + "-wal").exists()
            db = sqlite3.connect(
                path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=True
            )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            version = cls._check(db, integrity_check)  # read-only: never writes a foreign file
            cls._configure(db, path)
            cls._migrate(db, path, version, now())
            store = cls(db, path, None, now)
            store.recovered_messages = store._recover_interrupted()
            store.full_text = fulltext.sync_index(db, full_text)
            return store
        except _DamageFoundError as exc:
            if db is not None:
                db.close()
            raise DamagedDatabaseError(path, backup_damaged(path, now()), str(exc)) from None
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            if _is_damage(exc):
                reason = f"the file is damaged (SQLite says: {exc})."
                raise DamagedDatabaseError(path, backup_damaged(path, now()), reason) from exc
            raise ChatStoreError(
                f"The chat history {path} cannot be opened: {exc}.",
                "Close other qwen-desktop windows, check the folder's permissions, then retry.",
            ) from exc

    @classmethod
    def replace_damaged(cls, error: DamagedDatabaseError, *, full_text: bool | None = None) -> Self:
        """Start a new, empty history in place of a damaged one (only when the user asked).

        The damaged file is removed only when its copy (``error.backup_path``) exists.

        Raises:
            ChatStoreError: No copy was saved, so the damaged file is left alone.
        """
        backup = error.backup_path
        if backup is None or not backup.is_file():
            raise ChatStoreError(
                f"The damaged chat history {error.path} was not copied aside, so it is not "
                "replaced.",
                f"Move {error.path.name} elsewhere yourself, then start qwen-desktop again.",
            )
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                error.path.with_name(error.path.name + suffix).unlink()
        return cls.open(error.path.parent, full_text=full_text)

    @staticmethod
    def _check_header(path: Path) -> None:
        if not path.exists() or path.stat().st_size == 0:
            return
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise _DamageFoundError(
                "it is not an SQLite database (another kind of file, or overwritten)."
            )

    @staticmethod
    def _configure(db: sqlite3.Connection, path: Path) -> None:
        db.execute("PRAGMA foreign_keys = ON")
        mode = str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        if mode != "wal":
            log.warning("Chat database %s: WAL journaling unavailable (mode %s).", path, mode)
        db.execute("PRAGMA synchronous = NORMAL")

    @staticmethod
    def _check(db: sqlite3.Connection, integrity: bool) -> int:
        """Read-only checks that the file is a sound chat database we can read; its version."""
        problems = (
            [str(row[0]) for row in db.execute("PRAGMA quick_check(5)")] if integrity else ["ok"]
        )
        if problems != ["ok"]:
            lines = [ln for p in problems for ln in p.splitlines() if not ln.startswith("***")]
            raise _DamageFoundError(f"it failed SQLite's integrity check ({lines[0]}).")
        app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        if app_id not in (0, schema.APPLICATION_ID):
            raise _DamageFoundError("it belongs to another program (unknown application id).")
        version = schema.schema_version(db)
        latest = len(schema.MIGRATIONS)
        if version > latest:
            raise _DamageFoundError(
                f"it was written by a newer qwen-desktop (schema version {version}; this "
                f"version knows up to {latest}). Update qwen-desktop to read it."
            )
        tables = {
            str(row[0])
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if version == 0 and tables:
            raise _DamageFoundError(
                "it is an SQLite database, but not a qwen-desktop chat history."
            )
        return version

    @staticmethod
    def _migrate(db: sqlite3.Connection, path: Path, version: int, now: float) -> None:
        latest = len(schema.MIGRATIONS)
        if 0 < version < latest:
            target = path.with_name(f"{path.name}.before-v{latest}-{_timestamp_suffix(now)}")
            with contextlib.closing(sqlite3.connect(target)) as copy:
                db.backup(copy)
            log.info("Chat database backed up to %s before migrating to v%d", target, latest)
        applied = schema.migrate(db)
        if applied:
            log.info("Chat database %s migrated to version %d", path, applied[-1])
        tables = {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master")}
        missing = sorted(schema.REQUIRED_TABLES - tables)
        if missing:
            raise _DamageFoundError(
                f"its schema is incomplete (missing tables: {', '.join(missing)})."
            )

    def close(self) -> None:
        """Close the database (further calls raise :class:`ChatStoreError`)."""
        if self._db is not None:
            if self._damaged is None:  # never write to a damaged file, not even statistics
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("PRAGMA optimize")
            self._db.close()
            self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection (for read-only diagnostics and benchmarks)."""
        if self._db is None:
            raise ChatStoreError("The chat history is closed.", "Restart qwen-desktop.")
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _translate(self, exc: sqlite3.DatabaseError) -> ChatStoreError:
        name = getattr(exc, "sqlite_errorname", "")
        if _is_damage(exc):
            self._damaged = DamagedDatabaseError(
                self.path,
                backup_damaged(self.path, self._now()),
                f"the file is damaged (SQLite says: {exc}).",
            )
            self.close()
            return self._damaged
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return ChatStoreError(
                "The chat history is busy: another qwen-desktop window is writing to it.",
                "Close the other window, then try again.",
            )
        if name.startswith("SQLITE_FULL"):
            return ChatStoreError(
                "The disk holding the chat history is full; the last change was not saved.",
                "Free some disk space, then try again.",
            )
        log.error("Chat database error (%s): %s", name, exc)
        return ChatStoreError(f"The chat history could not be updated: {exc}.", "See the log.")

    def _recover_interrupted(self) -> int:
        with self._transaction() as db:
            count = db.execute(
                "UPDATE messages SET status = 'error', error = ?, error_action = ?, "
                "finished_at = ?, revision = revision + 1 WHERE status = 'streaming'",
                (INTERRUPTED_ERROR, INTERRUPTED_ACTION, self._now()),
            ).rowcount
        if count:
            log.warning("Marked %d answer(s) interrupted by a crash as unfinished.", count)
        return count

    def _touch(
        self, db: sqlite3.Connection, conversation_id: int, *, activity: bool = True
    ) -> None:
        """Note a change to a conversation (inside a transaction).

        ``activity``: messages changed, so ``updated_at`` moves and the conversation goes to the
        top of the list; a rename or a settings change is not activity.

        Raises:
            MissingRecordError: No such conversation.
        """
        self._revisions[conversation_id] = self._revisions.get(conversation_id, 0) + 1
        if activity:
            cursor = db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (self._now(), conversation_id),
            )
        else:
            cursor = db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
        if not (cursor.rowcount if activity else cursor.fetchone()):
            raise MissingRecordError("conversation", conversation_id)
