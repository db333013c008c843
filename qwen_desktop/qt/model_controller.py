"""Qt face of model loading: load a local folder into the backend, report progress and errors."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from qwen_desktop.backends.base import ChatBackend, LoadedModel, ModelSpec
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.qt.tasks import TaskGroup

log = logging.getLogger(__name__)


class ModelController(QObject):
    """Loads models into one backend.

    Signals:
        load_started(str): Loading a model with this display name began.
        model_loaded(object): The ``LoadedModel`` is ready.
        load_failed(str, str): Loading failed: message, action. The previous model stays loaded.
    """

    load_started = Signal(str)
    model_loaded = Signal(object)
    load_failed = Signal(str, str)

    def __init__(self, backend: ChatBackend, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self._tasks = TaskGroup(
            lambda exc: self.load_failed.emit(f"Unexpected error: {exc}", "See the log.")
        )
        self.loading = False
        self.loaded_path: Path | None = None

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model, or None."""
        return self.backend.loaded

    def load_folder(self, folder: Path) -> None:
        """Start loading a local checkpoint folder (ignored while another load runs)."""
        if self.loading:
            return
        self.loading = True
        self._tasks.start(self._load(ModelSpec(name=folder.name, path=folder)))

    async def _load(self, spec: ModelSpec) -> None:
        self.load_started.emit(spec.name)
        try:
            loaded = await self.backend.load(spec)
        except QwenDesktopError as exc:
            self.load_failed.emit(exc.message, exc.action)
        else:
            log.info(
                "model loaded: %s on %s in %.1f s", loaded.name, loaded.device, loaded.load_seconds
            )
            self.loaded_path = spec.path
            self.model_loaded.emit(loaded)
        finally:
            self.loading = False

    async def shutdown(self) -> None:
        """Cancel this controller's running work and wait for it to end (window closing)."""
        await self._tasks.cancel_and_wait()
