"""The app's look: Fusion style and a small stylesheet that follows the palette (light or dark)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

STYLESHEET = """
#chatContent { background: palette(base); }
#userMessage {
    background: palette(alternate-base);
    border: 1px solid palette(midlight);
    border-radius: 10px;
    margin-left: 80px;
}
#assistantMessage { border: none; margin-right: 40px; }
#thinkingBlock {
    border-left: 3px solid palette(mid);
    background: palette(window);
    border-radius: 4px;
}
#thinkingHeader { border: none; font-style: italic; color: palette(dark); padding: 2px; }
#thinkingBody { color: palette(dark); }
#stats { color: gray; font-size: 11px; }
#waiting { color: gray; }
#error, #noticeError { color: #b42318; }
#notice { color: gray; padding: 4px; }
#modelLabel { font-weight: 600; }
#recommendationDetail { padding: 4px; }
#recommendationFacts { color: gray; font-size: 11px; }
#recommendations::item { border-bottom: 1px solid palette(midlight); }
#recommendations::item:selected { background: palette(alternate-base); }
"""


def apply_style(app: QApplication) -> None:
    """Fusion style (same look on every OS) with the stylesheet above."""
    app.setStyle("Fusion")
    app.setStyleSheet(STYLESHEET)
