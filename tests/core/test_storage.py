"""ChatStore: conversations, messages with thinking apart, paging, streaming, crash safety."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qwen_desktop.core.storage import (
    UNSET,
    AnswerWriter,
    ChatStore,
    ChatStoreError,
    ImageInput,
    MessageStats,
    MessageStatus,
    MissingRecordError,
)
from qwen_desktop.core.storage.database import INTERRUPTED_ERROR
from qwen_desktop.core.storage.images import INLINE_IMAGE_MAX_BYTES
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    SamplingSettings,
    StreamError,
    ThinkingDelta,
    ThinkingReclassified,
    Usage,
)


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> ChatStore:
    with ChatStore.open(tmp_path / "data", now=clock) as opened:
        yield opened  # type: ignore[misc]


def test_open_sets_wal_foreign_keys_and_schema_version(tmp_path: Path) -> None:
    store = ChatStore.open(tmp_path / "new" / "dir")
    assert store.path == tmp_path / "new" / "dir" / "chats.sqlite3"
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == 1
    store.close()
    with pytest.raises(ChatStoreError, match="closed"):
        store.list_conversations()


def test_conversations_listed_newest_first_and_settings_round_trip(
    store: ChatStore, clock: FakeClock
) -> None:
    sampling = SamplingSettings.for_mode(False, max_new_tokens=512, seed=7)
    first = store.create_conversation(
        title="First",
        model="qwen3:8b",
        engine="ollama",
        system_prompt="Be brief.",
        sampling=sampling,
        thinking=False,
        thinking_budget_tokens=1024,
    )
    clock.advance(1)
    second = store.create_conversation(title="Second")
    assert [c.title for c in store.list_conversations()] == ["Second", "First"]
    clock.advance(1)
    store.add_message(first.id, "user", "hello")  # activity moves it to the top
    assert [c.title for c in store.list_conversations()] == ["First", "Second"]
    loaded = store.get_conversation(first.id)
    assert (loaded.model, loaded.engine, loaded.system_prompt) == (
        "qwen3:8b",
        "ollama",
        "Be brief.",
    )
    assert (loaded.sampling, loaded.thinking, loaded.thinking_budget_tokens) == (
        sampling,
        False,
        1024,
    )
    assert loaded.message_count == 1 and second.sampling is None and second.thinking


def test_rename_update_and_delete(store: ChatStore, clock: FakeClock) -> None:
    conversation = store.create_conversation(
        title="Old", sampling=SamplingSettings(), thinking_budget_tokens=10
    )
    clock.advance(1)
    newer = store.create_conversation(title="Newer")
    clock.advance(1)
    renamed = store.rename_conversation(conversation.id, "New")
    assert renamed.title == "New" and renamed.updated_at == conversation.updated_at
    assert [c.id for c in store.list_conversations()] == [newer.id, conversation.id]
    updated = store.update_conversation(
        conversation.id, sampling=None, thinking_budget_tokens=UNSET
    )
    assert updated.sampling is None and updated.thinking_budget_tokens == 10
    store.add_message(conversation.id, "user", "q")
    store.delete_conversation(conversation.id)
    assert store.list_conversations() == [store.get_conversation(newer.id)]
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0  # cascade
    with pytest.raises(MissingRecordError):
        store.get_conversation(conversation.id)
    with pytest.raises(MissingRecordError):
        store.add_message(conversation.id, "user", "orphan")


def test_thinking_is_stored_apart_and_history_never_reads_it(store: ChatStore) -> None:
    cid = store.create_conversation().id
    store.add_message(cid, "user", "What is 6 × 7?")
    store.add_message(cid, "assistant", "42", thinking="6 × 7 = 42, easy.")
    stored = store.load_messages(cid)
    assert [(m.role, m.content, m.thinking) for m in stored] == [
        ("user", "What is 6 × 7?", ""),
        ("assistant", "42", "6 × 7 = 42, easy."),
    ]
    assert store.load_history(cid) == [
        ChatMessage("user", "What is 6 × 7?"),
        ChatMessage("assistant", "42"),
    ]


def test_paging_loads_the_last_page_then_earlier_ones(store: ChatStore) -> None:
    cid = store.create_conversation().id
    for number in range(25):
        store.add_message(cid, "user" if number % 2 == 0 else "assistant", f"m{number}")
    last = store.load_messages(cid, limit=10)
    assert [m.content for m in last] == [f"m{n}" for n in range(15, 25)]
    earlier = store.load_messages(cid, limit=10, before_position=last[0].position)
    assert [m.content for m in earlier] == [f"m{n}" for n in range(5, 15)]
    assert len(store.load_messages(cid)) == store.count_messages(cid) == 25


def test_streamed_answer_is_saved_throttled_and_finished_with_stats(
    store: ChatStore, clock: FakeClock
) -> None:
    cid = store.create_conversation().id
    row = store.add_message(cid, "assistant", "", status=MessageStatus.STREAMING)
    assert row.finished_at is None
    writer = AnswerWriter(store, row, flush_interval_s=0.25, clock=clock)
    writer.apply(ThinkingDelta("Let me think."))
    writer.apply(AnswerDelta("Hel"))
    assert store.get_message(row.id).content == ""  # not yet: under the flush interval
    clock.advance(0.3)
    writer.apply(AnswerDelta("lo"))
    saved = store.get_message(row.id)
    assert (saved.content, saved.thinking, saved.status) == ("Hello", "Let me think.", "streaming")
    assert writer.flushes == 1
    usage = Usage(
        prompt_tokens=12,
        generated_tokens=9,
        ttft_seconds=0.2,
        tokens_per_second=30.0,
        total_seconds=0.5,
        thinking_tokens=4,
        thinking_seconds=0.1,
    )
    writer.apply(AnswerDelta(" world"))
    writer.apply(usage)
    final = writer.finish()
    assert (final.content, final.status) == ("Hello world", MessageStatus.COMPLETE)
    assert final.stats == MessageStats.from_usage(usage)
    assert final.stats.answer_tokens == 5 and final.finished_at is not None
    with pytest.raises(ChatStoreError, match="no longer being written"):
        store.append_to_message(row.id, answer="late")


def test_stopped_and_failed_answers_keep_their_partial_text(store: ChatStore) -> None:
    cid = store.create_conversation().id
    stopped = AnswerWriter(store, store.add_message(cid, "assistant", "", status="streaming"))  # type: ignore[arg-type]
    stopped.apply(AnswerDelta("partial"))
    record = stopped.stop(MessageStats(finish_reason="cancelled"))
    assert (record.status, record.content, record.stats.finish_reason) == (
        "stopped",
        "partial",
        "cancelled",
    )
    failed = AnswerWriter(store, store.add_message(cid, "assistant", "", status="streaming"))  # type: ignore[arg-type]
    failed.apply(AnswerDelta("half an ans"))
    failed.apply(StreamError("Engine died.", "Retry."))
    record = failed.fail("Engine died.", "Retry.")
    assert (record.status, record.content, record.error, record.error_action) == (
        "error",
        "half an ans",
        "Engine died.",
        "Retry.",
    )


def test_reclassified_text_moves_to_thinking_in_the_row(store: ChatStore) -> None:
    cid = store.create_conversation().id
    row = store.add_message(cid, "assistant", "", status=MessageStatus.STREAMING)
    writer = AnswerWriter(store, row, flush_interval_s=0)
    writer.apply(AnswerDelta("Let me see."))
    writer.apply(ThinkingReclassified("Let me see."))
    writer.apply(AnswerDelta("42"))
    saved = store.get_message(row.id)
    assert (saved.thinking, saved.content) == ("Let me see.", "42")


def test_edit_removes_later_messages_and_says_how_many(store: ChatStore) -> None:
    cid = store.create_conversation().id
    ids = [store.add_message(cid, "user", f"m{n}").id for n in range(5)]
    assert store.later_message_count(ids[1]) == 3
    assert store.edit_message(ids[1], "edited") == 3
    assert [m.content for m in store.load_messages(cid)] == ["m0", "edited"]
    assert store.delete_oldest_messages(cid, 1) == 1
    assert [m.content for m in store.load_messages(cid)] == ["edited"]


def test_images_by_content_hash_inline_or_file_and_pruned(store: ChatStore) -> None:
    cid = store.create_conversation().id
    small = ImageInput(b"\x89PNG small", "image/png", 10, 20)
    large = ImageInput(b"J" * (INLINE_IMAGE_MAX_BYTES + 1), "image/jpeg")
    first = store.add_message(cid, "user", "two images", images=[small, large])
    store.add_message(cid, "user", "same image again", images=[small])
    assert [i.mime for i in first.images] == ["image/png", "image/jpeg"]
    assert (first.images[0].width, first.images[0].height) == (10, 20)
    assert store.db.execute("SELECT count(*) FROM images").fetchone()[0] == 2  # stored once
    large_file = store.data_dir / "images" / first.images[1].sha256
    assert large_file.read_bytes() == large.data
    assert store.image_bytes(first.images[0].sha256) == small.data
    assert store.load_history(cid)[0].images == (small.data, large.data)
    store.delete_messages(cid, from_position=0)
    assert store.db.execute("SELECT count(*) FROM images").fetchone()[0] == 0
    assert not large_file.exists()


def test_non_ascii_text_and_paths(tmp_path: Path) -> None:
    folder = tmp_path / "données" / "聊天记录 ✓"
    with ChatStore.open(folder) as store:
        cid = store.create_conversation(title="Привет, 世界 🌍").id
        store.add_message(cid, "user", "Ünïcödé — 量子计算是什么？")
    with ChatStore.open(folder) as store:
        (conversation,) = store.list_conversations()
        assert conversation.title == "Привет, 世界 🌍"
        assert store.load_messages(cid)[0].content == "Ünïcödé — 量子计算是什么？"


def test_reopen_recovers_an_answer_left_streaming(tmp_path: Path) -> None:
    with ChatStore.open(tmp_path) as store:
        cid = store.create_conversation().id
        row = store.add_message(cid, "assistant", "", status=MessageStatus.STREAMING)
        store.append_to_message(row.id, answer="saved part")
    with ChatStore.open(tmp_path) as store:
        assert store.recovered_messages == 1
        record = store.get_message(row.id)
        assert (record.status, record.content, record.error) == (
            "error",
            "saved part",
            INTERRUPTED_ERROR,
        )
        assert store.search("saved part")  # indexed once no longer streaming


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from qwen_desktop.core.storage import AnswerWriter, ChatStore, MessageStatus
    from qwen_desktop.core.types import AnswerDelta, ThinkingDelta

    store = ChatStore.open(Path(sys.argv[1]))
    cid = store.create_conversation(title="before the crash").id
    store.add_message(cid, "user", "first question")
    store.add_message(cid, "assistant", "first answer", thinking="first thinking")
    store.add_message(cid, "user", "second question")
    row = store.add_message(cid, "assistant", "", status=MessageStatus.STREAMING)
    now = [0.0]
    writer = AnswerWriter(store, row, flush_interval_s=0.25, clock=lambda: now[0])
    writer.apply(ThinkingDelta("thinking saved"))   # t=0.0: not due yet
    now[0] = 0.1
    writer.apply(AnswerDelta("saved"))              # not due yet
    now[0] = 0.3
    writer.apply(AnswerDelta(" too"))               # due: everything so far is written
    now[0] = 0.35
    writer.apply(AnswerDelta(" LOST"))              # in memory only
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killing_the_app_mid_answer_loses_only_unsaved_tokens(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path)],
        capture_output=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == -9, result.stderr.decode()
    with ChatStore.open(tmp_path) as store:
        (conversation,) = store.list_conversations()
        messages = store.load_messages(conversation.id)
    assert [(m.role, m.content, m.thinking, m.status) for m in messages] == [
        ("user", "first question", "", "complete"),
        ("assistant", "first answer", "first thinking", "complete"),
        ("user", "second question", "", "complete"),
        ("assistant", "saved too", "thinking saved", "error"),
    ]
    assert messages[-1].error == INTERRUPTED_ERROR


def test_every_write_is_committed_before_returning(tmp_path: Path) -> None:
    with ChatStore.open(tmp_path) as store:
        cid = store.create_conversation().id
        store.add_message(cid, "user", "visible to another connection at once")
        other = sqlite3.connect(store.path)
        assert other.execute("SELECT content FROM messages").fetchall() == [
            ("visible to another connection at once",)
        ]
        other.close()


def test_positions_stay_ordered_across_deletions(store: ChatStore) -> None:
    cid = store.create_conversation().id
    for text in ("a", "b", "c"):
        store.add_message(cid, "user", text)
    store.delete_messages(cid, from_position=2)
    store.add_message(cid, "user", "d")
    positions = [m.position for m in store.load_messages(cid)]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert [m.content for m in store.load_messages(cid)] == ["a", "b", "d"]
    pairs = list(itertools.pairwise(positions))
    assert all(a < b for a, b in pairs)
