"""The context meter under the prompt box: tokens used of the window, thinking apart."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from qwen_desktop.core.context_meter import ContextReading, MeterLevel

WARN_SHARE = 0.8
"""Share of the window above which the meter turns to its warning colour."""


def meter_text(reading: ContextReading) -> str:
    """ "1,234 / 8,192 tokens · thinking 300 (not sent back)"."""
    approx = "≈" if reading.estimated else ""
    text = f"{approx}{reading.used_tokens:,} / {reading.window_tokens:,} tokens"
    thinking = reading.earlier_thinking_tokens + reading.thinking_tokens
    if thinking:
        text += f" · thinking {thinking:,} (not sent back)"
    return text


class ContextMeterBar(QWidget):
    """A thin bar and one line of text; warning colour above 80 % or when the meter warns."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.bar = QProgressBar()
        self.bar.setObjectName("contextBar")
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(5)
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(160)
        self.label = QLabel()
        self.label.setObjectName("contextText")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 0, 2, 0)
        layout.setSpacing(8)
        layout.addWidget(self.bar)
        layout.addWidget(self.label, 1)
        self.warning = False
        self.window_tokens: int | None = None
        """The loaded model's context window (tokens), None while no model is loaded."""
        self.show_reading(None)

    def set_window(self, window_tokens: int | None) -> None:
        """Remember the loaded model's context window (None: no model) for an empty chat."""
        self.window_tokens = window_tokens

    def show_reading(self, reading: ContextReading | None) -> None:
        """Show a reading (None: nothing to measure yet)."""
        if reading is None or reading.level is MeterLevel.UNKNOWN or reading.window_tokens <= 0:
            self.bar.setValue(0)
            if self.window_tokens:
                self.label.setText(f"Context: 0 / {self.window_tokens:,} tokens (new chat)")
            else:
                self.label.setText("Context: load a model to measure the conversation")
            self.setToolTip("")
            self._set_warning(False)
            return
        share = reading.used_tokens / reading.window_tokens
        self.bar.setValue(round(1000 * min(1.0, share)))
        self.label.setText(meter_text(reading))
        tip = reading.describe()
        if reading.warning():
            tip += "\n" + reading.warning()
        tip += "\nEarlier answers' thinking is kept in the history but never sent back."
        self.setToolTip(tip)
        self._set_warning(share > WARN_SHARE or reading.level is not MeterLevel.OK)

    def _set_warning(self, warning: bool) -> None:
        self.warning = warning
        self.setProperty("warning", warning)
        for widget in (self.bar, self.label):
            widget.setProperty("warning", warning)
            widget.style().unpolish(widget)
            widget.style().polish(widget)
