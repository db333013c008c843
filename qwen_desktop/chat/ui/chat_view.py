"""The chat transcript: a scrolling, paged column of messages that follows the newest text.

Streaming stays cheap however long the conversation (measured by
``bench/bench_chat_render.py``):

* The answer that streams lives in its own container (``live``), apart from the finished
  messages (``history``). A growing answer changes only the live container's size: the content
  layout re-places two containers, and the history's geometry is unchanged, so Qt does not
  lay out its messages again (``QWidget.setGeometry`` with an unchanged rectangle does nothing,
  and the history's size hint stays cached). Without this split every streamed render laid out
  every message shown (about 140 ms at 400 messages, measured).
* Paging: a conversation opens with its last page; scrolling to the top (or the "Show earlier"
  button) asks :attr:`ChatView.earlier_loader` for the page before, and the view keeps its place.
  While the user follows the newest text, the oldest messages beyond
  :data:`WINDOW_MESSAGES` are released (they come back on scrolling up), so the number of
  widgets stays bounded however long the chat grows.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLayout,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.ui.chat_messages import (
    AssistantMessage,
    ImageLoader,
    Notice,
    ThinkingBlock,
    UserMessage,
    length_limit_message,
    stats_line,
)
from qwen_desktop.chat.ui.markdown_view import HeightCachingColumn
from qwen_desktop.core.storage import MessageRecord

__all__ = [
    "WINDOW_MESSAGES",
    "AssistantMessage",
    "ChatView",
    "EarlierLoader",
    "ImageLoader",
    "Notice",
    "ThinkingBlock",
    "UserMessage",
    "length_limit_message",
    "stats_line",
]

EarlierLoader = Callable[[int], list[MessageRecord]]
"""The stored messages just before a position (a page, oldest first; empty when none)."""
WINDOW_MESSAGES = 150
"""Most messages kept as widgets while the user follows the newest text (three pages of 50:
older ones are released and loaded again on scrolling up). Pages loaded by scrolling up stay
until the user is back at the bottom."""
MESSAGE_SPACING = 12
"""Vertical gap between messages (logical pixels)."""
FOLLOW_SLACK = 24
"""Within this many pixels of the bottom the view follows the newest text (logical pixels)."""
_ANCHOR_MS = 250
"""How long the view keeps its distance from the bottom after a page was put above it (ms):
long enough for the new messages' layout to settle."""


