"""Qt face of model loading: load a local folder or an engine's model id into the backend,
report progress and errors, and change engine (through a :class:`SwitchableBackend`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.engines.base import ChatBackend, LoadedModel, ModelSpec
from qwen_desktop.engines.service import SwitchableBackend
from qwen_desktop.uikit.tasks import TaskGroup

log = logging.getLogger(__name__)


class ModelController(QObject):
    """Loads models into one backend.

    Signals:
        load_started(str): Loading a model with this display name began.
        model_loaded(LoadedModel): The model is ready.
        load_failed(str, str): Loading failed: message, action. The previous model stays loaded.
        engine_changed(str): Another engine (this label) serves models now; nothing is loaded.
    """

    load_started = Signal(str)
    model_loaded = Signal(LoadedModel)
    load_failed = Signal(str, str)
    engine_changed = Signal(str)

    def __init__(self, backend: ChatBackend, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self._tasks = TaskGroup(
            lambda exc: self.load_failed.emit(f"Unexpected error: {exc}", "See the log.")
        )
        self.loading = False
        self.loaded_path: Path | None = None
        self.folder_engine: Callable[[], Awaitable[None]] | None = None
        """Switches to the engine that runs model folders (Transformers); set by the engine
        controller. Without it, a folder opened on another engine is refused with a message."""

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model, or None."""
        return self.backend.loaded

    @property
    def engine_label(self) -> str | None:
        """What the engine serving models is called, when the backend can change engine."""
        backend = self.backend
        return backend.label if isinstance(backend, SwitchableBackend) else None

    def load_model(self, name: str) -> None:
        """Start loading a model the engine addresses by name (an Ollama tag, a server's model
        id); ignored while another load runs."""
        if self.loading:
            return
        self.loading = True
        self._tasks.start(self._load(ModelSpec(name=name)))

    async def switch_backend(self, backend: ChatBackend, label: str) -> None:
        """Serve models from ``backend`` from now on; the previous engine's model is unloaded.

        Raises:
            QwenDesktopError: A model is loading, or this controller's backend cannot change
                engine (it is not a :class:`SwitchableBackend`).
        """
        current = self.backend
        if not isinstance(current, SwitchableBackend):
            raise QwenDesktopError(
                "This window's engine cannot be changed.", "Restart the app to use another one."
            )
        if self.loading:
            raise QwenDesktopError("A model is loading.", "Wait until it is loaded, then switch.")
        await current.switch(backend, label)
        self.loaded_path = None
        log.info("engine changed: %s", label)
        self.engine_changed.emit(label)

    def load_folder(self, folder: Path) -> None:
        """Start loading a local checkpoint folder (refused, with a message, while another load
        or an engine change runs)."""
        if self.loading:
            self.load_failed.emit(
                f"{folder.name} was not opened: another model is loading.",
                "Wait until it is loaded, then open this one.",
            )
            return
        backend = self.backend
        spec = ModelSpec(name=folder.name, path=folder)
        if isinstance(backend, SwitchableBackend) and backend.addresses_by_name:
            if self.folder_engine is None:
                self.load_failed.emit(
                    f"A model folder runs on the Transformers engine; models now run on "
                    f"{backend.label}.",
                    "Choose Transformers in the Engine dialog (Ctrl+E), or a model this engine "
                    "offers there.",
                )
                return
            # Each model on the engine that runs it: a folder on Transformers (the engine
            # change is announced by engine_changed, so the window says so).
            self.loading = True
            self._tasks.start(self._switch_then_load(self.folder_engine, spec))
            return
        self.loading = True
        self._tasks.start(self._load(spec))

    async def _switch_then_load(
        self, switch: Callable[[], Awaitable[None]], spec: ModelSpec
    ) -> None:
        self.loading = False  # switch_backend refuses while loading
        try:
            await switch()
        except QwenDesktopError as exc:
            self.load_failed.emit(exc.message, exc.action)
            return
        self.loading = True
        await self._load(spec)

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
