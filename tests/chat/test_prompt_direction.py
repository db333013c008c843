"""The prompt box and the sidebar follow each text's own direction (Hebrew from the right)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication

from qwen_desktop.chat.ui.conversation_model import DETAIL_ROLE, ConversationListModel
from qwen_desktop.chat.ui.prompt_edit import PromptEdit
from qwen_desktop.core.storage import MATCH_END, MATCH_START, ConversationRecord, SearchHit

pytestmark = pytest.mark.gui


def _start_x(edit: PromptEdit) -> int:
    cursor = edit.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.Start)
    edit.setTextCursor(cursor)
    return edit.cursorRect().x()


def test_a_hebrew_prompt_starts_at_the_right_edge(qapp: QApplication) -> None:
    # Report: the prompt box anchored RTL text on the left.
    edit = PromptEdit()
    edit.resize(400, 90)
    edit.show()
    edit.setPlainText("מה השעה? what time")
    assert edit.direction == "rtl" and _start_x(edit) > 300
    edit.setPlainText("What is שלום?")
    assert edit.direction == "ltr" and _start_x(edit) < 50
    edit.close()


def test_the_sidebar_shows_a_snippet_or_the_age_under_each_title(qapp: QApplication) -> None:
    record = ConversationRecord(
        **{
            **{f: None for f in ConversationRecord.__dataclass_fields__},
            "id": 1,
            "title": "Same title",
            "created_at": 0.0,
            "updated_at": 0.0,
            "message_count": 4,
        }
    )
    model = ConversationListModel()
    model.set_conversations([record])
    detail = model.index(0, 0).data(DETAIL_ROLE)
    assert "4 messages" in detail
    model.set_hits(
        [SearchHit(record, snippet=f"the {MATCH_START}cat{MATCH_END} sat", message_id=None)]
    )
    assert model.index(0, 0).data(DETAIL_ROLE) == "the <b>cat</b> sat"
    assert model.index(0, 0).data(Qt.ItemDataRole.DisplayRole) == "Same title"
