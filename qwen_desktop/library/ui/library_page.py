"""The Library page: every installed model, open one in the chat, delete, import, and change
the models folder (move with progress, or use another folder)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.core.units import format_decimal_bytes
from qwen_desktop.library.models_folder import MoveProgress, MoveResult
from qwen_desktop.library.service import InstalledModel
from qwen_desktop.library.ui.library_model import (
    MODEL_ROLE,
    SORT_ROLE,
    Column,
    LibraryController,
    LibraryModel,
    can_open_in_chat,
)

PROGRESS_STEPS = 1000


def confirm(parent: QWidget, title: str, text: str, yes: str) -> bool:
    """A modal question; True when the user chose ``yes``."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    accept = box.addButton(yes, QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is accept


def delete_question(model: InstalledModel) -> tuple[str, str]:
    """The confirmation text and button for deleting ``model`` (names the bytes freed)."""
    if model.source in {"folder", "gguf"}:
        return (
            f"Remove {model.id} from the library? Its files stay where they are "
            "(no disk space is freed).",
            "Remove from library",
        )
    where = "from its Ollama server" if model.source == "ollama" else "from this computer"
    return (
        f"Delete {model.id} {where}? This frees {format_decimal_bytes(model.size_bytes)} "
        "of disk space and cannot be undone (download it again to use it).",
        f"Delete {format_decimal_bytes(model.size_bytes)}",
    )


