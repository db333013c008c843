"""Benchmark: streaming an answer into the chat view (Markdown, code blocks), offscreen.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_chat_render.py
[--earlier 10 2000] [--tokens 3000] [--rate 1000]`` (about half a minute).

For each count of earlier messages (``--earlier``: user questions and Markdown answers with a
code block, already shown), ``--tokens`` tokens of about 4 characters (paragraphs, lists and
code) are streamed into a new answer at ``--rate`` tokens/s, as the window receives them:
``AssistantMessage.add_answer`` per token, the Qt event loop run between tokens (the render
timer fires every ``RENDER_INTERVAL_MS``). Reported:

* UI time per token: the time in ``add_answer`` plus the event-loop work (layout, renders),
  divided by the tokens (goal: the ratio between the largest and the smallest ``--earlier``
  ≤ 1.2);
* the longest single event-loop stall (goal ≤ 16 ms, one frame at 60 Hz);
* renders: how many times the answer was parsed (throttled, not once per token);
* the final full parse when the answer ends.

Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from qwen_desktop.ui.chat_view import ChatView
from qwen_desktop.ui.style import apply_style

EARLIER_ANSWER = (
    "Here is how it works, with **bold** words and `code`:\n\n"
    "```python\ndef f(x: int) -> int:\n    return x * 2\n```\n\n"
    "- one point\n- another point\n\nThat is all."
)


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


def run(app: QApplication, earlier: int, tokens: list[str], rate: float) -> dict[str, float]:
    view = ChatView()
    view.resize(900, 700)
    view.show()
    for index in range(earlier // 2):
        view.add_user(f"Question {index}?")
        answer = view.start_answer()
        answer.add_answer(EARLIER_ANSWER)
        answer.answer.flush()
    app.processEvents()
    current = view.start_answer()
    app.processEvents()
    busy = 0.0
    longest = 0.0
    start = time.perf_counter()
    for index, token in enumerate(tokens):
        due = start + index / rate
        while time.perf_counter() < due:
            time.sleep(min(0.0005, max(0.0, due - time.perf_counter())))
        t0 = time.perf_counter()
        current.add_answer(token)
        app.processEvents()
        spent = time.perf_counter() - t0
        busy += spent
        longest = max(longest, spent)
    t0 = time.perf_counter()
    current.answer.flush()
    app.processEvents()
    final = time.perf_counter() - t0
    renders = current.answer.renders
    view.close()
    view.deleteLater()
    app.processEvents()
    return {
        "per_token_ms": 1000 * busy / len(tokens),
        "longest_ms": 1000 * longest,
        "renders": renders,
        "final_ms": 1000 * final,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--earlier", type=int, nargs="+", default=[10, 2000])
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    apply_style(app)  # type: ignore[arg-type]
    tokens = answer_tokens(args.tokens)
    chars = sum(len(t) for t in tokens)
    print(f"{len(tokens)} tokens ({chars:,} characters) at {args.rate:.0f} tokens/s")
    results = {}
    for earlier in args.earlier:
        result = run(app, earlier, tokens, args.rate)  # type: ignore[arg-type]
        results[earlier] = result
        print(
            f"earlier messages {earlier:>6}: UI {result['per_token_ms']:.3f} ms/token, "
            f"longest stall {result['longest_ms']:.1f} ms, renders {result['renders']:.0f}, "
            f"final full parse {result['final_ms']:.1f} ms"
        )
    low, high = min(args.earlier), max(args.earlier)
    ratio = results[high]["per_token_ms"] / results[low]["per_token_ms"]
    print(f"ratio {high} / {low} earlier messages: {ratio:.2f} (goal ≤ 1.2)")


if __name__ == "__main__":
    main()
