"""The chat transcript: user messages, assistant answers with a live thinking block, notices."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.core.types import Usage


def length_limit_message(usage: Usage) -> tuple[str, str]:
    """Message and action for an answer cut by the answer limit or a full context window."""
    where = "while still thinking" if usage.thinking_incomplete else "before the answer ended"
    if usage.context_window_full:
        return (
            f"The context window is full: the answer stopped {where}.",
            "Start a new chat to continue with an empty context.",
        )
    return (
        f"Stopped at the answer length limit ({usage.generated_tokens} tokens) {where}.",
        "Raise the limit in the chat settings, or ask for a shorter answer.",
    )


def _wrapping_label(text: str = "", *, fmt: Qt.TextFormat = Qt.TextFormat.PlainText) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(fmt)
    label.setWordWrap(True)
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
    )
    label.setOpenExternalLinks(True)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
    return label


class UserMessage(QFrame):
    """A message the user sent."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userMessage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.label = _wrapping_label(text)
        layout.addWidget(self.label)


class ThinkingBlock(QFrame):
    """A collapsible block with the model's thinking: "Thinking… 3 s", then "Thought for 3.2 s".

    Hidden while there is no thinking text (an empty block is never shown, case C2).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thinkingBlock")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(2)
        self.header = QToolButton()
        self.header.setObjectName("thinkingHeader")
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setCheckable(True)
        self.header.setChecked(True)
        self.header.setArrowType(Qt.ArrowType.DownArrow)
        self.header.toggled.connect(self._on_header_toggled)
        self.body = _wrapping_label()
        self.body.setObjectName("thinkingBody")
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        self.text = ""
        self.started: float | None = None
        self.ended: float | None = None
        self._user_toggled = False
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._refresh_header)
        self.setVisible(False)

    def append(self, text: str) -> None:
        """Add streamed thinking text (starts the live timer on the first text)."""
        if self.started is None:
            self.started = time.monotonic()
            self._timer.start()
        self.text += text
        self.body.setText(self.text)
        self.setVisible(True)
        self._refresh_header()

    def prepend(self, text: str, started: float | None = None) -> None:
        """Put text first shown as answer at the start (it was thinking after all).

        Args:
            text: The text to move.
            started: When that text began to arrive (monotonic seconds): the thinking's start.
        """
        if self.started is None or (started is not None and started < self.started):
            self.started = started if started is not None else time.monotonic()
        self.text = text + self.text
        self.body.setText(self.text)
        self.setVisible(True)
        self.close_block()

    def close_block(
        self, seconds: float | None = None, *, incomplete: bool = False, at_limit: bool = False
    ) -> None:
        """Thinking ended: show its duration and collapse (unless the user opened it).

        Args:
            seconds: The engine's measured thinking time (replaces the UI's own timing).
            incomplete: The thinking block never closed (no answer followed).
            at_limit: It never closed because the answer length limit was reached.
        """
        if self.ended is None:
            self.ended = time.monotonic()
        self._timer.stop()
        if seconds is not None:
            self.started, self.ended = 0.0, seconds
        self._incomplete = incomplete
        self._at_limit = at_limit
        if not self._user_toggled:
            self.header.blockSignals(True)
            self.header.setChecked(incomplete)
            self.header.blockSignals(False)
            self._apply_expanded(incomplete)
        self._refresh_header()

    @property
    def is_live(self) -> bool:
        """True while thinking is streaming."""
        return self.started is not None and self.ended is None

    def _refresh_header(self) -> None:
        if self.started is None:
            return
        if self.ended is None:
            self.header.setText(f"Thinking… {time.monotonic() - self.started:.0f} s")
        elif getattr(self, "_incomplete", False):
            why = "at the token limit" if getattr(self, "_at_limit", False) else "without an answer"
            self.header.setText(f"Thinking ended {why} after {self.ended - self.started:.1f} s")
        else:
            self.header.setText(f"Thought for {self.ended - self.started:.1f} s")

    def _on_header_toggled(self, checked: bool) -> None:
        self._user_toggled = True
        self._apply_expanded(checked)

    def _apply_expanded(self, expanded: bool) -> None:
        self.body.setVisible(expanded)
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)


class AssistantMessage(QFrame):
    """One answer: the thinking block, the answer (Markdown), its stats or error."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assistantMessage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(6)
        self.thinking = ThinkingBlock()
        self.answer = _wrapping_label(fmt=Qt.TextFormat.MarkdownText)
        self.answer.setObjectName("answer")
        self.answer.setVisible(False)
        self.waiting = QLabel("…")
        self.waiting.setObjectName("waiting")
        self.stats = QLabel()
        self.stats.setObjectName("stats")
        self.stats.setVisible(False)
        self.error = _wrapping_label()
        self.error.setObjectName("error")
        self.error.setVisible(False)
        for widget in (self.thinking, self.waiting, self.answer, self.stats, self.error):
            layout.addWidget(widget)
        self.answer_text = ""
        self.answer_started: float | None = None

    def add_thinking(self, text: str) -> None:
        """Stream thinking text into the block."""
        self.waiting.setVisible(False)
        self.thinking.append(text)

    def add_answer(self, text: str) -> None:
        """Stream answer text (closes a live thinking block first)."""
        self.waiting.setVisible(False)
        if self.thinking.is_live:
            self.thinking.close_block()
        if self.answer_started is None:
            self.answer_started = time.monotonic()
        self.answer_text += text
        self.answer.setText(self.answer_text)
        self.answer.setVisible(True)

    def reclassify(self, text: str) -> None:
        """Move ``text`` from the start of the answer into the thinking block."""
        self.answer_text = self.answer_text.removeprefix(text).lstrip()
        self.answer.setText(self.answer_text)
        self.answer.setVisible(bool(self.answer_text))
        self.thinking.prepend(text, self.answer_started)
        self.answer_started = None

    def finish(self, usage: Usage) -> None:
        """The answer is complete: show tokens/s, TTFT and token counts."""
        self.waiting.setVisible(False)
        if self.thinking.text:
            self.thinking.close_block(
                usage.thinking_seconds,
                incomplete=usage.thinking_incomplete,
                at_limit=usage.finish_reason == "length",
            )
        if usage.thinking_incomplete and usage.finish_reason == "stop":
            self.show_error(
                "The model stopped while still thinking, so there is no answer.",
                "Ask again, or switch thinking off for a direct answer.",
            )
        parts = [
            f"{usage.tokens_per_second:.1f} tokens/s",
            f"{usage.generated_tokens} tokens",
            f"TTFT {usage.ttft_seconds:.2f} s",
        ]
        self.stats.setText(" · ".join(parts))
        self.stats.setVisible(True)
        if usage.finish_reason == "length":
            self.show_error(*length_limit_message(usage))

    def mark_stopped(self) -> None:
        """The user stopped the answer: keep what arrived and say so."""
        self.waiting.setVisible(False)
        if self.thinking.is_live:
            self.thinking.close_block()
        self.stats.setText("Stopped by you")
        self.stats.setVisible(True)

    def show_error(self, message: str, action: str = "") -> None:
        """Show an error under whatever text already arrived (it is kept)."""
        self.waiting.setVisible(False)
        if self.thinking.is_live:
            self.thinking.close_block()
        self.error.setText(f"{message} {action}".strip())
        self.error.setVisible(True)


