"""The chat page's small dialogs: a yes/no question and edit-and-resend."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)


def ask_yes_no(parent: QWidget, title: str, text: str, yes: str) -> bool:
    """A modal question; True when the user chose ``yes``."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    accept = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is accept


def _tr(text: str) -> str:
    return QCoreApplication.translate("EditMessageDialog", text)


class EditMessageDialog(QDialog):
    """Edit a sent message; says how many later messages resending removes."""

    def __init__(self, text: str, later: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_tr("Edit and resend"))
        self.resize(560, 260)
        self.editor = QPlainTextEdit(text)
        if later == 1:
            note = _tr(
                "Resending removes the 1 later message of this chat and answers the edited message."
            )
        elif later:
            note = _tr(
                "Resending removes the {count} later messages of this chat and answers the "
                "edited message."
            ).format(count=later)
        else:
            note = _tr("Resending answers the edited message.")
        self.note = QLabel(note)
        self.note.setWordWrap(True)
        self.note.setObjectName("editNote")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.resend = buttons.addButton(
            _tr("Remove later messages and resend") if later else _tr("Resend"),
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)

    @property
    def text(self) -> str:
        """The edited text."""
        return self.editor.toPlainText()
