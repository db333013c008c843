"""A damaged chat database is reported and backed up, never silently replaced; migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qwen_desktop.core.storage import (
    ChatStore,
    ChatStoreError,
    DamagedDatabaseError,
    migrations,
)
from qwen_desktop.core.storage.database import DB_FILE_NAME

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def clock() -> float:
    return NOW


def make_store(folder: Path) -> Path:
    with ChatStore.open(folder) as store:
        cid = store.create_conversation(title="precious").id
        for number in range(50):
            store.add_message(cid, "user", f"message {number} " + "text " * 100)
    return folder / DB_FILE_NAME


def assert_reported_and_kept(
    folder: Path, original: bytes, reason: str, **open_options: bool
) -> DamagedDatabaseError:
    with pytest.raises(DamagedDatabaseError) as caught:
        ChatStore.open(folder, now=clock, **open_options)
    error = caught.value
    assert reason in error.reason
    assert error.backup_path == folder / f"{DB_FILE_NAME}.damaged-20231114T221320Z"
    assert error.backup_path.read_bytes() == original  # an exact copy…
    assert (folder / DB_FILE_NAME).read_bytes() == original  # …and the file is untouched
    assert error.backup_path.name in error.message and error.action
    return error


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    path.write_text("these are my notes, not a database\n" * 20, encoding="utf-8")
    assert_reported_and_kept(tmp_path, path.read_bytes(), "not an SQLite database")


def test_a_malformed_database(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xde\xad\xbe\xef" * ((4096 - 100) // 4)  # the schema page
    path.write_bytes(bytes(data))
    assert_reported_and_kept(tmp_path, bytes(data), "damaged")


def corrupt_messages_table(path: Path) -> bytes:
    """Break the cell pointers of the messages table's root page (the schema stays readable)."""
    with sqlite3.connect(path) as db:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    start = (root[0] - 1) * page_size
    data[start + 12 : start + 40] = b"\xff" * 28
    path.write_bytes(bytes(data))
    return bytes(data)


def test_damage_inside_a_table_found_by_the_integrity_check(tmp_path: Path) -> None:
    damaged = corrupt_messages_table(make_store(tmp_path))
    error = assert_reported_and_kept(tmp_path, damaged, "integrity check", integrity_check=True)
    assert "out of range" in error.reason and "***" not in error.reason


def test_damage_found_later_by_a_query_is_reported_the_same_way(tmp_path: Path) -> None:
    damaged = corrupt_messages_table(make_store(tmp_path))
    store = ChatStore.open(tmp_path, now=clock)  # clean shutdown before: no full check
    with pytest.raises(DamagedDatabaseError) as caught:
        for conversation in store.list_conversations():
            store.load_messages(conversation.id)
    assert caught.value.backup_path is not None
    assert caught.value.backup_path.read_bytes() == damaged
    with pytest.raises(DamagedDatabaseError):  # the store stays unusable, the file untouched
        store.list_conversations()
    assert (tmp_path / DB_FILE_NAME).read_bytes() == damaged


def test_the_integrity_check_runs_after_an_unclean_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store(tmp_path)
    checks: list[bool] = []
    original = ChatStore._check

    def spy(db: sqlite3.Connection, integrity: bool) -> int:
        checks.append(integrity)
        return original(db, integrity)

    monkeypatch.setattr(ChatStore, "_check", staticmethod(spy))
    ChatStore.open(tmp_path).close()
    (tmp_path / f"{DB_FILE_NAME}-wal").write_bytes(b"")  # as a killed process leaves it
    ChatStore.open(tmp_path).close()
    assert checks == [False, True]


def test_a_schema_newer_than_this_version_knows(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {migrations.LATEST_VERSION + 1}")
    db.close()
    error = assert_reported_and_kept(tmp_path, path.read_bytes(), "newer qwen-desktop")
    assert f"schema version {migrations.LATEST_VERSION + 1}" in error.reason


def test_another_programs_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE bookmarks (url TEXT)")
    db.close()
    assert_reported_and_kept(tmp_path, path.read_bytes(), "not a qwen-desktop chat history")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 42")
    db.close()
    with pytest.raises(DamagedDatabaseError, match="another program"):
        ChatStore.open(tmp_path)


def test_a_new_empty_store_only_when_asked_and_only_with_a_copy(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(DamagedDatabaseError) as caught:
        ChatStore.open(tmp_path, now=clock)
    assert path.read_bytes() == b"garbage" * 100  # still there until the caller asks
    with ChatStore.replace_damaged(caught.value) as store:
        assert store.list_conversations() == []
    assert caught.value.backup_path is not None
    assert caught.value.backup_path.read_bytes() == b"garbage" * 100
    uncopied = DamagedDatabaseError(path, None, "test")
    with pytest.raises(ChatStoreError, match="not copied aside"):
        ChatStore.replace_damaged(uncopied)
    assert path.exists()


def test_a_second_backup_gets_its_own_name(tmp_path: Path) -> None:
    (tmp_path / DB_FILE_NAME).write_bytes(b"x" * 200)
    names = set()
    for _ in range(2):
        with pytest.raises(DamagedDatabaseError) as caught:
            ChatStore.open(tmp_path, now=clock)
        assert caught.value.backup_path is not None
        names.add(caught.value.backup_path.name)
    assert len(names) == 2


def test_a_locked_database_is_busy_not_damaged(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    with ChatStore.open(tmp_path) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        store.db.execute("PRAGMA busy_timeout = 50")
        try:
            with pytest.raises(ChatStoreError, match="busy") as caught:
                store.create_conversation(title="blocked")
            assert not isinstance(caught.value, DamagedDatabaseError)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.create_conversation(title="works again").title == "works again"
    assert not list(tmp_path.glob("*.damaged-*"))


def _migration_2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")


def test_numbered_migrations_apply_in_order_with_a_backup_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store(tmp_path)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, _migration_2])
    with ChatStore.open(tmp_path, now=clock) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert store.db.execute("SELECT pinned FROM conversations").fetchall() == [(0,)]
        assert store.list_conversations()[0].title == "precious"
    (backup,) = tmp_path.glob(f"{DB_FILE_NAME}.before-v2-*")
    with sqlite3.connect(backup) as copy:
        assert copy.execute("PRAGMA user_version").fetchone()[0] == 1
    copy.close()
    monkeypatch.undo()  # this version knows only migration 1: the v2 file is "newer"
    with pytest.raises(DamagedDatabaseError, match="newer"):
        ChatStore.open(tmp_path)


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "partial.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("bug in migration 2")

    assert migrations.migrate(db, [migrations.MIGRATIONS[0]]) == [1]
    with pytest.raises(RuntimeError):
        migrations.migrate(db, [migrations.MIGRATIONS[0], broken])
    assert migrations.schema_version(db) == 1
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    db.close()