class LibraryPage(QWidget):
    """The page over a :class:`LibraryController` (no library logic here).

    Signals:
        open_requested(Path): Open this model folder in the chat.
    """

    open_requested = Signal(Path)

    def __init__(self, controller: LibraryController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("libraryPage")
        self.controller = controller
        self.confirm = confirm
        """Asks before deleting (replaceable in tests)."""
        self.choose_folder = lambda title: QFileDialog.getExistingDirectory(self, title)
        """Asks for a folder; ``""`` when cancelled (replaceable in tests)."""
        self.choose_gguf = lambda: QFileDialog.getOpenFileName(
            self, "Import a GGUF file", "", "GGUF models (*.gguf)"
        )[0]
        """Asks for a ``.gguf`` file; ``""`` when cancelled (replaceable in tests)."""
        self.model = LibraryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self._build()
        self._connect()
        self._show_folder(controller.folder)
        self._update_buttons()

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setObjectName("libraryTable")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(30)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(Column.MODEL, QHeaderView.ResizeMode.Stretch)
        for column, width in {
            Column.SOURCE: 150,
            Column.FORMAT: 100,
            Column.QUANT: 110,
            Column.SIZE: 110,
            Column.LAST_USED: 110,
        }.items():
            header.resizeSection(column, width)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def _build_buttons(self) -> None:
        self.open_button = QPushButton("Open in chat")
        self.open_button.setObjectName("sendButton")
        self.delete_button = QPushButton("Delete…")
        self.import_folder_button = QPushButton("Import folder…")
        self.import_gguf_button = QPushButton("Import GGUF file…")
        self.refresh_button = QPushButton("Refresh")
        self.summary = QLabel()
        self.summary.setObjectName("librarySummary")
        self.message = QLabel()
        self.message.setObjectName("libraryMessage")
        self.message.setWordWrap(True)

    def _build(self) -> None:
        self.folder_label = QLabel()
        self.folder_label.setObjectName("modelsFolder")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.move_button = QPushButton("Move models folder…")
        self.move_button.setToolTip(
            "Copy the models to another folder, check every byte, then delete the old copy"
        )
        self.repoint_button = QPushButton("Use another folder…")
        self.repoint_button.setToolTip("Read and download models in another folder (no move)")
        self.move_bar = QProgressBar()
        self.move_bar.setRange(0, PROGRESS_STEPS)
        self.move_bar.hide()
        self.cancel_move_button = QPushButton("Cancel move")
        self.cancel_move_button.hide()
        self._build_table()
        self.empty = QLabel(
            "No models installed yet. Download one on the Models or Downloads page, or import "
            "a model folder or a GGUF file."
        )
        self.empty.setObjectName("emptyNotice")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self._build_buttons()
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.repoint_button)
        folder_row.addWidget(self.move_button)
        move_row = QHBoxLayout()
        move_row.addWidget(self.move_bar, 1)
        move_row.addWidget(self.cancel_move_button)
        actions = QHBoxLayout()
        actions.addWidget(self.open_button)
        actions.addWidget(self.delete_button)
        actions.addSpacing(12)
        actions.addWidget(self.summary)
        actions.addStretch(1)
        actions.addWidget(self.import_folder_button)
        actions.addWidget(self.import_gguf_button)
        actions.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.addLayout(folder_row)
        layout.addLayout(move_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addLayout(actions)
        layout.addWidget(self.message)

    def _connect(self) -> None:
        c = self.controller
        c.models_changed.connect(self._on_library_models_changed)
        c.failed.connect(self._on_library_failed)
        c.deleted.connect(self._on_library_deleted)
        c.move_progressed.connect(self._on_library_move_progressed)
        c.move_finished.connect(self._on_library_move_finished)
        c.folder_changed.connect(self._show_folder)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())
        self.table.doubleClicked.connect(lambda _index: self._on_open_button_clicked())
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.import_folder_button.clicked.connect(self._on_import_folder_button_clicked)
        self.import_gguf_button.clicked.connect(self._on_import_gguf_button_clicked)
        self.refresh_button.clicked.connect(c.refresh)
        self.move_button.clicked.connect(self._on_move_button_clicked)
        self.repoint_button.clicked.connect(self._on_repoint_button_clicked)
        self.cancel_move_button.clicked.connect(c.cancel_move)

    # -- queries ---------------------------------------------------------------------------

    def current_model(self) -> InstalledModel | None:
        """The selected row's model, or ``None``."""
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        model: InstalledModel = self.proxy.data(index.siblingAtColumn(0), MODEL_ROLE)
        return model

    def select_model(self, model_id: str) -> bool:
        """Select the row of ``model_id``; False when it is not listed."""
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.proxy.data(index, MODEL_ROLE).id == model_id:
                self.table.setCurrentIndex(index)
                return True
        return False

    # -- events ----------------------------------------------------------------------------

    def _show_folder(self, folder: object) -> None:
        self.folder_label.setText(f"Models folder: <b>{folder}</b>")

    def _update_buttons(self) -> None:
        model = self.current_model()
        why_not = can_open_in_chat(model) if model is not None else "Select a model first."
        self.open_button.setEnabled(why_not is None)
        self.open_button.setToolTip(why_not or "Load it in the chat (Transformers engine)")
        self.delete_button.setEnabled(model is not None and not self.controller.moving)
        moving = self.controller.moving
        self.move_button.setEnabled(not moving)
        self.repoint_button.setEnabled(not moving)
        self.empty.setVisible(self.model.rowCount() == 0)

    def _on_library_models_changed(self, models: list[InstalledModel]) -> None:
        selected = self.current_model()
        self.model.set_models(models)
        total = sum(m.size_bytes for m in models)
        count = f"{len(models)} model{'s' if len(models) != 1 else ''}"
        self.summary.setText(f"{count}, {format_decimal_bytes(total)} on disk")
        if selected is not None:
            self.select_model(selected.id)
        self._update_buttons()

    def _on_library_failed(self, message: str, action: str) -> None:
        self.message.setText(f"{message} {action}".strip())
        self._end_move_display()

    def _on_library_deleted(self, model_id: str, freed: int) -> None:
        freed_text = f" ({format_decimal_bytes(freed)} freed)" if freed else ""
        self.message.setText(f"Removed {model_id}{freed_text}.")

    def _on_open_button_clicked(self) -> None:
        model = self.current_model()
        if model is None or model.path is None or can_open_in_chat(model) is not None:
            return
        self.open_requested.emit(Path(model.path))

    def _on_delete_button_clicked(self) -> None:
        model = self.current_model()
        if model is None:
            return
        text, yes = delete_question(model)
        if self.confirm(self, "Delete model", text, yes):
            self.controller.delete(model.id)

    def _on_import_folder_button_clicked(self) -> None:
        chosen = self.choose_folder("Import a model folder (the one with config.json)")
        if chosen:
            self.message.clear()
            self.controller.import_path(Path(chosen))

    def _on_import_gguf_button_clicked(self) -> None:
        chosen = self.choose_gguf()
        if chosen:
            self.message.clear()
            self.controller.import_path(Path(chosen))

    def _on_move_button_clicked(self) -> None:
        chosen = self.choose_folder("Move the models to (an empty or new folder)")
        if not chosen:
            return
        self.message.setText(f"Moving the models to {chosen}…")
        self.move_bar.setValue(0)
        self.move_bar.show()
        self.cancel_move_button.show()
        self.controller.move(Path(chosen))
        self._update_buttons()

    def _on_repoint_button_clicked(self) -> None:
        chosen = self.choose_folder("Use this folder for models (nothing is moved)")
        if chosen:
            self.message.clear()
            self.controller.repoint(Path(chosen))

    def _on_library_move_progressed(self, progress: MoveProgress) -> None:
        self.move_bar.setValue(round(progress.fraction * PROGRESS_STEPS))
        self.move_bar.setFormat(
            f"{format_decimal_bytes(progress.bytes_done)} of "
            f"{format_decimal_bytes(progress.total_bytes)}"
        )

    def _on_library_move_finished(self, result: MoveResult) -> None:
        self._end_move_display()
        how = "renamed" if result.renamed else "copied and checked"
        note = f" {result.source_left}" if result.source_left else ""
        self.message.setText(
            f"Moved {format_decimal_bytes(result.bytes_moved)} to {result.destination} "
            f"({how}).{note}"
        )

    def _end_move_display(self) -> None:
        self.move_bar.hide()
        self.cancel_move_button.hide()
        self._update_buttons()
