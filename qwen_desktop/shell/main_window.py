"""The main window, a shell: pages in tabs, docks, menus and the status bar.

It hosts what the composition root (``qwen_desktop/gui.py``) builds and relays nothing: each page
binds to its own controller, and features add their pages, docks, menu actions and status-bar
widgets through the small public API below (:meth:`MainWindow.add_page`,
:meth:`~MainWindow.add_dock`, :meth:`~MainWindow.add_menu_action`,
:meth:`~MainWindow.add_status_widget`, :meth:`~MainWindow.show_status`).

Menus: the first menu (``quit_menu``) ends with Quit (the platform's Quit shortcut, Ctrl+Q
where it has none); Help (always last) starts with About. Ctrl+1 … Ctrl+9 show the page in
that place.
"""

from __future__ import annotations

import html
import platform
from collections.abc import Callable, Sequence

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, Signal, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QWidget,
)

AboutFacts = Callable[[], Sequence[tuple[str, str]]]
"""Extra ``(what, version or state)`` lines for Help → About (the engines, …)."""
TAB_SHORTCUTS = 9
"""Ctrl+1 … Ctrl+9 pick the page in that place."""


def quit_shortcuts() -> list[QKeySequence]:
    """The platform's Quit keys, and Ctrl+Q where the platform has none (Windows)."""
    keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
    ctrl_q = QKeySequence("Ctrl+Q")
    return keys if ctrl_q in keys else [*keys, ctrl_q]


class MainWindow(QMainWindow):
    """The app's window (see the module docstring).

    Args:
        quit_menu: Title of the first menu, which ends with Quit.
        about_facts: Extra lines for Help → About (called each time it opens).

    Signals:
        closing(): The window is closing (title bar, Alt+F4, Quit, a signal): stop what runs.
    """

    closing = Signal()

    def __init__(
        self,
        *,
        quit_menu: str = "&File",
        about_facts: AboutFacts | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Qwen Desktop"))
        self.resize(1200, 780)
        self.about_facts = about_facts
        self.tabs = QTabWidget()
        self.tabs.setObjectName("pages")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self._tab_tips: dict[QWidget, str] = {}
        self._menus: dict[str, QMenu] = {}
        self.help_menu = self.menuBar().addMenu(self.tr("&Help"))
        self.about_action = self.help_menu.addAction(self.tr("&About Qwen Desktop"))
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.quit_menu = self.menu(quit_menu)
        self._quit_separator = self.quit_menu.addSeparator()
        self.quit_action = self.quit_menu.addAction(self.tr("&Quit"))
        self.quit_action.setShortcuts(quit_shortcuts())
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        self.about_box: QMessageBox | None = None
        for index in range(TAB_SHORTCUTS):
            QShortcut(
                QKeySequence(f"Ctrl+{index + 1}"),
                self,
                lambda index=index: self.tabs.setCurrentIndex(index),
            )

    # -- pages ------------------------------------------------------------------------------

    def add_page(
        self, page: QWidget, title: str, tip: str, *, after: QWidget | None = None
    ) -> None:
        """Add a page as a tab (after ``after``, else last); its tooltip names its Ctrl+digit."""
        index = self.tabs.indexOf(after) + 1 if after is not None else self.tabs.count()
        self.tabs.insertTab(index, page, title)
        self._tab_tips[page] = tip
        self._refresh_tab_tips()

    def show_page(self, page: QWidget) -> None:
        """Bring a page to the front."""
        self.tabs.setCurrentWidget(page)

    def _refresh_tab_tips(self) -> None:
        for widget, tip in self._tab_tips.items():
            index = self.tabs.indexOf(widget)
            if index >= 0:
                self.tabs.setTabToolTip(index, f"{tip} (Ctrl+{index + 1})")

    # -- docks, menus, status bar -----------------------------------------------------------

    def add_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea, *, shown: bool = False) -> None:
        """Dock ``dock`` in ``area`` (hidden unless ``shown``; its toggle action shows it)."""
        self.addDockWidget(area, dock)
        dock.setVisible(shown)

    def show_dock(self, dock: QDockWidget) -> None:
        """Show a dock and bring it to the front."""
        dock.show()
        dock.raise_()

    def menu(self, title: str) -> QMenu:
        """The menu with this title, made (before Help) the first time it is asked for."""
        menu = self._menus.get(title)
        if menu is None:
            menu = QMenu(title, self)
            self.menuBar().insertMenu(self.help_menu.menuAction(), menu)
            self._menus[title] = menu
        return menu

    def add_menu_action(self, menu_title: str, action: QAction) -> QAction:
        """Add ``action`` to a menu (made when missing; in the first menu, above Quit).

        Its shortcut is shown in the menu the platform's way and works in the whole window.
        Returns the action.
        """
        menu = self.menu(menu_title)
        if menu is self.quit_menu:
            menu.insertAction(self._quit_separator, action)
        else:
            menu.addAction(action)
        if action.parent() is None:
            action.setParent(self)
        return action

    def add_menu_separator(self, menu_title: str) -> None:
        """A separator at the end of a menu's own actions."""
        separator = QAction(self)
        separator.setSeparator(True)
        self.add_menu_action(menu_title, separator)

    def add_status_widget(self, widget: QWidget) -> None:
        """A permanent widget at the right of the status bar."""
        self.statusBar().addPermanentWidget(widget)

    def show_status(self, text: str, timeout_ms: int = 0) -> None:
        """A status-bar message (``timeout_ms`` 0: until the next one)."""
        self.statusBar().showMessage(text, timeout_ms)

    # -- help -------------------------------------------------------------------------------

    def about_lines(self) -> list[tuple[str, str]]:
        """What Help → About says: the app, Python, Qt and the ``about_facts`` lines."""
        app = QApplication.instance()
        version = app.applicationVersion() if app is not None else ""
        lines = [
            (self.tr("Qwen Desktop"), version or self.tr("development version")),
            ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
            ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
            (self.tr("System"), f"{platform.system()} {platform.release()} {platform.machine()}"),
        ]
        if self.about_facts is not None:
            lines += list(self.about_facts())
        return lines

    def show_about(self) -> QMessageBox:
        """Open Help → About (window-modal; returned so that tests can read and close it)."""
        rows = "".join(
            f"<tr><td><b>{html.escape(what)}</b>&nbsp;&nbsp;</td><td>{html.escape(value)}</td></tr>"
            for what, value in self.about_lines()
        )
        box = QMessageBox(self)
        box.setWindowTitle(self.tr("About Qwen Desktop"))
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(
            self.tr("<h3>Qwen Desktop</h3><p>Runs Qwen models on this computer, offline.</p>")
            + f"<table>{rows}</table>"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.setStyleSheet("QLabel#qt_msgbox_label { min-width: 34em; }")  # one line a fact
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.about_box = box
        return box

    # -- closing ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        super().closeEvent(event)
