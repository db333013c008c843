"""The Models page's Download action: ask for the selected catalog variant when not installed.

Kept apart from ``models/ui/models_page.py`` (already long): :class:`ModelDownloadAction` adds a
"Download" button to the page's filter row, a "Download" row action (right click) on the table,
and a note under the recommendation that says what was queued, why a request was refused, or
why a download asked from here failed (case C9: ``"… needs 16.4 GB, 2.0 GiB free on …"``).
It knows no downloads page or controller: the composition root connects
``download_requested`` to the download queue and the queue's signals to :meth:`show_refusal`
and :meth:`show_job`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from qwen_desktop.core.catalog import Variant
from qwen_desktop.downloads.service import DownloadJob
from qwen_desktop.models.ui.models_page import ModelsPage


class ModelDownloadAction(QObject):
    """Download buttons and messages on a :class:`ModelsPage`.

    Args:
        page: The Models page (its top widget's first layout is the filter row).

    Signals:
        download_requested(str, str, str): Variant id, format (``safetensors`` or ``gguf``),
            GGUF quantization ("" for none).
    """

    download_requested = Signal(str, str, str)

    def __init__(self, page: ModelsPage) -> None:
        super().__init__(page)
        self.page = page
        self.button = QPushButton("Download")
        self.button.setObjectName("downloadButton")
        self.action = QAction("Download", page.table)
        page.table.addAction(self.action)
        page.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.note = QLabel()
        self.note.setObjectName("downloadNote")
        self.note.setWordWrap(True)
        self.note.hide()
        top, filters = _top_layouts(page)
        filters.addWidget(self.button)
        top.addWidget(self.note)
        self._requested: set[str] = set()
        self.button.clicked.connect(self.request)
        self.action.triggered.connect(self.request)
        page.table.selectionModel().currentRowChanged.connect(self._update)
        page.engine_combo.currentIndexChanged.connect(self._update)
        page.quant_combo.currentIndexChanged.connect(self._update)
        page.model.modelReset.connect(self._update)
        page.model.dataChanged.connect(self._update)
        self._update()

    def choice(self, variant: Variant) -> tuple[str, str | None]:
        """``(format, quant)`` for the page's engine: the GGUF file of the chosen quantization
        for Ollama when an official GGUF repository exists, else the safetensors checkpoint."""
        if self.page.engine_combo.currentData() == "ollama" and variant.gguf_repo:
            return "gguf", self.page.quant_combo.currentData()
        return "safetensors", None

    def request(self) -> None:
        """Queue the selected variant (nothing when none is selected or it is installed)."""
        variant = self.page.current_variant()
        if variant is None or self.page.model.is_installed(variant):
            return
        fmt, quant = self.choice(variant)
        self._requested.add(variant.id)
        self.show_note(f"Queued {variant.display_name} ({_what(fmt, quant)}): see Downloads.")
        self.download_requested.emit(variant.id, fmt, quant or "")

    def show_note(self, text: str) -> None:
        """Show ``text`` under the recommendation line (hidden when empty)."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def show_refusal(self, message: str, action: str) -> None:
        """A download request was refused: say why (message, action)."""
        self.show_note(f"{message} {action}".strip())

    def show_job(self, job: DownloadJob) -> None:
        """A download changed: a failed or finished one asked from here is said in the note."""
        if job.model_id not in self._requested:
            return
        if job.state == "failed":
            self.show_note(f"{job.model_id}: {job.error} {job.action}".strip())
        elif job.state == "done":
            self._requested.discard(job.model_id)
            self.show_note(f"{job.model_id} is downloaded: see the Library page.")

    def _update(self, *_args: object) -> None:
        variant = self.page.current_variant()
        installed = variant is not None and self.page.model.is_installed(variant)
        self.button.setEnabled(variant is not None and not installed)
        self.action.setEnabled(self.button.isEnabled())
        if variant is None:
            tip = "Select a model first."
        elif installed:
            tip = f"{variant.display_name} is installed (see the Library page)."
        else:
            tip = f"Download {variant.display_name} ({_what(*self.choice(variant))})"
        self.button.setToolTip(tip)


def _top_layouts(page: ModelsPage) -> tuple[QVBoxLayout, QHBoxLayout]:
    """The page's top box (holding the recommendation line) and its filter row (holding the
    search field)."""
    holder = page.recommended.parentWidget()
    top = holder.layout() if holder is not None else None
    if not isinstance(top, QVBoxLayout):
        raise RuntimeError("the Models page has no top box")
    for i in range(top.count()):
        item = top.itemAt(i)
        row = item.layout() if item is not None else None
        if isinstance(row, QHBoxLayout) and row.indexOf(page.search) >= 0:
            return top, row
    raise RuntimeError("the Models page has no filter row")


def _what(fmt: str, quant: str | None) -> str:
    return f"{fmt} {quant}" if quant else fmt
