"""Qt face of engine choice: probe what can run, start the embedded Ollama, connect to servers.

The engine itself is changed through :meth:`ModelController.switch_backend` (the previous
engine's model is unloaded first); the managed server's events and log lines are re-emitted as
signals for the status bar, the chat and the engine log view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from qwen_desktop.core.errors import EngineUnavailableError, QwenDesktopError
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.settings import ENGINE_CHOICES, load_settings, save_settings
from qwen_desktop.engines.engine_choice import EngineStatus, engine_status, remote_status
from qwen_desktop.engines.ollama_server import OllamaServer, OllamaServerConfig, ServerEvent
from qwen_desktop.engines.service import TRANSFORMERS_LABEL, default_kind, ollama_tags
from qwen_desktop.engines.ui.model_controller import ModelController
from qwen_desktop.uikit.tasks import TaskGroup

if TYPE_CHECKING:  # the engines' clients (ollama, openai, keyring) load when first used
    from qwen_desktop.engines.secrets import ApiKeyStore

log = logging.getLogger(__name__)


class EngineController(QObject):
    """Chooses the engine that serves models.

    Args:
        models: The model controller whose backend is switched.
        paths: The app's folders (the embedded server's models folder and log file).
        keys: Where API keys are kept (default: the OS keyring).
        server_config: How to run the embedded Ollama (default :class:`OllamaServerConfig`).
        running_port: Where to look for an Ollama the user runs (default: ``$OLLAMA_HOST``'s
            port or 11434; tests pass a free port).
        is_busy: True while an answer streams (no engine change then).

    Signals:
        status_ready(object): The :class:`EngineStatus` probe finished.
        engine_changed(str): This engine serves models now.
        engine_failed(str, str): Changing engine failed: message, action. The engine in use stays.
        models_listed(object): The model ids (tuple of str) the new engine offers.
        server_event(object): A :class:`ServerEvent` of the embedded server.
        log_line(str): A line the embedded server printed.
        busy_changed(bool): Probing or connecting began (True) or ended.
    """

    status_ready = Signal(object)
    engine_changed = Signal(str)
    engine_failed = Signal(str, str)
    models_listed = Signal(object)
    server_event = Signal(object)
    log_line = Signal(str)
    busy_changed = Signal(bool)

    def __init__(
        self,
        models: ModelController,
        paths: AppPaths,
        *,
        keys: ApiKeyStore | None = None,
        server_config: OllamaServerConfig | None = None,
        running_port: int | None = None,
        is_busy: Callable[[], bool] = lambda: False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.models = models
        self.paths = paths
        self._keys = keys
        self.server_config = server_config or OllamaServerConfig()
        self.running_port = running_port
        self.is_busy = is_busy
        self.status: EngineStatus | None = None
        self.server: OllamaServer | None = None
        self.model_ids: tuple[str, ...] = ()
        self._ollama_url: str | None = None
        self.probing = False
        """True while the engines are being looked for (no engine is changing)."""
        models.folder_engine = self._folder_engine
        self.busy = False
        self._tasks = TaskGroup(
            lambda exc: self.engine_failed.emit(f"Unexpected error: {exc}", "See the log.")
        )

    @property
    def ollama_url(self) -> str | None:
        """The Ollama the window uses (its own while ready, or one at an address), else None:
        where Ollama pulls go and whose models the Library lists."""
        server = self.server
        if server is not None:
            return server.url if server.state == "ready" else None
        return self._ollama_url

    @property
    def keys(self) -> ApiKeyStore:
        """Where API keys are kept (the OS keyring, opened when first needed)."""
        if self._keys is None:
            from qwen_desktop.engines.secrets import ApiKeyStore

            self._keys = ApiKeyStore()
        return self._keys

    @keys.setter
    def keys(self, store: ApiKeyStore) -> None:
        self._keys = store

    @property
    def label(self) -> str:
        """The engine in use."""
        return self.models.engine_label or TRANSFORMERS_LABEL

    # -- requests from the window ------------------------------------------------------------

    def probe(self) -> None:
        """Find what can run here (Ollama binary, a running Ollama, torch); ``status_ready``."""
        self._run(self._probe(), changes_engine=False)

    def use_embedded(self) -> None:
        """Start the app's own Ollama (privately, on 127.0.0.1 and a free port) and use it."""
        self._run(self._use_embedded())

    def use_running(self, url: str) -> None:
        """Use an Ollama that already runs at ``url`` (case C8); the app's own one stops."""
        self._run(self._use_ollama_url(url, f"Ollama at {url}"))

    def use_transformers(self) -> None:
        """Go back to the in-process Transformers engine."""
        self._run(self._use_transformers())

    def use_remote(self, url: str, api_key: str = "") -> None:
        """Use a server at ``url``: an OpenAI-compatible API, else an Ollama.

        ``api_key``, when given, is stored in the OS keyring for that address (never in the
        settings); otherwise a stored key or ``$QWEN_DESKTOP_API_KEY`` is used.
        """
        self._run(self._use_remote(url.strip(), api_key.strip()))

    def start_default(self) -> None:
        """At app start: the engine chosen last time (saved in the settings), else the default
        (the embedded Ollama when its binary is found). A saved engine that no longer works is
        reported through ``engine_failed``; the window stays on Transformers."""
        self._run(self._start_default())

    def set_gpu_present(self, present: bool) -> None:
        """Tell the embedded server whether the hardware scan found a GPU; when it runs on the
        CPU although one exists, ``server_event`` says so (a ``compute`` event)."""
        self.server_config = replace(self.server_config, gpu_present=present)
        server = self.server
        if server is None:
            return
        had = server.gpu_warning
        server.config = replace(server.config, gpu_present=present)
        warning = server.gpu_warning
        if warning and not had:
            self.server_event.emit(ServerEvent("compute", f"{warning}."))

    def load(self, model_id: str) -> None:
        """Load a model the engine in use offers (an Ollama tag, a server's model id)."""
        self.models.load_model(model_id)

    def log_lines(self) -> list[str]:
        """The embedded server's recent output (empty when it never ran)."""
        return self.server.log_lines() if self.server is not None else []

    def findings(self) -> list[str]:
        """What the embedded server's log revealed, one sentence each: the compute library,
        "a GPU is present but unused", a model too large for this system."""
        server = self.server
        if server is None:
            return []
        found = []
        if server.compute_library:
            found.append(f"Compute library: {server.compute_library}.")
        if server.gpu_warning:
            found.append(f"{server.gpu_warning}.")
        if server.too_large is not None:
            found.append(server.too_large.message)
        return found

    @property
    def gpu_warning(self) -> str | None:
        """ "A GPU is present but Ollama is running on the CPU" when the server found so."""
        return self.server.gpu_warning if self.server is not None else None

    @property
    def log_file(self) -> str | None:
        """The embedded server's rotating log file, when it has one."""
        server = self.server
        path = server.log.log_file if server is not None else None
        return str(path) if path is not None else None

    # -- work --------------------------------------------------------------------------------

    def _run(self, work: Coroutine[Any, Any, None], *, changes_engine: bool = True) -> None:
        if self.busy:
            work.close()
            self.engine_failed.emit("The engine is being changed.", "Wait until it is done.")
            return
        if changes_engine and self.is_busy():
            work.close()
            self.engine_failed.emit(
                "An answer is being written.", "Stop it (Esc) before changing engine."
            )
            return
        self._tasks.start(self._guarded(work))

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        self.busy = True
        self.busy_changed.emit(True)
        try:
            await work
        except QwenDesktopError as error:
            log.info("engine change failed: %s", error.message)
            self.engine_failed.emit(error.message, error.action)
        finally:
            self.busy = False
            self.busy_changed.emit(False)

    async def _probe(self) -> None:
        self.probing = True
        try:
            self.status = await engine_status(
                self.server_config.binary, running_port=self.running_port
            )
        finally:
            self.probing = False
        self.status_ready.emit(self.status)

    async def _start_default(self) -> None:
        await self._probe()
        saved = load_settings(self.paths.config_dir)
        kind, url = saved.engine, saved.engine_url or ""
        if kind not in ENGINE_CHOICES:
            if self.status is not None and default_kind(self.status) == "embedded":
                await self._use_embedded()
            return
        log.info("using the engine chosen last time: %s %s", kind, url)
        if kind == "embedded":
            await self._use_embedded()
        elif kind == "ollama" and url:
            await self._use_ollama_url(url, f"Ollama at {url}")
        elif kind == "server" and url:
            await self._use_remote(url, "")

    def _remember(self, kind: str, url: str | None = None) -> None:
        """Save the engine choice for the next start (a settings file that cannot be written
        is logged: the choice still applies now)."""
        config_dir = self.paths.config_dir
        try:
            settings = load_settings(config_dir).with_changes(engine=kind, engine_url=url)
            save_settings(config_dir, settings)
        except OSError as exc:
            log.warning("could not save the engine choice in %s: %s", config_dir, exc)

    async def _use_embedded(self) -> None:
        if self.server is None or self.server.state in ("stopped", "failed"):
            self.server = OllamaServer(
                self.server_config,
                on_event=self.server_event.emit,
                on_log_line=self.log_line.emit,
                paths=self.paths,
            )
            try:
                await self.server.start()
            except BaseException:
                await self.server.stop()
                raise
        from qwen_desktop.engines.ollama_backend import OllamaBackend

        server = self.server
        tags = await ollama_tags(server.url)
        label = f"Ollama {server.version or ''} (run by this app)".replace("  ", " ")
        await self.models.switch_backend(OllamaBackend(server=server), label)
        self._ollama_url = None
        self._remember("embedded")
        self._changed(label, tags)

    async def _use_ollama_url(self, url: str, label: str) -> None:
        from qwen_desktop.engines.ollama_backend import OllamaBackend

        tags = await ollama_tags(url)
        await self.models.switch_backend(OllamaBackend(url), label)
        await self._stop_server()
        self._ollama_url = url
        self._remember("ollama", url)
        self._changed(label, tags)

    async def _folder_engine(self) -> None:
        """A model folder was opened on another engine: Transformers runs folders."""
        if self.is_busy():
            raise QwenDesktopError(
                "An answer is being written.", "Stop it (Esc) before opening another model."
            )
        await self._use_transformers()

    async def _use_transformers(self) -> None:
        from qwen_desktop.engines.transformers_backend import TransformersBackend

        await self.models.switch_backend(TransformersBackend(), TRANSFORMERS_LABEL)
        await self._stop_server()
        self._ollama_url = None
        self._remember("transformers")
        self._changed(TRANSFORMERS_LABEL, ())

    async def _use_remote(self, url: str, api_key: str) -> None:
        if not url:
            raise QwenDesktopError(
                "The server address is empty.",
                "Give it as http://HOST:PORT/v1 (OpenAI-compatible) or http://HOST:11434 (Ollama).",
            )
        if api_key:
            self.keys.set(url, api_key)  # SecretStoreError says what to do without a keyring
        status = await remote_status(url, self.keys)
        if status.kind == "ollama":
            host = status.url.removesuffix("/v1")
            await self._use_ollama_url(host, f"Ollama at {host}")
            return
        if status.kind != "openai":
            raise EngineUnavailableError(
                f"The server at {status.url} did not answer as an OpenAI-compatible API or an "
                f"Ollama: {status.error}",
                "Check the address (it usually ends in /v1) and the API key.",
            )
        from qwen_desktop.engines.openai_backend import OpenAICompatibleBackend

        key = self.keys.resolve(status.url).key
        label = f"Server at {status.url}"
        await self.models.switch_backend(OpenAICompatibleBackend(status.url, api_key=key), label)
        await self._stop_server()
        self._ollama_url = None
        self._remember("server", status.url)
        self._changed(label, tuple(sorted(status.models)))

    def _changed(self, label: str, model_ids: tuple[str, ...]) -> None:
        self.model_ids = model_ids
        self.engine_changed.emit(label)
        self.models_listed.emit(model_ids)

    async def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    async def shutdown(self) -> None:
        """Cancel running work and stop the embedded server (window closing)."""
        await self._tasks.cancel_and_wait()
        await self._stop_server()
