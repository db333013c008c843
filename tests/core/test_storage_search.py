"""Full-text search over answers, thinking and titles: FTS5, its LIKE fallback, keeping in sync."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qwen_desktop.core.storage import (
    MATCH_END,
    MATCH_START,
    AnswerWriter,
    ChatStore,
    MessageStatus,
)
from qwen_desktop.core.storage.fulltext import like_snippet
from qwen_desktop.core.types import AnswerDelta


def fill(store: ChatStore) -> dict[str, int]:
    ids = {}
    ids["rust"] = store.create_conversation(title="Rust lifetimes").id
    store.add_message(ids["rust"], "user", "Why does the borrow checker complain?")
    store.add_message(
        ids["rust"], "assistant", "Because the reference outlives its owner.", thinking="quantum"
    )
    ids["physics"] = store.create_conversation(title="Physics").id
    store.add_message(ids["physics"], "user", "Explain quantum entanglement simply.")
    ids["chinese"] = store.create_conversation(title="中文").id
    store.add_message(ids["chinese"], "user", "请解释一下量子计算的基本原理")
    return ids


@pytest.mark.parametrize("full_text", [None, False], ids=["fts5", "like"])
def test_search_finds_answers_thinking_and_titles(tmp_path: Path, full_text: bool | None) -> None:
    with ChatStore.open(tmp_path, full_text=full_text) as store:
        assert (store.full_text is not None) is (full_text is None)
        ids = fill(store)
        borrow = store.search("borrow checker")
        assert [hit.conversation.id for hit in borrow] == [ids["rust"]]
        assert f"{MATCH_START}borrow{MATCH_END}" in borrow[0].snippet.lower()
        # "quantum" is in one answer's thinking and in another user message: both found
        assert {hit.conversation.id for hit in store.search("QUANTUM")} == {
            ids["rust"],
            ids["physics"],
        }
        title = store.search("lifetimes")
        assert (title[0].message_id, title[0].conversation.title) == (None, "Rust lifetimes")
        assert [h.conversation.id for h in store.search("量子计算")] == [ids["chinese"]]
        assert [h.conversation.id for h in store.search("量子")] == [ids["chinese"]]  # 2 chars
        assert store.search("entanglement borrow") == []  # every word must match
        assert store.search("   ") == []


def test_query_syntax_is_matched_literally(tmp_path: Path) -> None:
    with ChatStore.open(tmp_path) as store:
        cid = store.create_conversation().id
        store.add_message(cid, "user", 'He said "AND OR NOT" * then: col:x (paren)')
        for query in ['"AND OR', 'NOT"', "col:x", "(paren)", "AND", "* then:"]:
            assert [h.conversation.id for h in store.search(query)] == [cid], query


def test_index_follows_edits_deletes_and_renames(tmp_path: Path) -> None:
    with ChatStore.open(tmp_path) as store:
        cid = store.create_conversation(title="alpha title").id
        message = store.add_message(cid, "user", "original wording")
        store.edit_message(message.id, "replacement wording")
        assert store.search("original") == []
        assert store.search("replacement")
        store.rename_conversation(cid, "omega title")
        assert store.search("alpha") == [] and store.search("omega")
        store.delete_conversation(cid)
        assert store.search("replacement") == [] and store.search("omega") == []
        assert store.db.execute("SELECT count(*) FROM messages_fts").fetchone()[0] == 0


def test_streaming_answer_is_indexed_once_finished(tmp_path: Path) -> None:
    with ChatStore.open(tmp_path) as store:
        cid = store.create_conversation().id
        row = store.add_message(cid, "assistant", "", status=MessageStatus.STREAMING)
        writer = AnswerWriter(store, row, flush_interval_s=0)
        writer.apply(AnswerDelta("photosynthesis explained"))
        assert store.search("photosynthesis") == []  # not indexed while streaming
        writer.finish()
        assert [h.message_id for h in store.search("photosynthesis")] == [row.id]


def test_fallback_without_fts_warns_and_a_later_open_rebuilds_the_index(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ChatStore.open(tmp_path) as store:
        cid = store.create_conversation().id
        store.add_message(cid, "user", "written with the index on")
    monkeypatch.setattr("qwen_desktop.core.storage.fulltext.available_tokenizer", lambda db: None)
    with caplog.at_level(logging.WARNING), ChatStore.open(tmp_path) as store:
        assert store.full_text is None
        assert "falls back to slower LIKE" in caplog.text
        store.add_message(cid, "user", "written while FTS5 was missing")
        assert store.search("missing")
    monkeypatch.undo()
    with ChatStore.open(tmp_path) as store:
        assert store.full_text is not None
        assert [h.conversation.id for h in store.search("while FTS5 was")] == [cid]
        assert [h.conversation.id for h in store.search("index on")] == [cid]


def test_like_snippet_marks_every_hit_case_insensitively() -> None:
    text = "x" * 100 + " Alpha beta ALPHA " + "y" * 100
    snippet = like_snippet(text, ["alpha"])
    assert snippet.startswith("…") and snippet.endswith("…")
    assert snippet.count(MATCH_START) == 2
    assert f"{MATCH_START}Alpha{MATCH_END}" in snippet
