"""The transcript's messages: user messages, answers with a live thinking block, notices.

:class:`~qwen_desktop.chat.ui.chat_view.ChatView` lays them out and pages them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.ui.markdown_view import MarkdownView
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.images import token_cost
from qwen_desktop.core.storage import MessageRecord, MessageStats, MessageStatus
from qwen_desktop.core.types import Usage

ImageLoader = Callable[[str], bytes]
"""The encoded bytes of a stored image, by SHA-256 (raises QwenDesktopError when missing)."""
TRANSCRIPT_THUMBNAIL_PIXELS = 96
"""Side of the square an image of a sent message is shown in (logical pixels)."""


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


def stats_line(stats: MessageStats) -> str:
    """ "12.3 tokens/s · 80 tokens (thinking 30) · TTFT 0.21 s" (unknown parts left out)."""
    parts = []
    if stats.tokens_per_second is not None:
        parts.append(f"{stats.tokens_per_second:.1f} tokens/s")
    if stats.generated_tokens is not None:
        tokens = f"{stats.generated_tokens} tokens"
        if stats.thinking_tokens:
            tokens += f" (thinking {stats.thinking_tokens})"
        parts.append(tokens)
    if stats.ttft_seconds is not None:
        parts.append(f"TTFT {stats.ttft_seconds:.2f} s")
    return " · ".join(parts)


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


def _action_button(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setObjectName("messageAction")
    button.setText(text)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class UserMessage(QFrame):
    """A message the user sent, with an Edit action once it is saved.

    Signals:
        edit_requested(): The user clicked Edit.
    """

    edit_requested = Signal()

    def __init__(
        self,
        text: str,
        record: MessageRecord | None = None,
        parent: QWidget | None = None,
        *,
        image_loader: ImageLoader | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("userMessage")
        self.record = record
        self.image_loader = image_loader
        self.pictures: list[QLabel] = []
        """The thumbnails of the message's images (when an image loader was given)."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 4)
        layout.setSpacing(2)
        self.label = _wrapping_label(text)
        layout.addWidget(self.label)
        self.images_label = QLabel()
        self.images_label.setObjectName("messageImages")
        self._picture_row = QHBoxLayout()
        self._picture_row.setSpacing(6)
        layout.addLayout(self._picture_row)
        layout.addWidget(self.images_label)
        self._show_images(record)
        actions = QHBoxLayout()
        actions.addStretch(1)
        self.edit_button = _action_button(
            "Edit", "Edit this message and send it again (later messages are removed)"
        )
        self.edit_button.clicked.connect(self.edit_requested)
        self.edit_button.setVisible(record is not None)
        actions.addWidget(self.edit_button)
        layout.addLayout(actions)

    @property
    def text(self) -> str:
        """The message's text."""
        return self.label.text()

    def set_record(self, record: MessageRecord) -> None:
        """The saved message (enables Edit)."""
        self.record = record
        self.label.setText(record.content)
        self.edit_button.setVisible(True)
        self._show_images(record)

    def _show_images(self, record: MessageRecord | None) -> None:
        images = record.images if record is not None else ()
        self.images_label.setVisible(bool(images))
        if images:
            tokens = sum(token_cost(i.width or 0, i.height or 0) for i in images)
            sizes = ", ".join(f"{i.width}×{i.height} px" for i in images)
            noun = "image" if len(images) == 1 else "images"
            self.images_label.setText(f"{len(images)} {noun} ({sizes}) · {tokens:,} visual tokens")
        if self.image_loader is not None and not self.pictures:
            for image in images:
                self.pictures.append(self._picture(image.sha256))
                self._picture_row.addWidget(self.pictures[-1])
            if self.pictures:
                self._picture_row.addStretch(1)

    def _picture(self, sha256: str) -> QLabel:
        label = QLabel()
        label.setObjectName("messagePicture")
        pixmap = QPixmap()
        try:
            loaded = self.image_loader is not None and pixmap.loadFromData(
                self.image_loader(sha256)
            )
        except QwenDesktopError as exc:
            label.setText(f"(image unavailable: {exc.message})")
            return label
        if not loaded:
            label.setText("(image unreadable)")
            return label
        label.setPixmap(
            pixmap.scaled(
                TRANSCRIPT_THUMBNAIL_PIXELS,
                TRANSCRIPT_THUMBNAIL_PIXELS,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        return label


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
    """One answer: the thinking block, the answer (Markdown), its stats or error, and actions.

    Signals:
        regenerate_requested(): The user clicked Regenerate.
    """

    regenerate_requested = Signal()

    def __init__(self, record: MessageRecord | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record = record
        self.setObjectName("assistantMessage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(6)
        self.thinking = ThinkingBlock()
        self.answer = MarkdownView()
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
        self.copy_button = _action_button("Copy", "Copy the answer (without its thinking)")
        self.copy_button.clicked.connect(self.copy_answer)
        self.regenerate_button = _action_button(
            "Regenerate", "Answer this question again: the new answer replaces this one"
        )
        self.regenerate_button.clicked.connect(self.regenerate_requested)
        self.action_row = QWidget()
        actions = QHBoxLayout(self.action_row)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.setSpacing(4)
        actions.addWidget(self.stats)
        actions.addStretch(1)
        actions.addWidget(self.copy_button)
        actions.addWidget(self.regenerate_button)
        self.copy_button.setVisible(False)
        self.regenerate_button.setVisible(False)
        for widget in (self.thinking, self.waiting, self.answer, self.error, self.action_row):
            layout.addWidget(widget)
        self.answer_text = ""
        self.answer_started: float | None = None

    def copy_answer(self) -> None:
        """Put the answer's text (Markdown source, no thinking) on the clipboard."""
        QGuiApplication.clipboard().setText(self.answer_text)

    def set_actions(self, *, finished: bool, last: bool) -> None:
        """Show Copy once the answer ended, Regenerate on the last answer only."""
        self.copy_button.setVisible(finished and bool(self.answer_text))
        self.regenerate_button.setVisible(finished and last)

    def show_record(self, record: MessageRecord) -> None:
        """Show a stored answer: collapsed thinking, the answer, its stats, status or error."""
        self.record = record
        self.waiting.setVisible(False)
        if record.thinking:
            self.thinking.text = record.thinking
            self.thinking.body.setText(record.thinking)
            self.thinking.started = 0.0
            self.thinking.setVisible(True)
            self.thinking.close_block(
                record.stats.thinking_seconds or 0.0,
                incomplete=record.stats.thinking_incomplete,
                at_limit=record.stats.finish_reason == "length",
            )
        if record.content:
            self.answer_text = record.content
            self.answer.set_markdown(record.content, now=True)
            self.answer.setVisible(True)
        if record.status is MessageStatus.STOPPED:
            self.stats.setText("Stopped by you")
            self.stats.setVisible(True)
        elif record.stats.generated_tokens is not None:
            self.stats.setText(stats_line(record.stats))
            self.stats.setVisible(True)
        if record.status is MessageStatus.ERROR and record.error:
            self.show_error(record.error, record.error_action or "")

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
        self.answer.set_markdown(self.answer_text)  # throttled: see markdown_view
        self.answer.setVisible(True)

    def reclassify(self, text: str) -> None:
        """Move ``text`` from the start of the answer into the thinking block."""
        self.answer_text = self.answer_text.removeprefix(text).lstrip()
        self.answer.set_markdown(self.answer_text, now=True)
        self.answer.setVisible(bool(self.answer_text))
        self.thinking.prepend(text, self.answer_started)
        self.answer_started = None

    def finish(self, usage: Usage) -> None:
        """The answer is complete: show tokens/s, TTFT and token counts."""
        self.waiting.setVisible(False)
        self.answer.flush()
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
        self.stats.setText(stats_line(MessageStats.from_usage(usage)))
        self.stats.setVisible(True)
        if usage.finish_reason == "length":
            self.show_error(*length_limit_message(usage))

    def mark_stopped(self) -> None:
        """The user stopped the answer: keep what arrived and say so."""
        self.waiting.setVisible(False)
        self.answer.flush()
        if self.thinking.is_live:
            self.thinking.close_block()
        self.stats.setText("Stopped by you")
        self.stats.setVisible(True)

    def show_error(self, message: str, action: str = "") -> None:
        """Show an error under whatever text already arrived (it is kept)."""
        self.waiting.setVisible(False)
        self.answer.flush()
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
