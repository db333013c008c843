"""The transcript's paging and streaming costs (offscreen): a long conversation opens with its
last page, scrolling to the top loads the page before (the view keeps its place), while the user
follows the newest text the number of message widgets stays bounded, and a long answer is never
laid out or parsed whole while it streams or when it ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from qwen_desktop.chat.ui import chat_view, markdown_view
from qwen_desktop.chat.ui.chat_view import AssistantMessage, ChatView, UserMessage
from qwen_desktop.chat.ui.conversation_controller import PAGE_MESSAGES
from qwen_desktop.chat.ui.markdown_view import CHUNK_SEGMENTS, MarkdownView
from qwen_desktop.core.storage import ChatStore, ConversationRecord, MessageRecord, NewMessage
from qwen_desktop.gui import App
from qwen_desktop.uikit.style import STYLESHEET

pytestmark = pytest.mark.gui

PAGE = 20


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    opened = ChatStore.open(tmp_path / "data")
    yield opened
    opened.close()


def write_conversation(store: ChatStore, count: int) -> int:
    """``count`` stored messages: "question i" / "answer i" in turn; returns the id."""
    now = time.time()
    messages = [
        NewMessage(role="user", content=f"question {i // 2}")
        if i % 2 == 0
        else NewMessage(role="assistant", content=f"answer {i // 2}")
        for i in range(count)
    ]
    record = ConversationRecord(id=0, title="long", created_at=now, updated_at=now)
    return store.insert_conversations([(record, messages)])[0].id


def texts(view: ChatView) -> list[str]:
    shown = []
    for widget in view.messages():
        if isinstance(widget, UserMessage):
            shown.append(widget.text)
        elif isinstance(widget, AssistantMessage):
            shown.append(widget.answer_text)
    return shown


def settle(qapp: QApplication) -> None:
    for _ in range(4):
        qapp.processEvents()


def paged_view(qapp: QApplication, store: ChatStore, cid: int, count: int) -> ChatView:
    view = ChatView()
    view.earlier_loader = lambda position: store.load_messages(
        cid, limit=PAGE, before_position=position
    )
    view.resize(600, 400)
    view.show()
    records = store.load_messages(cid, limit=PAGE)
    view.show_records(records, more_before=count - len(records))
    settle(qapp)
    return view


def test_scrolling_to_the_top_loads_the_page_before_and_keeps_the_place(
    qapp: QApplication, store: ChatStore
) -> None:
    cid = write_conversation(store, 50)
    view = paged_view(qapp, store, cid, 50)
    assert texts(view)[0] == "question 15" and len(view.messages()) == PAGE
    assert view.hidden_before == 30
    assert view.earlier_button.isVisible() and "30 earlier messages" in view.earlier_button.text()
    first = view.messages()[0]
    bar = view.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(0)
    settle(qapp)
    assert len(view.messages()) == 2 * PAGE and texts(view)[0] == "question 5"
    assert view.hidden_before == 10
    # The message that was at the top is still where it was on screen.
    assert abs(first.mapTo(view.viewport(), first.rect().topLeft()).y()) < 60
    view.load_earlier()  # the button does the same (for a transcript too short to scroll)
    assert texts(view)[:2] == ["question 0", "answer 0"] and view.hidden_before == 0
    assert not view.earlier_button.isVisible()
    assert view.load_earlier() == 0  # nothing before the first message
    view.close()


def test_following_the_newest_text_keeps_the_widget_count_bounded(
    qapp: QApplication, store: ChatStore, qtbot: QtBot
) -> None:
    cid = write_conversation(store, 30)
    view = paged_view(qapp, store, cid, 30)
    view.window_messages = 25
    for turn in range(10):  # stored as they are sent, as the window does
        view.add_user(f"new {turn}", store.add_message(cid, "user", f"new {turn}"))
        answer = view.start_answer(store.add_message(cid, "assistant", f"reply {turn}"))
        answer.add_answer(f"reply {turn}")
        assert len(view.messages()) <= 25
    settle(qapp)
    assert texts(view)[-2:] == ["new 9", "reply 9"]
    assert view.current is answer and view.answers()[-1] is answer
    assert view.hidden_before == 50 - 25
    assert "25 earlier messages" in view.earlier_button.text()
    # The released messages come back on scrolling up, and go again back at the bottom.
    view.verticalScrollBar().setValue(0)
    settle(qapp)
    assert len(view.messages()) == 25 + PAGE and view.hidden_before == 5
    qtbot.wait(400)  # the view holds its place while the page settles (a quarter second)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() - 200)
    bar.setValue(bar.maximum())
    settle(qapp)
    assert len(view.messages()) == 25 and view.hidden_before == 25
    view.close()


def test_the_streaming_answer_is_never_released(qapp: QApplication, store: ChatStore) -> None:
    cid = write_conversation(store, 6)
    view = paged_view(qapp, store, cid, 6)
    view.window_messages = 1
    answer = view.start_answer()
    assert view.messages() == [answer]  # the live answer stays, the rest is released
    assert view.hidden_before == 6
    answer.add_answer("still **streaming**")
    answer.answer.flush()
    assert "<strong>streaming</strong>" in answer.answer.widgets()[0].text()  # type: ignore[attr-defined]
    view.close()


def test_long_answer_segments_are_grouped_and_never_moved(qapp: QApplication) -> None:
    view = MarkdownView()
    view.show()
    text = ""
    shown: list[object] = []
    for index in range(3 * CHUNK_SEGMENTS):
        text += f"Paragraph {index}.\n\n"
        view.set_markdown(text)
        view.flush(final=False)
        widgets = view.widgets()
        kept = max(0, len(shown) - 2)
        assert widgets[:kept] == shown[:kept]  # earlier blocks are kept, not rebuilt
        shown = widgets
    assert len(view.widgets()) == 3 * CHUNK_SEGMENTS
    parents = {w.parentWidget() for w in view.widgets()}
    assert len(parents) == 3 and view not in parents  # three containers of CHUNK_SEGMENTS
    view.set_markdown("Only one.", now=True)
    assert len(view.widgets()) == 1
    assert "Only one." in view.widgets()[0].text()  # type: ignore[attr-defined]
    view.close()


def test_the_window_opens_a_long_conversation_with_its_last_page(
    app_window: App, qapp: QApplication
) -> None:
    store = app_window.chat.store
    assert store is not None
    cid = write_conversation(store, PAGE_MESSAGES + 30)
    assert app_window.chat.open_conversation(cid)
    settle(qapp)
    view = app_window.chat_page.chat_view
    assert len(view.messages()) == PAGE_MESSAGES and view.hidden_before == 30
    assert texts(view)[0] == "question 15"
    view.earlier_button.click()  # loads through the controller
    settle(qapp)
    assert texts(view)[:2] == ["question 0", "answer 0"] and view.hidden_before == 0
    assert len(view.messages()) == PAGE_MESSAGES + 30
    shown: list[MessageRecord] = [w.record for w in view.messages()]  # type: ignore[attr-defined]
    assert [r.position for r in shown] == list(range(PAGE_MESSAGES + 30))


def test_the_end_of_a_streamed_answer_is_not_parsed_again_in_full(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    real = markdown_view.parse_blocks

    def recording(text: str, *, dark: bool = False) -> list[tuple[int, markdown_view.Segment]]:
        parsed.append(len(text))
        return real(text, dark=dark)

    monkeypatch.setattr(markdown_view, "parse_blocks", recording)
    view = MarkdownView()
    text = ""
    pieces = [f"Paragraph {i} with [a link](https://x.y).\n\n" for i in range(40)]
    pieces += ["- one\n", "- two\n\n", "```python\nx = 1\n", "```\n\nThe end."]
    for piece in pieces:
        text += piece
        view.set_markdown(text)
        view.flush(final=False)
    view.flush()  # the answer ended
    assert max(parsed) < 200  # never the whole answer (about 1,700 characters)
    assert view.segments == markdown_view.split_markdown(text)  # same as a full parse
    view.set_markdown(text + "\n\n[x]: https://x.y")
    view.flush(final=False)
    view.flush()  # a link definition can change any earlier block: one full parse
    assert parsed[-1] == len(text) + len("\n\n[x]: https://x.y")


def test_busy_disables_edit_and_hides_only_the_streaming_answers_actions(
    qapp: QApplication, store: ChatStore
) -> None:
    cid = write_conversation(store, 4)
    view = paged_view(qapp, store, cid, 4)
    older = view.answers()[-1]
    streaming = view.start_answer()
    streaming.add_answer("partial")
    view.set_busy(True)
    users = [w for w in view.messages() if isinstance(w, UserMessage)]
    assert all(u.edit_button.isVisibleTo(u) and not u.edit_button.isEnabled() for u in users)
    assert older.copy_button.isVisibleTo(older) and not older.regenerate_button.isVisibleTo(older)
    assert not streaming.copy_button.isVisibleTo(streaming)
    assert not streaming.regenerate_button.isVisibleTo(streaming)
    view.set_busy(False)
    assert all(u.edit_button.isEnabled() for u in users)
    assert streaming.copy_button.isVisibleTo(streaming)
    assert streaming.regenerate_button.isVisibleTo(streaming)
    assert not older.regenerate_button.isVisibleTo(older)
    view.close()


def content_top_and_gap(view: ChatView) -> tuple[int, int]:
    """The first message's top in the content, and the content's height beyond its messages."""
    shown = [w for w in view.messages() if w.isVisible()]
    first = shown[0]
    top = first.mapTo(view.widget(), first.rect().topLeft()).y()
    margins = view.widget().layout().contentsMargins()  # type: ignore[union-attr]
    used = sum(w.height() for w in shown) + chat_view.MESSAGE_SPACING * (len(shown) - 1)
    return top, view.widget().height() - used - margins.top() - margins.bottom()


def test_a_long_wrapped_transcript_has_no_blank_area_above_its_first_message(
    qapp: QApplication, store: ChatStore
) -> None:
    # A word-wrapped label's minimum height is its text wrapped at its narrowest: the content
    # was once as tall as that sum, and the surplus showed as white above the first message.
    paragraph = "The quick brown fox jumps over the lazy dog while the model explains. " * 12
    now = time.time()
    messages = [
        NewMessage(role="user" if i % 2 == 0 else "assistant", content=f"{i}: {paragraph}")
        for i in range(2 * PAGE + 6)
    ]
    record = ConversationRecord(id=0, title="wrapped", created_at=now, updated_at=now)
    cid = store.insert_conversations([(record, messages)])[0].id
    view = paged_view(qapp, store, cid, len(messages))
    view.setStyleSheet(STYLESHEET)  # as the app is styled (its labels then wrap by width)
    view.resize(1400, 500)
    view.window_messages = PAGE
    for _turn in range(3):  # sent in the session: the oldest are released
        view.add_user(paragraph, store.add_message(cid, "user", paragraph))
        answer = view.start_answer(store.add_message(cid, "assistant", paragraph))
        answer.add_answer(paragraph)
        answer.answer.flush()
        settle(qapp)
    assert view.hidden_before > 0
    bar = view.verticalScrollBar()
    bar.setValue(bar.minimum())  # scrolled to the top: the page before loads above
    settle(qapp)
    while view.load_earlier():  # and the rest (as the button does)
        settle(qapp)
    assert view.hidden_before == 0 and len(view.messages()) == 2 * PAGE + 12
    bar.setValue(bar.minimum())
    settle(qapp)
    top, gap = content_top_and_gap(view)
    assert top == view.widget().layout().contentsMargins().top()  # type: ignore[union-attr]
    assert abs(gap) <= 2 * chat_view.MESSAGE_SPACING
    assert bar.maximum() == view.widget().height() - view.viewport().height()
    view.resize(700, 500)  # narrower: taller messages, and still nothing above them
    settle(qapp)
    bar.setValue(bar.minimum())
    top, gap = content_top_and_gap(view)
    assert top == view.widget().layout().contentsMargins().top()  # type: ignore[union-attr]
    assert abs(gap) <= 2 * chat_view.MESSAGE_SPACING
    view.close()


def test_a_short_transcript_stays_at_the_bottom(qapp: QApplication) -> None:
    view = ChatView()
    view.resize(600, 500)
    view.show()
    last = view.add_user("only one")
    settle(qapp)
    assert view.verticalScrollBar().maximum() == 0
    bottom = last.mapTo(view.viewport(), last.rect().bottomLeft()).y()
    assert view.viewport().height() - 40 < bottom < view.viewport().height()
    view.close()
