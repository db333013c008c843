"""The app's look: Fusion style and a small stylesheet that follows the palette (light or dark)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
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
#codeBlock { border: 1px solid palette(midlight); border-radius: 6px; background: palette(window); }
#codeLanguage { color: gray; font-size: 11px; }
#codeCopy { color: gray; font-size: 11px; padding: 1px 6px; }
#codeCopy:hover { color: palette(text); }
#attachmentStrip { border: 1px dashed palette(mid); border-radius: 6px; }
#imageThumbnail { border: 1px solid palette(midlight); border-radius: 4px; }
#imageCost, #attachmentSummary, #messageImages { color: gray; font-size: 11px; }
#removeImage { font-weight: 600; padding: 0px 3px; }
"""


def apply_style(app: QApplication) -> None:
    """Fusion style (same look on every OS) with the stylesheet above, light or dark as the
    system's colour scheme says (and again whenever it changes)."""
    app.setStyle("Fusion")
    app.setStyleSheet(STYLESHEET)
    hints = app.styleHints()
    apply_color_scheme(app, hints.colorScheme())
    hints.colorSchemeChanged.connect(lambda scheme: apply_color_scheme(app, scheme))


def dark_palette() -> QPalette:
    """A dark Fusion palette, for platforms that report a dark scheme but give no palette."""
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#2a2b2e",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2a2b2e",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.ToolTipBase: "#2a2b2e",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Highlight: "#2e90fa",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#8ab4f8",
        QPalette.ColorRole.Light: "#3c4043",
        QPalette.ColorRole.Midlight: "#34363a",
        QPalette.ColorRole.Mid: "#5f6368",
        QPalette.ColorRole.Dark: "#9aa0a6",
        QPalette.ColorRole.Shadow: "#000000",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    disabled = QColor("#6b6f75")
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_color_scheme(app: QApplication, scheme: Qt.ColorScheme) -> None:
    """Follow the system's light/dark scheme (``QStyleHints.colorScheme``).

    Where the platform supplies a matching palette (Windows, macOS, GNOME and KDE portals) it
    is kept; where it reports dark but the palette is still light, a dark Fusion palette is
    set. The stylesheet is applied again so its ``palette(...)`` colours are resolved anew, and
    code blocks re-highlight on the palette change (``chat/ui/markdown_view.py``).
    """
    window = app.palette().color(QPalette.ColorRole.Window)
    if scheme == Qt.ColorScheme.Dark and window.lightness() >= 128:
        app.setPalette(dark_palette())
    elif scheme == Qt.ColorScheme.Light and window.lightness() < 128:
        app.setPalette(app.style().standardPalette())
    else:
        return
    app.setStyleSheet("")
    app.setStyleSheet(STYLESHEET)
