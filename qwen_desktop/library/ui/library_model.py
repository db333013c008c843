"""Qt face of the local model library: a table model of installed models and its controller.

:class:`LibraryModel` shows every installed model (Hugging Face cache, imported folders and GGUF
files, Ollama when a server is given) with format, quantization, size on disk and last use.
:class:`LibraryController` lists, deletes and imports in the background, records loads (last
used) and changes the models folder (move with progress, or re-point).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from qwen_desktop.core.catalog import Variant
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.units import format_decimal_bytes
from qwen_desktop.library.models_folder import (
    MoveProgress,
    MoveResult,
    move_models_folder,
    repoint_models_folder,
)
from qwen_desktop.library.service import InstalledModel, ModelLibrary
from qwen_desktop.uikit.tasks import TaskGroup

ModelIndex = QModelIndex | QPersistentModelIndex

MODEL_ROLE = Qt.ItemDataRole.UserRole + 1
"""The row's :class:`~qwen_desktop.library.service.InstalledModel`."""
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
"""A sortable value (bytes for the size, Unix time for the last use)."""

SOURCE_WORDS = {
    "huggingface": "Hugging Face cache",
    "folder": "Imported folder",
    "gguf": "Imported GGUF file",
    "ollama": "Ollama",
}


class Column(IntEnum):
    """The table's columns."""

    MODEL = 0
    SOURCE = 1
    FORMAT = 2
    QUANT = 3
    SIZE = 4
    LAST_USED = 5


HEADERS = {
    Column.MODEL: "Model",
    Column.SOURCE: "Source",
    Column.FORMAT: "Format",
    Column.QUANT: "Quantization",
    Column.SIZE: "Size on disk",
    Column.LAST_USED: "Last used",
}