class Notice(QLabel):
    """A one-line notice in the transcript (no model loaded, model loaded, …)."""

    def __init__(self, text: str, *, error: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setObjectName("noticeError" if error else "notice")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter)


class ChatView(QScrollArea):
    """The scrolling transcript. Follows the newest text while the user is at the bottom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._content = QWidget()
        self._content.setObjectName("chatContent")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(24, 16, 24, 16)
        self._layout.setSpacing(12)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        self.current: AssistantMessage | None = None

    def add_user(self, text: str) -> UserMessage:
        """Append the user's message."""
        widget = UserMessage(text)
        self._append(widget)
        self._follow = True
        return widget

    def start_answer(self) -> AssistantMessage:
        """Append an empty answer that streamed text will fill."""
        self.current = AssistantMessage()
        self._append(self.current)
        return self.current

    def add_notice(self, text: str, *, error: bool = False) -> Notice:
        """Append a notice line."""
        notice = Notice(text, error=error)
        self._append(notice)
        return notice

    def messages(self) -> list[QWidget]:
        """The transcript's widgets, oldest first."""
        items = (self._layout.itemAt(i) for i in range(self._layout.count()))
        return [w for item in items if item is not None and (w := item.widget()) is not None]

    def _append(self, widget: QWidget) -> None:
        self._layout.addWidget(widget)

    def _on_scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - 24

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
