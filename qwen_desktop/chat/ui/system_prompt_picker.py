"""The system-prompt picker above the chat: presets, or a custom prompt typed in a dialog."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QInputDialog, QLabel, QWidget

from qwen_desktop.core.presets import PRESETS, preset_for

CUSTOM = "Custom…"

TextAsker = Callable[[QWidget, str], str | None]
"""Shows a multi-line editor with a starting text; returns the new text, None when cancelled."""


def ask_custom_prompt(parent: QWidget, text: str) -> str | None:
    """A dialog to type a custom system prompt."""
    value, accepted = QInputDialog.getMultiLineText(
        parent,
        "Custom system prompt",
        "Sent first in every prompt of this chat (it takes room in the context window):",
        text,
    )
    return value if accepted else None


class SystemPromptPicker(QWidget):
    """A combo box of :data:`~qwen_desktop.core.presets.PRESETS` plus "Custom…".

    Signals:
        prompt_chosen(str): The user picked or typed a system prompt.

    Attributes:
        ask_text: Asks for a custom prompt (replaceable in tests).
    """

    prompt_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setObjectName("systemPrompt")
        for preset in PRESETS:
            self.combo.addItem(preset.name, preset.text)
            self.combo.setItemData(
                self.combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole
            )
        self.combo.addItem(CUSTOM, None)
        self.combo.setToolTip("The system prompt of this chat")
        self.text = ""
        """The system prompt shown."""
        self.ask_text: TextAsker = ask_custom_prompt
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("System prompt:"))
        layout.addWidget(self.combo)
        self.combo.activated.connect(self._on_combo_activated)

    def show_prompt(self, text: str) -> None:
        """Show a chat's system prompt (a preset's name, or "Custom…" with it in the tooltip)."""
        self.text = text
        preset = preset_for(text)
        index = self.combo.findText(preset.name if preset else CUSTOM)
        self.combo.setCurrentIndex(index)
        self.combo.setToolTip(f"System prompt: {text}" if text else "No system prompt")

    def _on_combo_activated(self, index: int) -> None:
        value = self.combo.itemData(index)
        if value is None:
            value = self.ask_text(self, self.text)
            if value is None:  # cancelled: keep what was there
                self.show_prompt(self.text)
                return
            value = value.strip()
        self.show_prompt(value)
        self.prompt_chosen.emit(value)