def _column(parent: QWidget) -> QVBoxLayout:
    layout = HeightCachingColumn(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(MESSAGE_SPACING)
    return layout


def _widgets(layout: QVBoxLayout) -> list[QWidget]:
    # Only widget items are ever put in these columns. Never ask a spacer item for its widget:
    # PySide6 (6.12) returns None from QLayoutItem.widget() without a reference, so each call
    # costs None one reference until the interpreter aborts ("deallocating None").
    items = (layout.itemAt(i) for i in range(layout.count()))
    return [w for item in items if item is not None and (w := item.widget()) is not None]


def _discard(layout: QVBoxLayout, widget: QWidget) -> None:
    layout.removeWidget(widget)
    widget.setParent(None)
    widget.deleteLater()


class _Content(QWidget):
    """The scrolled column: as tall as its messages at its width, never taller.

    ``QScrollArea`` makes a resizable widget at least its minimum size, then at least its
    ``heightForWidth``. A word-wrapped label's minimum height is its text wrapped at its
    narrowest, many times its height at the real width, so the content was as tall as that
    sum and the surplus went to the stretch above the messages: a blank area above the first
    message (two thirds of the scroll range in a long chat 1,600 px wide, measured). When the
    column has a height-for-width, the minimum height is 0 and that height sizes it alone
    (the column's layout sets no minimum size on it: ``SetNoConstraint``).
    """

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth():
            hint.setHeight(0)
        return hint


class ChatView(QScrollArea):
    """The scrolling transcript. Follows the newest text while the user is at the bottom.

    Attributes:
        image_loader: Reads a stored image's bytes by SHA-256 (thumbnails in sent messages).
        earlier_loader: Loads the stored page before a position (set by the window); None
            leaves earlier messages unreachable (the button then only says how many there are).
        hidden_before: Stored messages before the first one shown.

    Signals:
        regenerate_requested(): Regenerate was clicked on the last answer.
        edit_requested(object): Edit was clicked on a saved user message (its ``MessageRecord``).
    """

    regenerate_requested = Signal()
    edit_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._content = _Content()
        self._content.setObjectName("chatContent")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(24, 16, 24, 16)
        self._layout.setSpacing(MESSAGE_SPACING)
        self._layout.addStretch(1)  # keeps a short transcript at the bottom
        # Sized by height-for-width, not by its minimum size (see _Content).
        self._layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.earlier_button = QPushButton()
        self.earlier_button.setObjectName("showEarlier")
        self.earlier_button.setFlat(True)
        self.earlier_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.earlier_button.clicked.connect(self.load_earlier)
        self.earlier_button.setVisible(False)
        self._layout.addWidget(self.earlier_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self._history = QWidget()
        self._history.setObjectName("chatHistory")
        self._history_layout = _column(self._history)
        self._live = QWidget()
        self._live.setObjectName("chatLive")
        self._live_layout = _column(self._live)
        self._live.setVisible(False)
        self._layout.addWidget(self._history)
        self._layout.addWidget(self._live)
        self.setWidget(self._content)
        self._follow = True
        self._anchor: int | None = None
        self._anchor_timer = QTimer(self)
        self._anchor_timer.setSingleShot(True)
        self._anchor_timer.setInterval(_ANCHOR_MS)
        self._anchor_timer.timeout.connect(self._drop_anchor)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        self.current: AssistantMessage | None = None
        self.image_loader: ImageLoader | None = None
        self.earlier_loader: EarlierLoader | None = None
        self.hidden_before = 0
        self.window_messages = WINDOW_MESSAGES
        """Most messages kept while following the newest text (see :data:`WINDOW_MESSAGES`)."""

    # -- adding -----------------------------------------------------------------------------

    def add_user(self, text: str, record: MessageRecord | None = None) -> UserMessage:
        """Append the user's message (``record``: its saved state, which enables Edit)."""
        widget = self._user_widget(text, record)
        self._append(widget)
        self._follow = True
        return widget

    def start_answer(self, record: MessageRecord | None = None) -> AssistantMessage:
        """Append an empty answer that streamed text will fill (in the live container)."""
        for answer in self.answers():
            answer.set_actions(finished=True, last=False)
        self.current = self._answer_widget(record)
        self._append(self.current, live=True)
        return self.current

    def add_record(self, record: MessageRecord) -> QWidget:
        """Append a stored message (user message or finished answer)."""
        if record.role == "user":
            return self.add_user(record.content, record)
        answer = self.start_answer(record)
        answer.show_record(record)
        answer.set_actions(finished=True, last=True)
        return answer

    def show_records(self, records: list[MessageRecord], *, more_before: int = 0) -> None:
        """Replace the transcript with stored messages (``more_before``: older ones not shown)."""
        self.clear()
        shown = [r for r in records if r.role in ("user", "assistant")]
        for record in shown[:-1]:
            self._history_layout.addWidget(self._record_widget(record, last=False))
        if shown:
            self.add_record(shown[-1])
        self._set_hidden_before(more_before)
        self._follow = True

    def add_notice(self, text: str, *, error: bool = False) -> Notice:
        """Append a notice line."""
        notice = Notice(text, error=error)
        self._append(notice)
        return notice

    # -- paging -----------------------------------------------------------------------------

    def load_earlier(self) -> int:
        """Put the stored page before the first message shown above it; returns how many.

        The view keeps its place: what was on screen stays where it was.
        """
        first = self._first_record()
        if self.earlier_loader is None or first is None or self.hidden_before <= 0:
            return 0
        records = [
            r for r in self.earlier_loader(first.position) if r.role in ("user", "assistant")
        ]
        if not records:
            self._set_hidden_before(0)
            return 0
        bar = self.verticalScrollBar()
        self._anchor = bar.maximum() - bar.value()
        self._anchor_timer.start()
        self._follow = False
        for index, record in enumerate(records):
            self._history_layout.insertWidget(index, self._record_widget(record, last=False))
        self._set_hidden_before(self.hidden_before - len(records))
        return len(records)

    def trim(self) -> int:
        """Release the oldest messages beyond :attr:`window_messages`; returns how many.

        The live answer and the newest messages are kept; released stored messages are counted
        in :attr:`hidden_before` and come back with :meth:`load_earlier`.
        """
        widgets = self.messages()
        excess = len(widgets) - self.window_messages
        released = 0
        for widget in widgets[: max(0, excess)]:
            if widget is self.current or widget.parentWidget() is not self._history:
                break
            if getattr(widget, "record", None) is not None:
                released += 1
            _discard(self._history_layout, widget)
        if released:
            self._set_hidden_before(self.hidden_before + released)
        return released

    def _first_record(self) -> MessageRecord | None:
        for widget in self.messages():
            record: MessageRecord | None = getattr(widget, "record", None)
            if record is not None:
                return record
        return None

    def _set_hidden_before(self, count: int) -> None:
        self.hidden_before = max(0, count)
        noun = "message" if self.hidden_before == 1 else "messages"
        self.earlier_button.setText(f"Show {self.hidden_before:,} earlier {noun}")
        self.earlier_button.setToolTip(
            "Scroll to the top, or click, to load the page before"
            if self.earlier_loader is not None
            else "Earlier messages are kept in the history but not shown"
        )
        self.earlier_button.setVisible(self.hidden_before > 0)

    # -- removing and updating --------------------------------------------------------------

    def clear(self) -> None:
        """Remove every message and notice."""
        self.current = None
        for layout in (self._history_layout, self._live_layout):
            for widget in _widgets(layout):
                _discard(layout, widget)
        self._live.setVisible(False)
        self._set_hidden_before(0)

    def remove_from(self, position: int) -> None:
        """Remove the saved messages at ``position`` and after (and anything shown after them)."""
        removing = False
        for widget in self.messages():
            record = getattr(widget, "record", None)
            if record is not None and record.position >= position:
                removing = True
            if removing:
                if widget is self.current:
                    self.current = None
                self._remove(widget)
        answers = self.answers()
        if answers:
            self.current = answers[-1]
            answers[-1].set_actions(finished=True, last=True)

    def update_user(self, record: MessageRecord) -> None:
        """Show the edited text of a saved user message."""
        for widget in self.messages():
            if isinstance(widget, UserMessage) and widget.record and widget.record.id == record.id:
                widget.set_record(record)

    def answers(self) -> list[AssistantMessage]:
        """The answers shown, oldest first."""
        return [w for w in self.messages() if isinstance(w, AssistantMessage)]

    def set_busy(self, busy: bool) -> None:
        """While an answer streams: no actions on it, no Regenerate, Edit disabled.

        Only what changes is shown or hidden (Edit is disabled, not hidden): showing a widget
        makes Qt lay out its parents at once, about 1 ms per message shown (measured), a stall
        when an answer starts or ends in a long transcript.
        """
        answers = self.answers()
        for index, answer in enumerate(answers):
            streaming = busy and answer is self.current
            answer.set_actions(finished=not streaming, last=not busy and index == len(answers) - 1)
        for widget in self.messages():
            if isinstance(widget, UserMessage):
                widget.edit_button.setVisible(widget.record is not None)
                widget.edit_button.setEnabled(not busy)

    def messages(self) -> list[QWidget]:
        """The transcript's widgets, oldest first."""
        return _widgets(self._history_layout) + _widgets(self._live_layout)

    # -- internals --------------------------------------------------------------------------

    def _user_widget(self, text: str, record: MessageRecord | None) -> UserMessage:
        widget = UserMessage(text, record, image_loader=self.image_loader)
        widget.edit_requested.connect(lambda: self._on_edit_requested(widget))
        return widget

    def _answer_widget(self, record: MessageRecord | None) -> AssistantMessage:
        answer = AssistantMessage(record)
        answer.regenerate_requested.connect(self.regenerate_requested)
        return answer

    def _record_widget(self, record: MessageRecord, *, last: bool) -> QWidget:
        if record.role == "user":
            return self._user_widget(record.content, record)
        answer = self._answer_widget(record)
        answer.show_record(record)
        answer.set_actions(finished=True, last=last)
        return answer

    def _on_edit_requested(self, widget: UserMessage) -> None:
        if widget.record is not None:
            self.edit_requested.emit(widget.record)

    def _append(self, widget: QWidget, *, live: bool = False) -> None:
        # What the live container held is finished: it joins the history (once per message).
        for done in _widgets(self._live_layout):
            self._live_layout.removeWidget(done)
            self._history_layout.addWidget(done)
            done.setVisible(True)  # reparenting hides a widget; Qt would show it a tick later
        if live:
            self._live_layout.addWidget(widget)
        else:
            self._history_layout.addWidget(widget)
        self._live.setVisible(live)
        if self._follow:
            self.trim()

    def _remove(self, widget: QWidget) -> None:
        parent = widget.parentWidget()
        _discard(self._live_layout if parent is self._live else self._history_layout, widget)
        if parent is self._live:
            self._live.setVisible(False)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        was_following = self._follow
        self._follow = value >= bar.maximum() - FOLLOW_SLACK
        if self._follow and not was_following and self._anchor is None:
            QTimer.singleShot(0, self, self.trim)  # back at the bottom: release old pages
        at_top = value <= bar.minimum() and bar.maximum() > 0
        if at_top and self._anchor is None and self.hidden_before > 0 and self.earlier_loader:
            QTimer.singleShot(0, self, self.load_earlier)

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._anchor is not None:
            self.verticalScrollBar().setValue(maximum - self._anchor)
        elif self._follow:
            self.verticalScrollBar().setValue(maximum)

    def _drop_anchor(self) -> None:
        self._anchor = None
