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
#pages::pane { border: none; }
#detailsTitle { font-size: 15px; font-weight: 600; }
#detailsBadge {
    color: white;
    border-radius: 9px;
    padding: 1px 9px;
    font-size: 11px;
    font-weight: 600;
}
#modelDetails { border-top: 1px solid palette(midlight); }
#detailsPlaceholder, #emptyNotice, #hardwareStatus { color: gray; padding: 6px; }
#recommendedLine { padding: 2px 0px; }
#legendItem { font-size: 11px; }
#hardwareTree::item { padding: 3px 2px; }
#hardwareNotes { padding: 4px 2px; }
#sectionTitle { font-weight: 600; }
#conversationList::item { padding: 5px 4px; }
#messageAction { color: gray; font-size: 11px; padding: 1px 6px; }
#messageAction:hover { color: palette(text); }
#contextText { color: gray; font-size: 11px; }
#contextText[warning="true"] { color: #b54708; }
#contextBar { border: none; background: palette(midlight); border-radius: 2px; }
#contextBar::chunk { background: #2e90fa; border-radius: 2px; }
#contextBar[warning="true"]::chunk { background: #f79009; }
#storeBanner { border: 1px solid #f04438; border-radius: 6px; background: palette(base); }
"""


def apply_style(app: QApplication) -> None:
    """Fusion style (same look on every OS) with the stylesheet above."""
    app.setStyle("Fusion")
    app.setStyleSheet(STYLESHEET)
