"""Benchmark: the chat store against plain sqlite3, measured in the same run.

Run: ``.venv/bin/python bench/bench_storage.py [--messages 10000] [--tokens 2000] [--repeat 15]``
(about ten seconds; temporary files only).

1. **Open a long conversation**: ``ChatStore.open`` (integrity check, migrations, index sync)
   then ``load_messages(cid, limit=50)``, on a conversation of ``--messages`` messages (answers of
   ~1,500 characters with ~3,000 characters of thinking). Baseline: ``sqlite3.connect`` plus the
   same ``ORDER BY position DESC LIMIT 50`` query on a plain indexed table holding the same rows.
2. **Append streamed tokens**: ``--tokens`` tokens of 4 characters fed to an
   :class:`~qwen_desktop.core.storage.AnswerWriter` as the service does, (a) with its default
   0.25 s flush interval at a simulated 1,000 tokens/s, and (b) flushing on every token (the
   worst case: one ``UPDATE … content || ?`` transaction per token). Baseline: one plain
   ``INSERT`` per token in autocommit, same journal mode (WAL) and ``synchronous`` level.
3. For reference: search for words across all messages (FTS5 trigram, and the LIKE fallback),
   ``PRAGMA quick_check`` (run on open only after an unclean shutdown), and the context meter of
   the long conversation (first reading, then a cached one as while typing).

Times are medians; ratios are ours ÷ baseline. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from qwen_desktop.chat.conversations import ConversationService
from qwen_desktop.core.storage import (
    AnswerWriter,
    ChatStore,
    ConversationRecord,
    MessageStats,
    MessageStatus,
    NewMessage,
)
from qwen_desktop.core.types import AnswerDelta, BackendCapabilities, ThinkingDelta, ThinkingKind

PAGE = 50


class _Engine:
    """Just enough of a ChatBackend for the context meter (no model, no generation)."""

    capabilities = BackendCapabilities(
        thinking_kind=ThinkingKind.HYBRID, context_window_tokens=40_960
    )
    loaded = None


WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over",
    "a", "lazy", "dog", "while", "qubits", "entangle",
]  # fmt: skip


def text_of(chars: int, seed: int) -> str:
    out: list[str] = []
    length = 0
    index = seed
    while length < chars:
        word = WORDS[index % len(WORDS)]
        out.append(word)
        length += len(word) + 1
        index = index * 7 + 3
    return " ".join(out)


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def build(folder: Path, count: int) -> tuple[int, list[tuple[int, str, str, str]]]:
    messages = []
    rows: list[tuple[int, str, str, str]] = []
    for number in range(count):
        if number % 2 == 0:
            message = NewMessage("user", text_of(200, number))
        else:
            message = NewMessage(
                "assistant",
                text_of(1500, number),
                thinking=text_of(3000, number + 1),
                stats=MessageStats(prompt_tokens=100, generated_tokens=1100, thinking_tokens=750),
            )
        messages.append(message)
        rows.append((number, message.role, message.content, message.thinking))
    conversation = ConversationRecord(id=0, title="long", created_at=0.0, updated_at=0.0)
    with ChatStore.open(folder) as store:
        (record,) = store.insert_conversations([(conversation, messages)])
        for extra in range(20):
            cid = store.create_conversation(title=f"other {extra}").id
            store.add_message(cid, "user", text_of(300, extra))
    return record.id, rows


def plain_copy(folder: Path, rows: list[tuple[int, str, str, str]]) -> Path:
    """The same messages in a plain indexed table (the baseline)."""
    plain_path = folder / "plain.sqlite3"
    plain = sqlite3.connect(plain_path)
    plain.execute("PRAGMA journal_mode = WAL")
    plain.execute(
        "CREATE TABLE m (conv INTEGER, pos INTEGER, role TEXT, content TEXT, thinking TEXT, "
        "PRIMARY KEY (conv, pos))"
    )
    plain.executemany("INSERT INTO m VALUES (1, ?, ?, ?, ?)", rows)
    plain.commit()
    plain.close()
    return plain_path


def bench_meter(store: ChatStore, cid: int, repeat: int) -> tuple[float, float, float]:
    """Context meter: first reading, cached reading (typing), reading after a new message (ms)."""
    service = ConversationService(store, _Engine())  # type: ignore[arg-type]
    started = time.perf_counter()
    service.context_reading(cid, draft="hello")
    first = 1000 * (time.perf_counter() - started)
    cached = median_ms(lambda: service.context_reading(cid, draft="hello there"), repeat)
    question = store.add_message(cid, "user", "one more question")
    started = time.perf_counter()
    service.context_reading(cid, draft="hello")
    after = 1000 * (time.perf_counter() - started)
    store.delete_messages(cid, from_position=question.position)
    return first, cached, after


def bench_open(folder: Path, cid: int, rows: list[tuple[int, str, str, str]], repeat: int) -> None:
    plain_path = plain_copy(folder, rows)

    opened: list[ChatStore | sqlite3.Connection] = []

    def ours_open_and_page() -> None:
        store = ChatStore.open(folder / "store")
        opened.append(store)
        assert len(store.load_messages(cid, limit=PAGE)) == PAGE

    def plain_open_and_page() -> None:
        db = sqlite3.connect(plain_path)
        opened.append(db)
        got = db.execute(
            "SELECT * FROM m WHERE conv = 1 ORDER BY pos DESC LIMIT ?", (PAGE,)
        ).fetchall()
        assert len(got) == PAGE

    ours_times: list[float] = []
    base_times: list[float] = []
    for _ in range(repeat):  # closing (checkpoint, PRAGMA optimize) is not part of opening
        for run, times in ((ours_open_and_page, ours_times), (plain_open_and_page, base_times)):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
            opened.pop().close()
    ours = 1000 * statistics.median(ours_times)
    base = 1000 * statistics.median(base_times)
    with ChatStore.open(folder / "store") as store:
        page = median_ms(lambda: store.load_messages(cid, limit=PAGE), repeat)
        everything = median_ms(lambda: store.load_messages(cid), max(3, repeat // 5))
        history = median_ms(lambda: store.load_history(cid), max(3, repeat // 5))
        check = median_ms(lambda: store.db.execute("PRAGMA quick_check").fetchall(), 3)
        fts = median_ms(lambda: store.search("entangle qubits"), repeat)
        meter_first, meter_cached, meter_after_send = bench_meter(store, cid, repeat)
    with ChatStore.open(folder / "store", full_text=False) as store:
        like = median_ms(lambda: store.search("entangle qubits"), max(3, repeat // 5))
    with ChatStore.open(folder / "store") as store:  # restore the FTS index
        pass
    size_mb = (folder / "store" / "chats.sqlite3").stat().st_size / 1e6
    print(f"\n## Open a {len(rows):,}-message conversation ({size_mb:.0f} MB database)")
    print(f"  ChatStore.open + last {PAGE} messages  : {ours:8.2f} ms")
    print(f"  plain sqlite3 connect + same page    : {base:8.2f} ms   ratio {ours / base:6.1f}x")
    print(f"  PRAGMA quick_check (unclean shutdown): {check:8.2f} ms")
    print(f"  last page only (store already open)  : {page:8.2f} ms")
    print(f"  {f'all {len(rows):,} messages':<37}: {everything:8.2f} ms")
    print(f"  history for the prompt (no thinking) : {history:8.2f} ms")
    print(f"  context meter, first reading         : {meter_first:8.2f} ms")
    print(f"  context meter, cached (while typing) : {meter_cached:8.2f} ms")
    print(f"  context meter, after a new message   : {meter_after_send:8.2f} ms")
    print(f"  search, FTS5 trigram                 : {fts:8.2f} ms")
    print(f"  search, LIKE fallback                : {like:8.2f} ms")


def bench_append(folder: Path, tokens: int, repeat: int) -> None:
    token_texts = [WORDS[i % len(WORDS)][:3] + " " for i in range(tokens)]
    store = ChatStore.open(folder / "append")
    cid = store.create_conversation().id

    def stream(interval: float) -> int:
        row = store.add_message(cid, "assistant", "", status=MessageStatus.STREAMING)
        now = [0.0]
        writer = AnswerWriter(store, row, flush_interval_s=interval, clock=lambda: now[0])
        for index, text in enumerate(token_texts):
            now[0] += 0.001  # 1,000 tokens/s
            writer.apply(ThinkingDelta(text) if index < tokens // 2 else AnswerDelta(text))
        writer.finish()
        return writer.flushes

    throttled_flushes = stream(0.25)
    throttled = median_ms(lambda: stream(0.25), repeat) / tokens
    every = median_ms(lambda: stream(0.0), max(3, repeat // 3)) / tokens
    store.close()

    plain = sqlite3.connect(folder / "append-plain.sqlite3", isolation_level=None)
    plain.execute("PRAGMA journal_mode = WAL")
    plain.execute("PRAGMA synchronous = NORMAL")
    plain.execute("CREATE TABLE t (message INTEGER, text TEXT)")

    def plain_inserts() -> None:
        for text in token_texts:
            plain.execute("INSERT INTO t VALUES (1, ?)", (text,))

    base = median_ms(plain_inserts, repeat) / tokens
    plain.close()
    print(f"\n## Append {tokens:,} streamed tokens (per token)")
    print(
        f"  AnswerWriter, 0.25 s flushes ({throttled_flushes} writes): {1000 * throttled:7.2f} µs"
        f"   ratio {throttled / base:5.2f}x"
    )
    print(
        f"  AnswerWriter, a write per token          : {1000 * every:7.2f} µs"
        f"   ratio {every / base:5.2f}x"
    )
    print(f"  plain sqlite3 INSERT per token (baseline): {1000 * base:7.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        cid, rows = build(folder / "store", args.messages)
        print(f"built {args.messages:,} messages in {time.perf_counter() - started:.1f} s")
        bench_open(folder, cid, rows, args.repeat)
        bench_append(folder, args.tokens, args.repeat)


if __name__ == "__main__":
    main()
