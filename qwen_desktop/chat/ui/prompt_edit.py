"""The prompt box: Enter sends, Shift+Enter adds a line, Esc stops the answer; images dropped
or pasted onto it are handed on to be attached. Text is aligned to the side it starts on: a
Hebrew or Arabic prompt runs from the right edge, an English one from the left (first strong
character, :func:`qwen_desktop.core.bidi.text_direction`), whatever the window's language."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QTextOption
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from qwen_desktop.core.bidi import text_direction


def image_sources(mime: QMimeData) -> list[Path | tuple[str, bytes]]:
    """What a drop or paste holds to attach: local files (checked later, so a non-image gets a
    clear refusal rather than its path typed into the prompt), else raw image data as PNG."""
    if mime.hasUrls():
        files = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        if files:
            return list(files)
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            data = QByteArray()
            buffer = QBuffer(data)
            buffer.open(QIODevice.OpenModeFlag.WriteOnly)
            image.save(buffer, "PNG")  # type: ignore[call-overload]  # PySide6 takes str
            buffer.close()
            return [("pasted image", bytes(data.data()))]
    return []


class PromptEdit(QPlainTextEdit):
    """A multi-line prompt editor.

    Signals:
        submitted(): Enter was pressed (without Shift).
        stop_requested(): Esc was pressed.
        images_received(list): Files or image data were dropped or pasted (a list of ``Path``
            or ``(name, bytes)``).
    """

    submitted = Signal()
    stop_requested = Signal()
    images_received = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptEdit")
        self.setPlaceholderText(
            self.tr("Ask anything…   (Enter sends · Shift+Enter new line · Esc stops)")
        )
        self.setTabChangesFocus(True)
        line = self.fontMetrics().lineSpacing()
        self.setFixedHeight(line * 3 + 18)
        self.direction: str = ""
        """``"rtl"`` or ``"ltr"``: the side the prompt is aligned to (empty: the window's)."""
        self.textChanged.connect(self._follow_text_direction)
        self._follow_text_direction()

    def _follow_text_direction(self) -> None:
        text = self.toPlainText()
        window_rtl = self.layoutDirection() == Qt.LayoutDirection.RightToLeft
        direction = text_direction(text, "rtl" if window_rtl else "ltr")
        if direction == self.direction:
            return
        self.direction = direction
        option = self.document().defaultTextOption()
        rtl = direction == "rtl"
        option.setTextDirection(
            Qt.LayoutDirection.RightToLeft if rtl else Qt.LayoutDirection.LeftToRight
        )
        side = Qt.AlignmentFlag.AlignRight if rtl else Qt.AlignmentFlag.AlignLeft
        option.setAlignment(side | Qt.AlignmentFlag.AlignAbsolute)
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.document().setDefaultTextOption(option)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        # Cheap: called on every drag move (the image data is only encoded on the drop).
        holds_files = source.hasUrls() and any(url.isLocalFile() for url in source.urls())
        return holds_files or source.hasImage() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        sources = image_sources(source)
        if sources:
            self.images_received.emit(sources)
            return
        super().insertFromMimeData(source)
