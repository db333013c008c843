"""How the sidebar draws a chat: its title on the first line, on the second a search hit's
snippet with the matched words in bold, or else when it was last used and how many messages it
has (so two chats with the same title can be told apart). Each line runs in its own direction:
a Hebrew title is drawn from the right edge in an English window, an English one from the left
in a Hebrew window (first strong character, :func:`qwen_desktop.core.bidi.text_direction`)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QPainter,
    QPalette,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from qwen_desktop.chat.ui.conversation_model import DETAIL_ROLE
from qwen_desktop.core.bidi import text_direction

PADDING = 4
"""Pixels around the two lines."""


def _document(
    html: str, width: float, option: QStyleOptionViewItem, *, small: bool
) -> QTextDocument:
    document = QTextDocument()
    font = option.font
    if small:
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
    document.setDefaultFont(font)
    text_option = QTextOption()
    text_option.setWrapMode(QTextOption.WrapMode.NoWrap)
    rtl = text_direction(QTextDocument(html).toPlainText() if "<" in html else html) == "rtl"
    text_option.setTextDirection(
        Qt.LayoutDirection.RightToLeft if rtl else Qt.LayoutDirection.LeftToRight
    )
    side = Qt.AlignmentFlag.AlignRight if rtl else Qt.AlignmentFlag.AlignLeft
    text_option.setAlignment(side | Qt.AlignmentFlag.AlignAbsolute)
    document.setDefaultTextOption(text_option)
    document.setDocumentMargin(0)
    document.setTextWidth(width)
    document.setHtml(html)
    return document


class ConversationDelegate(QStyledItemDelegate):
    """Two lines per chat (title; snippet or age and size), each in its own text direction."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else QApplication.style()
        title = option.text
        option.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        color = option.palette.color(role).name()
        rect = QRectF(option.rect).adjusted(PADDING, PADDING, -PADDING, -PADDING)
        escaped = _escape(title)
        detail = str(index.data(DETAIL_ROLE) or "")
        painter.save()
        painter.setClipRect(option.rect)
        top = rect.top()
        for html, small in (
            (f'<span style="color:{color}">{escaped}</span>', False),
            (f'<span style="color:{color}">{detail}</span>', True),
        ):
            document = _document(html, rect.width(), option, small=small)
            painter.save()
            painter.translate(rect.left(), top)
            context = QAbstractTextDocumentLayout.PaintContext()
            document.documentLayout().draw(painter, context)
            painter.restore()
            top += document.size().height()
        painter.restore()

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        metrics = option.fontMetrics
        height = metrics.lineSpacing() * 2 + 2 * PADDING
        return QSize(super().sizeHint(option, index).width(), height)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
