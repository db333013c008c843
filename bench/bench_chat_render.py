"""Benchmark: streaming an answer into the window's chat, with a short and a very long history.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_chat_render.py
[--earlier 10 10000] [--tokens 3000] [--rate 1000] [--repeat 2] [--shown N]`` (about half a
minute).

Faithful to the app: the conversations are written to a real chat history (SQLite, WAL) in a
temporary folder; the window is built as the app builds it (``qwen_desktop.gui.build_window``)
and each conversation is opened the way the sidebar opens it
(``ConversationController.open_conversation``: its last page of messages, earlier ones on
scrolling up). The answer then streams through the window's own slots: the controller's
``busy_changed``, ``message_added`` (the question, then the answer row), ``answer_received`` per
token at ``--rate`` tokens/s, ``turn_finished`` at the end, exactly the signals the controller
emits. Tokens are about 4 characters of Markdown (paragraphs, lists, code blocks). ``--shown N``
first scrolls back until N messages are shown (as a user reading back through the history), and
keeps them while the answer streams.

Reported per conversation size (``--earlier``: messages already in the conversation):

* open: time from ``open_conversation`` until the transcript is laid out;
* UI time per token: the time in the slots plus the event-loop work they cause (layout,
  throttled Markdown renders, painting), divided by the tokens; the goal is a ratio between the
  largest and smallest ``--earlier`` ≤ 1.2;
* longest stall: how late a 2 ms ``Qt.PreciseTimer`` probe fired, at worst, while streaming
  (goal ≤ 16 ms, one frame at 60 Hz), its 99th percentile and how many firings were later than
  a frame; first the same probe with nothing streaming, the machine's own noise;
* the end of the answer (last render, stats and actions shown), and the time to load one
  earlier page on scrolling to the top, with the message widgets shown before and after.

Stalls are the worst of ``--repeat`` runs, the other figures their median. Nothing here runs in
the test suite. Figures depend on the machine and its load: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.storage import (
    ChatStore,
    ConversationRecord,
    MessageStats,
    MessageStatus,
    NewMessage,
)
from qwen_desktop.core.types import Usage
from qwen_desktop.gui import Desktop, build_window

EARLIER_ANSWER = (
    "Here is how it works, with **bold** words and `code`:\n\n"
    "```python\ndef f(x: int) -> int:\n    return x * 2\n```\n\n"
    "- one point\n- another point\n\nThat is all."
)
PROBE_MS = 2
"""Interval of the loop-lag probe (ms): a stall is how much later than this it fires."""
FRAME_MS = 16
"""The stall goal: one frame at 60 Hz (ms)."""
WORST = frozenset({"longest_ms", "p99_ms", "over_frame"})
"""Figures reported as the worst of the runs (the others as their median)."""


def answer_tokens(count: int) -> list[str]:
    """``count`` tokens of an answer mixing paragraphs, lists and code blocks."""
    pieces: list[str] = []
    block = 0
    while len(pieces) < count:
        block += 1
        if block % 4 == 0:
            text = "```python\n" + "".join(f"value_{i} = compute({i})\n" for i in range(12))
            text += "```\n\n"
        elif block % 4 == 2:
            text = "".join(f"- item {i} of the list\n" for i in range(6)) + "\n"
        else:
            text = "A paragraph with some **emphasis** and a [link](https://qwenlm.github.io). "
            text = text * 3 + "\n\n"
        pieces += [text[i : i + 4] for i in range(0, len(text), 4)]
    return pieces[:count]


def write_conversation(store: ChatStore, count: int) -> int:
    """A conversation of ``count`` messages (questions and Markdown answers); returns its id."""
    now = time.time()
    messages = []
    for index in range(count):
        if index % 2 == 0:
            messages.append(NewMessage(role="user", content=f"Question {index // 2}?"))
        else:
            stats = MessageStats(generated_tokens=40, tokens_per_second=30.0, ttft_seconds=0.2)
            messages.append(NewMessage(role="assistant", content=EARLIER_ANSWER, stats=stats))
    record = ConversationRecord(id=0, title=f"{count} messages", created_at=now, updated_at=now)
    [stored] = store.insert_conversations([(record, messages)])
    return stored.id


def settle(app: QApplication) -> None:
    """Run the event loop until the posted layout and paint work is done."""
    for _ in range(3):
        app.processEvents()


class LagProbe:
    """A precise repeating timer; records how late it fires (the event loop's stalls)."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._fired)
        self.last = 0.0
        self.lags: list[float] = []

    @property
    def longest(self) -> float:
        """The longest stall (seconds)."""
        return max(self.lags, default=0.0)

    def percentile(self, fraction: float) -> float:
        """The stall that ``fraction`` of the probe's firings did not exceed (seconds)."""
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

    def start(self) -> None:
        self.last = time.perf_counter()
        self.lags = []
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _fired(self) -> None:
        now = time.perf_counter()
        self.lags.append(max(0.0, now - self.last - PROBE_MS / 1000))
        self.last = now


def idle_lag(app: QApplication, seconds: float) -> float:
    """The probe's longest lag with nothing streaming (ms): the machine's own noise floor."""
    probe = LagProbe()
    probe.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        time.sleep(0.0005)
        app.processEvents()
    probe.stop()
    return 1000 * probe.longest


def run(
    app: QApplication,
    window: Desktop,
    cid: int,
    tokens: list[str],
    rate: float,
    *,
    shown: int = 0,
) -> dict[str, float]:
    """Open conversation ``cid``, stream ``tokens`` into a new answer, scroll up one page.

    ``shown``: first load earlier pages until this many messages are shown (kept while
    streaming).
    """
    chat, view = window.chat, window.chat_page.chat_view
    if shown:
        view.window_messages = max(view.window_messages, shown)
    t0 = time.perf_counter()
    chat.open_conversation(cid)
    settle(app)
    open_ms = 1000 * (time.perf_counter() - t0)
    while len(view.messages()) < shown and view.load_earlier():
        settle(app)
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
    settle(app)
    store = chat.store
    assert store is not None
    question = store.add_message(cid, "user", "One more question?")
    answer = store.add_message(cid, "assistant", "", status=MessageStatus.STREAMING)
    chat.busy_changed.emit(True)
    chat.message_added.emit(question)
    chat.message_added.emit(answer)
    settle(app)
    probe = LagProbe()
    probe.start()
    slept = 0.0
    start = time.perf_counter()
    for index, token in enumerate(tokens):
        due = start + index / rate
        while (now := time.perf_counter()) < due:  # idle until the token is due
            time.sleep(min(0.0005, due - now))
            slept += time.perf_counter() - now
            app.processEvents()  # timers (renders, the probe) fire here
        chat.answer_received.emit(token)
        app.processEvents()
    streaming_seconds = time.perf_counter() - start
    busy = streaming_seconds - slept  # everything but sleeping: slots, renders, layout, paint
    probe.stop()
    usage = Usage(
        prompt_tokens=100,
        generated_tokens=len(tokens),
        ttft_seconds=0.1,
        tokens_per_second=rate,
        total_seconds=streaming_seconds,
    )
    t0 = time.perf_counter()
    chat.turn_finished.emit(usage)
    chat.busy_changed.emit(False)
    settle(app)
    final_ms = 1000 * (time.perf_counter() - t0)
    shown = len(view.messages())
    t0 = time.perf_counter()
    view.verticalScrollBar().setValue(0)  # scrolling to the top loads the page before
    settle(app)
    earlier_ms = 1000 * (time.perf_counter() - t0)
    current = view.current
    return {
        "open_ms": open_ms,
        "per_token_ms": 1000 * busy / len(tokens),
        "longest_ms": 1000 * probe.longest,
        "p99_ms": 1000 * probe.percentile(0.99),
        "over_frame": sum(lag > FRAME_MS / 1000 for lag in probe.lags),
        "renders": current.answer.renders if current is not None else 0,
        "end_ms": final_ms,
        "shown": shown,
        "earlier_ms": earlier_ms,
        "shown_after": len(view.messages()),
        "achieved_rate": len(tokens) / streaming_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--earlier", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument(
        "--shown", type=int, default=0, help="scroll back until this many messages are shown"
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per size (stalls: the worst; else the median)"
    )
    args = parser.parse_args()
    if any(n < 0 for n in args.earlier) or args.tokens < 1 or args.rate <= 0 or args.repeat < 1:
        parser.error("--earlier ≥ 0, --tokens ≥ 1, --rate > 0 and --repeat ≥ 1 are required")
    if args.shown < 0:
        parser.error("--shown must be ≥ 0 (messages)")
    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)  # type: ignore[union-attr]
    tokens = answer_tokens(args.tokens)
    chars = sum(len(t) for t in tokens)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="qwen-bench-") as folder:
        root = Path(folder)
        paths = AppPaths(data_dir=root / "data", config_dir=root, models_dir=root / "models")
        store = ChatStore.open(paths.data_dir)
        t0 = time.perf_counter()
        ids = {n: write_conversation(store, n) for n in sorted(set(args.earlier))}
        warm_id = write_conversation(store, 10)
        store.close()
        print(f"wrote {sum(args.earlier):,} messages in {time.perf_counter() - t0:.1f} s")
        window = build_window(paths)
        window.shell.resize(1100, 800)
        window.shell.show()
        settle(app)  # type: ignore[arg-type]
        run(app, window, warm_id, tokens[:300], args.rate)  # type: ignore[arg-type]  # warm-up
        noise = idle_lag(app, 3.0)  # type: ignore[arg-type]
        print(f"idle event loop, nothing streaming: longest stall {noise:.1f} ms in 3 s")
        print(f"{len(tokens)} tokens ({chars:,} characters) at {args.rate:.0f} tokens/s")
        results: dict[int, dict[str, float]] = {}
        runs: dict[int, list[dict[str, float]]] = {n: [] for n in ids}
        for _ in range(args.repeat):
            for n, cid in ids.items():
                runs[n].append(
                    run(app, window, cid, tokens, args.rate, shown=args.shown)  # type: ignore[arg-type]
                )
        for n, measured in runs.items():
            results[n] = {  # the worst stall of all runs; the median of the rest
                k: (max if k in WORST else statistics.median)(r[k] for r in measured)
                for k in measured[0]
            }
            r = results[n]
            print(
                f"earlier messages {n:>6}: open {r['open_ms']:.0f} ms, "
                f"UI {r['per_token_ms']:.3f} ms/token, longest stall {r['longest_ms']:.1f} ms "
                f"(99th percentile {r['p99_ms']:.1f} ms, "
                f"{r['over_frame']:.0f} over {FRAME_MS} ms), "
                f"renders {r['renders']:.0f}, answer end {r['end_ms']:.0f} ms, "
                f"{r['achieved_rate']:.0f} tokens/s reached; "
                f"scroll-up page {r['earlier_ms']:.0f} ms "
                f"(widgets {r['shown']:.0f} → {r['shown_after']:.0f})"
            )
        window.chat.close_store()
        window.shell.close()
    low, high = min(ids), max(ids)
    ratio = results[high]["per_token_ms"] / results[low]["per_token_ms"]
    print(f"ratio {high} / {low} earlier messages: {ratio:.2f} (goal ≤ 1.2)")
    worst = max(r["longest_ms"] for r in results.values())
    print(f"longest stall: {worst:.1f} ms (goal ≤ 16 ms)")


if __name__ == "__main__":
    main()
