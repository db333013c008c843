"""The embedded Ollama engine: a private ``ollama serve`` that the app owns completely.

:class:`OllamaServer` starts ``ollama serve`` on 127.0.0.1 and a free port (never 0.0.0.0), with
its own models folder, ``OLLAMA_NOPRUNE=1`` (a restart must not delete half-downloaded blobs),
keep-alive and context settings; probes ``GET /api/version`` with backoff until it answers (no
request before that); reads everything it prints into a rotating log file and an in-memory ring
buffer (:mod:`~qwen_desktop.engines.ollama_logs`); restarts it with bounded exponential backoff
when it crashes; and stops it (SIGTERM to its process group, SIGKILL after a grace period) on
exit. See :mod:`~qwen_desktop.engines.ollama_process` for how it dies with the app.

Threads: each server process has a reader thread (its output) and a waiter thread (its exit);
both hand over to the event loop with ``call_soon_threadsafe``, so callbacks and state changes
happen on the loop's thread. Call :meth:`OllamaServer.start` from the app's main loop thread
(Linux ties the parent-death signal to the thread that started the process).

Typical use (the window's composition root)::

    server = OllamaServer(OllamaServerConfig(gpu_present=True), on_event=show_in_status_bar)
    await server.start()             # EngineUnavailableError with the last log lines on failure
    backend = OllamaBackend(server=server)
    ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from qwen_desktop.core.errors import EngineUnavailableError
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.engines import ollama_process
from qwen_desktop.engines.http_clients import http_client
from qwen_desktop.engines.ollama_discovery import (
    DEFAULT_HOST,
    BinaryLocation,
    find_ollama_binary,
    free_port,
    port_is_open,
)
from qwen_desktop.engines.ollama_logs import LogFindings, OllamaLog, TooLargeReport

ServerState = Literal["stopped", "starting", "ready", "restarting", "failed"]
EventKind = Literal[
    "starting", "ready", "compute", "too_large", "crashed", "restarted", "gave_up", "stopped"
]

_ADDRESS_IN_USE = ("address already in use", "only one usage of each socket address")
_PORT_ATTEMPTS = 3
_PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ServerEvent:
    """Something the user may want to know about the engine (shown in the status bar / log).

    Attributes:
        kind: ``starting``, ``ready``, ``compute`` (the compute library became known),
            ``too_large`` (a model did not fit), ``crashed``, ``restarted``, ``gave_up`` (no
            more restarts), ``stopped``.
        message: One sentence for the user.
        detail: Supporting text (the last log lines of a crash).
    """

    kind: EventKind
    message: str
    detail: str = ""


@dataclass(frozen=True)
class OllamaServerConfig:
    """How to run the embedded server.

    Attributes:
        binary: A configured ``ollama`` path (None: search, see
            :func:`~qwen_desktop.engines.ollama_discovery.find_ollama_binary`).
        models_dir: ``OLLAMA_MODELS``; None: ``<app models dir>/ollama``, or the user's
            ``~/.ollama/models`` when ``use_user_models``.
        use_user_models: Share the models of the user's own Ollama installation.
        keep_alive: ``OLLAMA_KEEP_ALIVE`` (how long an idle model stays loaded; ``-1``: always).
        context_tokens: ``OLLAMA_CONTEXT_LENGTH`` (default context window, tokens); None: Ollama's.
        num_parallel: ``OLLAMA_NUM_PARALLEL`` (memory scales with parallel × context).
        max_loaded_models: ``OLLAMA_MAX_LOADED_MODELS``.
        flash_attention: ``OLLAMA_FLASH_ATTENTION`` when not None.
        kv_cache_type: ``OLLAMA_KV_CACHE_TYPE`` (``f16``, ``q8_0``, ``q4_0``) when not None.
        extra_env: More environment variables (e.g. ``CUDA_VISIBLE_DEVICES``).
        port: A preferred port; taken or None: a free port.
        log_file: The rotating log file; None: ``<app data dir>/logs/ollama.log``.
        ready_timeout_s: Seconds to wait for the first answer to ``/api/version``.
        stop_grace_s: Seconds between SIGTERM and SIGKILL.
        max_restarts: Restarts after crashes before giving up (counted again after the server
            stayed up ``stable_after_s``).
        restart_backoff_s: Wait before the first restart; doubled for each further one.
        stable_after_s: Uptime after which earlier crashes are forgotten.
        gpu_present: The caller knows a GPU exists (to warn when the server runs on the CPU).
    """

    binary: Path | None = None
    models_dir: Path | None = None
    use_user_models: bool = False
    keep_alive: str = "5m"
    context_tokens: int | None = None
    num_parallel: int = 1
    max_loaded_models: int = 1
    flash_attention: bool | None = None
    kv_cache_type: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    log_file: Path | None = None
    ready_timeout_s: float = 60.0
    stop_grace_s: float = 5.0
    max_restarts: int = 3
    restart_backoff_s: float = 1.0
    stable_after_s: float = 60.0
    gpu_present: bool = False


def user_models_dir() -> Path:
    """The models folder of a user's own Ollama (``$OLLAMA_MODELS``, else ``~/.ollama/models``)."""
    configured = os.environ.get("OLLAMA_MODELS")
    return Path(configured) if configured else Path.home() / ".ollama" / "models"


