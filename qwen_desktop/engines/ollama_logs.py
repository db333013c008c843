"""What the embedded ``ollama serve`` says: a log file, an in-app ring buffer, and what it means.

:class:`OllamaLog` keeps every line the server prints in a rotating log file
(:class:`logging.handlers.RotatingFileHandler`, in the app's data folder) and the most recent
lines in memory (a :class:`collections.deque`) for an in-app log view. :class:`LogFindings`
recognises the lines that matter to a user (source: Ollama's server logs, see
shared/research/ollama.md, "Managing an embedded instance"):

- ``msg="Listening on 127.0.0.1:PORT (version X)"``: the server is up, and its version;
- ``msg="inference compute" … library=cuda …``: which compute library each device uses
  (``cpu``, ``cuda``, ``rocm``, ``vulkan``, ``metal``, ``oneapi``); and once a model loads,
  ``load_backend: loaded CUDA backend from …`` and ``offloaded N/M layers to GPU``;
- ``msg="model request too large for system" requested=… available=…``: a model did not fit.

Lines are read on a reader thread: everything here is thread-safe (a lock guards the findings;
``deque.append`` and logging handlers are thread-safe).
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import re
import threading
from dataclasses import dataclass
from pathlib import Path

LOG_FILE_BYTES = 5 * 1024 * 1024
"""Size (bytes) at which the log file rotates."""
LOG_FILE_BACKUPS = 3
"""Rotated log files kept beside the current one."""
RING_LINES = 2000
"""Lines kept in memory for the in-app log view."""

GPU_UNUSED_WARNING = "A GPU is present but Ollama is running on the CPU"

_LIBRARY_NAMES = {
    "cpu": "CPU",
    "cuda": "CUDA",
    "rocm": "ROCm",
    "hip": "ROCm",
    "vulkan": "Vulkan",
    "metal": "Metal",
    "oneapi": "oneAPI",
    "sycl": "oneAPI",
}
_LISTENING = re.compile(r"Listening on (\S+) \(version ([^)\s]+)\)")
_COMPUTE = re.compile(r'inference compute.*?\blibrary="?([A-Za-z0-9_]+)')
_LOADED_BACKEND = re.compile(r"load_backend: loaded (\w+) backend")
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
_TOO_LARGE = "model request too large for system"
_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')


def library_display_name(raw: str) -> str:
    """``cuda`` → ``CUDA``, ``rocm`` → ``ROCm``, … (unknown names are returned as given)."""
    return _LIBRARY_NAMES.get(raw.lower(), raw)


def log_fields(line: str) -> dict[str, str]:
    """The ``key=value`` fields of one of Ollama's structured (slog) log lines, quotes removed."""
    return {key: value.strip('"') for key, value in _FIELD.findall(line)}


@dataclass(frozen=True)
class TooLargeReport:
    """A ``model request too large for system`` line: sizes as Ollama printed them."""

    line: str
    requested: str = ""
    available: str = ""

    @property
    def message(self) -> str:
        """A sentence for the user."""
        sizes = ""
        if self.requested and self.available:
            sizes = f" (it needs {self.requested}; {self.available} is available)"
        return f"The model is too large for this computer's memory{sizes}."


class LogFindings:
    """What the server's log lines revealed so far (thread-safe; updated by :meth:`feed`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.listening: str | None = None
        self.version: str | None = None
        self._libraries: list[str] = []
        self.offloaded_layers: tuple[int, int] | None = None
        self.too_large: TooLargeReport | None = None

    def reset(self) -> None:
        """Forget everything (a new server process starts)."""
        with self._lock:
            self.listening = self.version = None
            self._libraries = []
            self.offloaded_layers = None
            self.too_large = None

    @property
    def libraries(self) -> tuple[str, ...]:
        """Compute libraries the server found, display names, in order of appearance."""
        with self._lock:
            return tuple(self._libraries)

    @property
    def compute_library(self) -> str | None:
        """The compute library models run on: the first GPU library found, else ``CPU``.

        ``offloaded 0/N layers to GPU`` (a model loaded entirely on the CPU) makes it ``CPU``
        whatever devices were found. None until the server has reported its devices.
        """
        with self._lock:
            if self.offloaded_layers is not None and self.offloaded_layers[0] == 0:
                return "CPU"
            gpus = [name for name in self._libraries if name != "CPU"]
            if gpus:
                return gpus[0]
            return "CPU" if self._libraries else None

    def gpu_warning(self, gpu_present: bool) -> str | None:
        """:data:`GPU_UNUSED_WARNING` when a GPU exists but the server runs on the CPU."""
        if gpu_present and self.compute_library == "CPU":
            return GPU_UNUSED_WARNING
        return None

    def feed(self, line: str) -> str | None:
        """Read one log line; returns what it revealed (``listening``, ``compute``,
        ``too_large``) or None."""
        if (match := _LISTENING.search(line)) is not None:
            with self._lock:
                self.listening, self.version = match.group(1), match.group(2)
            return "listening"
        if (match := _COMPUTE.search(line)) is not None:
            self._add_library(match.group(1))
            return "compute"
        if (match := _LOADED_BACKEND.search(line)) is not None:
            self._add_library(match.group(1))
            return "compute"
        if (match := _OFFLOADED.search(line)) is not None:
            with self._lock:
                self.offloaded_layers = (int(match.group(1)), int(match.group(2)))
            return "compute"
        if _TOO_LARGE in line:
            fields = log_fields(line)
            report = TooLargeReport(
                line=line.strip(),
                requested=fields.get("requested", ""),
                available=fields.get("available", ""),
            )
            with self._lock:
                self.too_large = report
            return "too_large"
        return None

    def _add_library(self, raw: str) -> None:
        name = library_display_name(raw)
        with self._lock:
            if name not in self._libraries:
                self._libraries.append(name)


class OllamaLog:
    """The server's output: a rotating log file plus the last :data:`RING_LINES` lines in memory.

    Args:
        log_file: Where to write (parent folders are created); None keeps lines in memory only.
        ring_lines: Lines kept in memory.
    """

    def __init__(self, log_file: Path | None, *, ring_lines: int = RING_LINES) -> None:
        self.log_file = log_file
        self._ring: collections.deque[str] = collections.deque(maxlen=ring_lines)
        self._handler: logging.Handler | None = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                log_file,
                maxBytes=LOG_FILE_BYTES,
                backupCount=LOG_FILE_BACKUPS,
                encoding="utf-8",
                delay=True,  # no file until the first line
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._handler = handler

    def write(self, line: str) -> None:
        """Record one line (without its line ending)."""
        self._ring.append(line)
        if self._handler is not None:
            self._handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))

    def note(self, text: str) -> None:
        """Record a line of the app's own (``[qwen-desktop] …``): starts, stops, crashes."""
        self.write(f"[qwen-desktop] {text}")

    def lines(self, last: int | None = None) -> list[str]:
        """The lines in memory, oldest first (``last``: only that many of the newest)."""
        lines = list(self._ring)
        return lines if last is None else lines[-last:] if last > 0 else []

    def close(self) -> None:
        """Close the log file (lines in memory stay readable; a later line reopens it)."""
        if self._handler is not None:
            self._handler.close()