def last_used_label(seconds: float | None, now: float | None = None) -> str:
    """``today``, ``yesterday``, ``5 days ago`` or a date; ``never`` (by this app)."""
    if seconds is None:
        return "never"
    now_dt = datetime.fromtimestamp(now) if now is not None else datetime.now()
    days = (now_dt.date() - datetime.fromtimestamp(seconds).date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 30:
        return f"{days} days ago"
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d")


def can_open_in_chat(model: InstalledModel) -> str | None:
    """Why the Transformers engine cannot open ``model``, or ``None`` when it can."""
    if not model.complete:
        return "The download is unfinished: resume it on the Downloads page first."
    if model.format == "gguf" or model.source == "ollama":
        return "GGUF and Ollama models run in the Ollama engine, not in the window's Transformers."
    if model.format not in {"safetensors", "pytorch"} or model.path is None:
        return "This folder holds no Transformers checkpoint (config.json and weights)."
    return None


class LibraryModel(QAbstractTableModel):
    """The installed models, one row each."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[InstalledModel] = []

    def set_models(self, models: list[InstalledModel]) -> None:
        """Replace the rows."""
        self.beginResetModel()
        self._rows = list(models)
        self.endResetModel()

    def model_at(self, row: int) -> InstalledModel:
        """The model in ``row``."""
        return self._rows[row]

    @property
    def models(self) -> list[InstalledModel]:
        """All rows."""
        return list(self._rows)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        model = self._rows[index.row()]
        column = Column(index.column())
        if role == MODEL_ROLE:
            return model
        if role == SORT_ROLE:
            if column is Column.SIZE:
                return model.size_bytes
            if column is Column.LAST_USED:
                return model.last_used_s or 0.0
            return str(self.data(index) or "").lower()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(model, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column is Column.MODEL:
                where = model.path or "on the Ollama server"
                note = "" if model.complete else "\nIncomplete: resume it on the Downloads page."
                return f"{model.id}\n{where}{note}"
            if column is Column.LAST_USED:
                return "When this app last loaded it (not the file access time)."
        if role == Qt.ItemDataRole.TextAlignmentRole and column is Column.SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(model: InstalledModel, column: Column) -> str:
        if column is Column.MODEL:
            name = Path(model.id).name if model.source in {"folder", "gguf"} else model.id
            return name if model.complete else f"{name} (incomplete)"
        if column is Column.SOURCE:
            return SOURCE_WORDS.get(model.source, model.source)
        if column is Column.FORMAT:
            return model.format
        if column is Column.QUANT:
            return model.quant or "—"
        if column is Column.SIZE:
            return format_decimal_bytes(model.size_bytes)
        return last_used_label(model.last_used_s)


class LibraryController(QObject):
    """Lists, deletes and imports installed models; changes the models folder.

    Args:
        library: The library service.
        config_dir: Where the settings (the chosen models folder) are saved.
        ollama_url: An Ollama server whose models to list too, or ``None``.
        busy_reason: Says why the models folder cannot change now (downloads running), or
            ``None`` when it can.

    Signals:
        models_changed(list): The installed models after a refresh.
        failed(str, str): A library action failed: message, action.
        deleted(str, int): A model was deleted: its id and the bytes freed.
        move_progressed(object): A :class:`~qwen_desktop.library.models_folder.MoveProgress`.
        folder_changed(object): The models folder is now this :class:`~pathlib.Path`.
        move_finished(object): A move ended with this
            :class:`~qwen_desktop.library.models_folder.MoveResult`.
    """

    models_changed = Signal(list)
    failed = Signal(str, str)
    deleted = Signal(str, int)
    move_progressed = Signal(object)
    folder_changed = Signal(object)
    move_finished = Signal(object)

    def __init__(
        self,
        library: ModelLibrary,
        config_dir: Path,
        ollama_url: str | None = None,
        busy_reason: Callable[[], str | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.config_dir = config_dir
        self.ollama_url = ollama_url
        self._busy_reason = busy_reason or (lambda: None)
        self._tasks = TaskGroup(lambda exc: self.failed.emit(f"Unexpected error: {exc}", ""))
        self._cancel_move: threading.Event | None = None

    @property
    def folder(self) -> Path:
        """The models folder (the Hugging Face cache the library reads)."""
        return self.library.cache_dir

    @property
    def moving(self) -> bool:
        """True while a move runs."""
        return self._cancel_move is not None

    def refresh(self) -> None:
        """List the installed models again (in the background). Without a running event loop
        (before the window's loop starts) nothing is scheduled: ``run_window`` lists them once
        the loop runs."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._tasks.start(self._refresh())

    async def _refresh(self) -> None:
        try:
            models = await self.library.list_all(self.ollama_url)
        except QwenDesktopError as exc:
            self.failed.emit(exc.message, exc.action)
            return
        self.models_changed.emit(models)

    def delete(self, model_id: str) -> None:
        """Delete a model (confirm first: this frees its disk space for good)."""
        self._tasks.start(self._delete(model_id))

    async def _delete(self, model_id: str) -> None:
        try:
            freed = await self.library.delete(model_id, self.ollama_url)
        except QwenDesktopError as exc:
            self.failed.emit(exc.message, exc.action)
            return
        self.deleted.emit(model_id, freed)
        await self._refresh()

    def import_path(self, path: Path) -> None:
        """Remember a local model folder or ``.gguf`` file, then refresh."""
        try:
            self.library.import_path(path)
        except QwenDesktopError as exc:
            self.failed.emit(exc.message, exc.action)
            return
        self.refresh()

    def record_load(self, path: Path | None, name: str | None = None) -> None:
        """Note that a model was just loaded (last used), then refresh: the folder ``path``,
        or, for a model an engine names (Ollama), ``ollama:<name>``."""
        if path is not None:
            self.library.last_used.touch_path(path)
        elif name:
            self.library.last_used.touch(f"ollama:{name}")
        else:
            return
        self.refresh()

    def repoint(self, folder: Path) -> None:
        """Use another folder as the models folder without moving anything."""
        if self._refuse_change():
            return
        try:
            chosen = repoint_models_folder(self.config_dir, folder)
        except QwenDesktopError as exc:
            self.failed.emit(exc.message, exc.action)
            return
        self._set_folder(chosen)

    def move(self, dest: Path) -> None:
        """Move the models folder to ``dest`` (copy, verify, then delete; see
        :func:`~qwen_desktop.library.models_folder.move_models_folder`)."""
        if self.moving or self._refuse_change():
            return
        self._cancel_move = threading.Event()
        self._tasks.start(self._move(dest, self._cancel_move))

    def cancel_move(self) -> None:
        """Stop a running move; the models stay in the old folder."""
        if self._cancel_move is not None:
            self._cancel_move.set()

    async def _move(self, dest: Path, cancel: threading.Event) -> None:
        loop = asyncio.get_running_loop()

        def progressed(progress: MoveProgress) -> None:
            loop.call_soon_threadsafe(self.move_progressed.emit, progress)

        try:
            result: MoveResult = await asyncio.to_thread(
                move_models_folder,
                self.config_dir,
                self.folder,
                dest,
                on_progress=progressed,
                cancel=cancel,
            )
        except QwenDesktopError as exc:  # MoveCancelledError included: the source is intact
            self.failed.emit(exc.message, exc.action)
            return
        finally:
            self._cancel_move = None
        self.move_finished.emit(result)
        self._set_folder(result.destination)

    async def shutdown(self) -> None:
        """Stop a running move (the source stays intact) and background work."""
        self.cancel_move()
        await self._tasks.cancel_and_wait()

    def _refuse_change(self) -> bool:
        reason = self._busy_reason()
        if reason:
            self.failed.emit(reason, "Pause or finish the downloads, then change the folder.")
        return bool(reason)

    def _set_folder(self, folder: Path) -> None:
        self.library.cache_dir = folder
        self.folder_changed.emit(folder)
        self.refresh()


def installed_predicate(models: list[InstalledModel]) -> Callable[[Variant], bool]:
    """Tells whether a catalog variant is installed, from the library's listing: its
    safetensors repository or its GGUF repository is complete in the Hugging Face cache, or its
    Ollama tag is on the Ollama server."""
    repos = {m.id.lower() for m in models if m.source == "huggingface" and m.complete}
    tags = {m.id.lower() for m in models if m.source == "ollama"}

    def installed(variant: Variant) -> bool:
        if variant.hf_repo.lower() in repos:
            return True
        if variant.gguf_repo is not None and variant.gguf_repo.lower() in repos:
            return True
        return variant.ollama is not None and variant.ollama.tag.lower() in tags

    return installed