class _ServerStartError(Exception):
    """One attempt to start the process failed (the caller may retry)."""

    def __init__(self, message: str, *, port_taken: bool = False) -> None:
        super().__init__(message)
        self.port_taken = port_taken


class OllamaServer:
    """A private ``ollama serve`` process (see the module docstring).

    Args:
        config: How to run it.
        on_event: Called on the loop's thread with each :class:`ServerEvent`.
        on_log_line: Called on the loop's thread with each line the server prints.
        paths: The app's folders (default :meth:`AppPaths.default`).
    """

    def __init__(
        self,
        config: OllamaServerConfig | None = None,
        *,
        on_event: Callable[[ServerEvent], None] | None = None,
        on_log_line: Callable[[str], None] | None = None,
        paths: AppPaths | None = None,
    ) -> None:
        self.config = config or OllamaServerConfig()
        self._paths = paths or AppPaths.default()
        self._on_event = on_event
        self._on_log_line = on_log_line
        self.findings = LogFindings()
        self.log = OllamaLog(self.config.log_file or self._paths.data_dir / "logs" / "ollama.log")
        self.binary: BinaryLocation | None = None
        self.state: ServerState = "stopped"
        self.port: int | None = None
        self.version: str | None = None
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._job: ollama_process.WindowsJob | None = None
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._restart_task: asyncio.Task[None] | None = None
        self._crashes = 0
        self._ready_at = 0.0
        self._stopping = False
        self._failure = ""
        self._atexit_registered = False

    # -- what the UI reads -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL (``http://127.0.0.1:PORT``).

        Raises:
            EngineUnavailableError: The server was never started.
        """
        if self.port is None:
            raise EngineUnavailableError(
                "The Ollama engine is not running.", "Start it before sending requests."
            )
        return f"http://{DEFAULT_HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def models_dir(self) -> Path:
        """``OLLAMA_MODELS`` of this server."""
        if self.config.models_dir is not None:
            return self.config.models_dir
        if self.config.use_user_models:
            return user_models_dir()
        return self._paths.models_dir / "ollama"

    @property
    def compute_library(self) -> str | None:
        """``CPU``, ``CUDA``, ``ROCm``, ``Vulkan``, ``Metal`` or ``oneAPI``; None: not known yet."""
        return self.findings.compute_library

    @property
    def gpu_warning(self) -> str | None:
        """ "A GPU is present but Ollama is running on the CPU" when that is so, else None."""
        return self.findings.gpu_warning(self.config.gpu_present)

    @property
    def too_large(self) -> TooLargeReport | None:
        """The last "model request too large for system" the server logged."""
        return self.findings.too_large

    def log_lines(self, last: int | None = None) -> list[str]:
        """The server's recent output, oldest first (for the in-app log view)."""
        return self.log.lines(last)

    def environment(self, port: int) -> dict[str, str]:
        """The environment ``ollama serve`` runs with (the app's, plus its own settings)."""
        config = self.config
        env = dict(os.environ)
        env.update(
            {
                "OLLAMA_HOST": f"{DEFAULT_HOST}:{port}",
                "OLLAMA_MODELS": str(self.models_dir),
                "OLLAMA_NOPRUNE": "1",
                "OLLAMA_KEEP_ALIVE": config.keep_alive,
                "OLLAMA_NUM_PARALLEL": str(config.num_parallel),
                "OLLAMA_MAX_LOADED_MODELS": str(config.max_loaded_models),
            }
        )
        if config.context_tokens is not None:
            env["OLLAMA_CONTEXT_LENGTH"] = str(config.context_tokens)
        if config.flash_attention is not None:
            env["OLLAMA_FLASH_ATTENTION"] = "1" if config.flash_attention else "0"
        if config.kv_cache_type is not None:
            env["OLLAMA_KV_CACHE_TYPE"] = config.kv_cache_type
        env.update(config.extra_env)
        env["OLLAMA_HOST"] = f"{DEFAULT_HOST}:{port}"  # never another interface
        return env

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the server and wait until it answers; returns at once if it is running.

        Raises:
            EngineUnavailableError: No ``ollama`` binary was found, it could not be started, or
                it did not answer within ``ready_timeout_s`` (the message carries the last lines
                it printed and where the full log is).
        """
        if self.state in ("ready", "starting", "restarting"):
            await self.wait_ready()
            return
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._stopping = False
        self._crashes = 0
        self.binary = find_ollama_binary(self.config.binary)
        if self.binary is None:
            wanted = f" ({self.config.binary} does not exist)" if self.config.binary else ""
            raise EngineUnavailableError(
                f"The Ollama engine was not found{wanted}.",
                "Reinstall qwen-desktop (its installers carry Ollama), install Ollama from "
                "https://ollama.com/download, or point the settings at an ollama executable.",
            )
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineUnavailableError(
                f"The models folder {self.models_dir} cannot be created: {exc.strerror}.",
                "Pick another models folder in the settings.",
            ) from None
        self._failure = ""
        self.state = "starting"
        self._emit(ServerEvent("starting", f"Starting the Ollama engine ({self.binary.path})."))
        try:
            await self._launch(self.config.port)
        except _ServerStartError as exc:
            self.state, self._failure = "failed", str(exc)
            raise EngineUnavailableError(str(exc), self._log_action()) from None
        except BaseException:
            self.state, self._failure = "failed", "The Ollama engine failed to start."
            self._kill_now()
            raise
        if not self._atexit_registered:
            atexit.register(self.stop_sync)
            self._atexit_registered = True

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until the server answers (while it starts or restarts after a crash).

        Raises:
            EngineUnavailableError: It is stopped, gave up restarting, or ``timeout_s`` passed.
        """
        if self.state == "ready":
            return
        if self.state in ("stopped", "failed"):
            raise EngineUnavailableError(self._not_running(), self._log_action())
        timeout = self.config.ready_timeout_s if timeout_s is None else timeout_s
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise EngineUnavailableError(
                f"The Ollama engine did not become ready within {timeout:g} s.",
                self._log_action(),
            ) from None
        if self.state != "ready":  # woken because it gave up restarting, or was stopped
            raise EngineUnavailableError(self._not_running(), self._log_action())

    async def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``stop_grace_s``.

        Never raises; safe to call twice. Runner processes left in the group are ended too.
        """
        self._stopping = True
        task, self._restart_task = self._restart_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        process = self._process
        if process is not None:
            ollama_process.request_stop(process)
            deadline = time.monotonic() + self.config.stop_grace_s
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            killed = process.poll() is None
            ollama_process.force_stop(process, self._job)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, 5.0)
            self.log.note(
                "stopped" + (f" (killed after {self.config.stop_grace_s:g} s)" if killed else "")
            )
        await asyncio.to_thread(self._join_threads)
        self._finish_stop()

    def stop_sync(self) -> None:
        """:meth:`stop` without an event loop (``atexit``, a Qt ``aboutToQuit`` handler)."""
        self._stopping = True
        task, self._restart_task = self._restart_task, None
        if task is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                task.cancel()
        process = self._process
        if process is not None:
            ollama_process.request_stop(process)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(self.config.stop_grace_s)
            ollama_process.force_stop(process, self._job)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5.0)
        self._join_threads()
        self._finish_stop(emit=False)  # at exit, listeners (widgets) may be gone already

    async def __aenter__(self) -> OllamaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- internals: starting -----------------------------------------------------------------

    async def _launch(self, preferred_port: int | None) -> None:
        """Start a process and wait for it; retries on another port when the port is taken."""
        port = preferred_port
        if port is not None and port_is_open(DEFAULT_HOST, port):
            self.log.note(f"port {port} is in use; using a free port instead")
            port = None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            chosen = port if port is not None else free_port()
            try:
                await self._start_process(chosen)
                return
            except _ServerStartError as exc:
                if not exc.port_taken or attempt == _PORT_ATTEMPTS:
                    raise
                self.log.note(f"port {chosen} was taken; trying another one")
                port = None

    async def _start_process(self, port: int) -> None:
        assert self.binary is not None
        self.findings.reset()
        self.port = port
        argv = [str(self.binary.path), "serve"]
        self.log.note(f"starting {' '.join(argv)} on {DEFAULT_HOST}:{port}")
        try:
            # On the loop's thread on purpose (see the module docstring: parent-death signal).
            process, job = ollama_process.spawn(argv, self.environment(port))
        except OSError as exc:
            raise _ServerStartError(f"The Ollama engine could not be started: {exc}.") from None
        self._process, self._job = process, job
        self._start_threads(process)
        try:
            self.version = await self._probe_until_ready(process, port)
        except _ServerStartError:
            self._kill_now()
            raise
        self.state = "ready"
        self._ready_at = time.monotonic()
        self._ready.set()
        self.log.note(f"ready: Ollama {self.version} at {self.url}")
        self._emit(ServerEvent("ready", f"The Ollama engine {self.version} is ready."))

    async def _probe_until_ready(self, process: subprocess.Popen[bytes], port: int) -> str:
        """Poll ``GET /api/version`` with backoff until it answers; the server's version.

        Raises:
            _ServerStartError: The process exited, or ``ready_timeout_s`` passed.
        """
        import httpx  # imported when first used: the window paints first

        started = time.monotonic()
        deadline = started + self.config.ready_timeout_s
        delay = 0.02
        url = f"http://{DEFAULT_HOST}:{port}"
        # Plain HTTP on 127.0.0.1: no TLS context to build (that alone costs ~20 ms).
        async with http_client(
            url,
            base_url=True,
            read_timeout_s=_PROBE_TIMEOUT_S,
            connect_timeout_s=_PROBE_TIMEOUT_S,
            verify_tls=False,
        ) as client:
            while True:
                if process.poll() is not None:
                    await asyncio.to_thread(self._join_threads, 1.0)  # read its last words
                    tail = "\n".join(self.log.lines(40)).lower()
                    raise _ServerStartError(
                        f"The Ollama engine exited while starting (exit status "
                        f"{process.returncode}).",
                        port_taken=any(text in tail for text in _ADDRESS_IN_USE),
                    )
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = await client.get("/api/version")
                    version = response.json().get("version") if response.is_success else None
                    if isinstance(version, str) and process.poll() is None:
                        return version
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _ServerStartError(
                        f"The Ollama engine did not answer within "
                        f"{self.config.ready_timeout_s:g} s of starting."
                    )
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 1.5, 0.25)

    def _start_threads(self, process: subprocess.Popen[bytes]) -> None:
        reader = threading.Thread(
            target=self._read_output, args=(process,), name="ollama-output", daemon=True
        )
        waiter = threading.Thread(
            target=self._wait_exit, args=(process,), name="ollama-wait", daemon=True
        )
        self._threads = [reader, waiter]
        reader.start()
        waiter.start()

    def _read_output(self, process: subprocess.Popen[bytes]) -> None:
        """Reader thread: every line to the log; findings to the loop."""
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.log.write(line)
            found = self.findings.feed(line)
            if self._on_log_line is not None:
                self._call_soon(self._on_log_line, line)
            if found in ("compute", "too_large"):
                self._call_soon(self._on_finding, found)
        process.stdout.close()

    def _wait_exit(self, process: subprocess.Popen[bytes]) -> None:
        """Waiter thread: tell the loop when the process ends."""
        process.wait()
        self._call_soon(self._on_exit, process)

    def _join_threads(self, timeout_s: float = 5.0) -> None:
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)

    def _call_soon(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(callback, *args)

    def _kill_now(self) -> None:
        process = self._process
        if process is not None:
            ollama_process.force_stop(process, self._job)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5.0)

    # -- internals: on the loop's thread -----------------------------------------------------

    def _emit(self, event: ServerEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _on_finding(self, found: str) -> None:
        if found == "too_large" and self.too_large is not None:
            self._emit(ServerEvent("too_large", self.too_large.message, self.too_large.line))
        elif found == "compute" and self.compute_library is not None:
            message = f"The Ollama engine runs models on: {self.compute_library}."
            if self.gpu_warning:
                message = f"{self.gpu_warning}."
            self._emit(ServerEvent("compute", message))

    def _on_exit(self, process: subprocess.Popen[bytes]) -> None:
        if process is not self._process or self._stopping or self.state != "ready":
            return  # a stop we asked for, a start that failed (handled there), an old process
        self.state = "restarting"
        self._ready = asyncio.Event()
        # Its runner processes (same process group / job) would live on, holding memory.
        ollama_process.force_stop(process, self._job)
        if time.monotonic() - self._ready_at >= self.config.stable_after_s:
            self._crashes = 0
        self._crashes += 1
        tail = "\n".join(self.log.lines(20))
        self.log.note(f"the engine exited unexpectedly (exit status {process.returncode})")
        if self._crashes > self.config.max_restarts:
            self._give_up(tail)
            return
        self._emit(
            ServerEvent(
                "crashed",
                f"The Ollama engine stopped unexpectedly (exit status {process.returncode}); "
                f"restarting it (try {self._crashes} of {self.config.max_restarts}).",
                tail,
            )
        )
        self._restart_task = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        """Restart after a crash: backoff, then the same port if free (URLs stay valid)."""
        while True:
            delay = self.config.restart_backoff_s * 2 ** (self._crashes - 1)
            await asyncio.sleep(delay)
            try:
                await self._launch(self.port)
            except (_ServerStartError, OSError) as exc:
                self._crashes += 1
                self.log.note(f"restart failed: {exc}")
                if self._crashes > self.config.max_restarts:
                    self._give_up("\n".join(self.log.lines(20)))
                    return
                continue
            self.restarts += 1
            self._emit(ServerEvent("restarted", "The Ollama engine was restarted."))
            return

    def _not_running(self) -> str:
        if self.state == "failed" and self._failure:
            return f"The Ollama engine is not running: {self._failure}"
        return "The Ollama engine is not running."

    def _give_up(self, tail: str) -> None:
        self.state = "failed"
        self._failure = f"it crashed {self._crashes} times in a row."
        self._ready.set()  # wake waiters: they see "failed"
        self._emit(
            ServerEvent(
                "gave_up",
                f"The Ollama engine keeps crashing; it was restarted "
                f"{self.config.max_restarts} times and is now stopped.",
                tail,
            )
        )

    def _finish_stop(self, *, emit: bool = True) -> None:
        was_running = self.state != "stopped"
        self.state = "stopped"
        self._process, self._job = None, None
        self._ready.clear()
        if self._atexit_registered:
            atexit.unregister(self.stop_sync)
            self._atexit_registered = False
        self.log.close()
        if was_running and emit:
            self._emit(ServerEvent("stopped", "The Ollama engine stopped."))

    def _log_action(self) -> str:
        lines = [line for line in self.log.lines(8) if line.strip()]
        where = f" Full log: {self.log.log_file}." if self.log.log_file else ""
        if not lines:
            return f"Try again; if it keeps failing, see the engine log.{where}"
        return "Its last words:\n  " + "\n  ".join(lines) + f"\n{where.strip()}"
