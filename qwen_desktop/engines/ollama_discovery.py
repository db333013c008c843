"""Finding Ollama: the ``ollama`` binary (bundled, configured, on PATH), its version, free
ports, and an Ollama that already runs on the default address (case C8).

Installer layouts (see shared/research/ollama.md, "Distribution"): the binary finds its compute
libraries relative to itself, so each archive is unpacked as is beside the app:

- Linux: ``<app>/ollama/bin/ollama`` (+ ``<app>/ollama/lib/ollama/…``);
- Windows: ``<app>\\ollama\\ollama.exe`` or ``<app>\\ollama.exe`` (+ ``lib\\ollama\\…``);
- macOS: ``Qwen Desktop.app/Contents/Resources/ollama/ollama`` (``ollama-darwin.tgz`` unpacked
  into ``ollama/``; ``<app>`` is ``Contents/MacOS``).

Environment overrides (portable installs, tests): ``QWEN_DESKTOP_OLLAMA`` (the binary) and
``OLLAMA_HOST`` (where a user's own Ollama listens; default ``127.0.0.1:11434``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from qwen_desktop.engines.http_clients import http_client

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434
"""Ollama's default port (``OLLAMA_HOST`` default ``127.0.0.1:11434``)."""
BINARY_ENV = "QWEN_DESKTOP_OLLAMA"
VERSION_TIMEOUT_S = 5.0

BinarySource = Literal["configured", "environment", "bundled", "PATH"]


@dataclass(frozen=True)
class BinaryLocation:
    """Where an ``ollama`` executable was found, and how."""

    path: Path
    source: BinarySource


def _exe(name: str) -> str:
    return f"{name}.exe" if sys.platform == "win32" else name


def app_dir() -> Path:
    """The folder the app runs from: the frozen executable's folder, else the package's parent."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parent.parent.parent


def bundled_candidates(base: Path) -> list[Path]:
    """Where an installer puts the binary, relative to the app folder ``base`` (in order)."""
    exe = _exe("ollama")
    candidates = [base / "ollama" / "bin" / exe, base / "ollama" / exe, base / exe]
    if base.name == "MacOS" and base.parent.name == "Contents":  # inside a macOS .app bundle
        resources = base.parent / "Resources"
        candidates += [
            resources / "ollama",  # Ollama.app's own layout
            resources / "ollama" / "ollama",  # ollama-darwin.tgz unpacked into ollama/
            resources / "ollama" / "bin" / "ollama",
        ]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates += [Path(bundle) / "ollama" / "bin" / exe, Path(bundle) / "ollama" / exe]
    return candidates


def _runnable(path: Path) -> bool:
    return path.is_file() and (sys.platform == "win32" or os.access(path, os.X_OK))


def find_ollama_binary(
    configured: Path | None = None,
    *,
    base: Path | None = None,
    path_env: str | None = None,
) -> BinaryLocation | None:
    """The ``ollama`` executable to run, or None when there is none.

    Looked up in order: ``configured`` (a path from the settings), ``$QWEN_DESKTOP_OLLAMA``, the
    installer layouts beside the app (:func:`bundled_candidates`), then ``PATH``. A configured
    path that is missing is skipped (the caller reports the path it asked for).

    Args:
        configured: A path chosen by the user.
        base: The app folder (default :func:`app_dir`).
        path_env: The search path (default ``$PATH``).
    """
    if configured is not None and _runnable(configured):
        return BinaryLocation(configured, "configured")
    from_env = os.environ.get(BINARY_ENV)
    if from_env and _runnable(Path(from_env)):
        return BinaryLocation(Path(from_env), "environment")
    for candidate in bundled_candidates(base or app_dir()):
        if _runnable(candidate):
            return BinaryLocation(candidate, "bundled")
    found = shutil.which("ollama", path=path_env)
    return BinaryLocation(Path(found), "PATH") if found else None


_VERSION = re.compile(r"version is (\S+)")
_CLIENT_VERSION = re.compile(r"client version is (\S+)")


def parse_version_output(text: str) -> str | None:
    """The binary's own version from ``ollama --version`` output.

    ``ollama --version`` prints ``ollama version is X`` (the *server's* version when one answers
    at ``OLLAMA_HOST``) and ``Warning: client version is Y`` when they differ or no server
    answers; the client version is the binary's own.
    """
    if (match := _CLIENT_VERSION.search(text)) is not None:
        return match.group(1)
    match = _VERSION.search(text)
    return match.group(1) if match else None


def binary_version(binary: Path, *, timeout_s: float = VERSION_TIMEOUT_S) -> str | None:
    """The version of an ``ollama`` executable (``ollama --version``), or None if it fails.

    ``OLLAMA_HOST`` points at a closed port so the answer is the binary's version, not that of
    a server that happens to run.
    """
    env = {**os.environ, "OLLAMA_HOST": f"{DEFAULT_HOST}:{free_port()}"}
    try:
        done = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_version_output(done.stdout + "\n" + done.stderr)


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race with other programs
    remains, which :class:`~qwen_desktop.engines.ollama_server.OllamaServer` handles)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout_s):
        return True
    return False


def default_address() -> tuple[str, int]:
    """Where a user's own Ollama listens: ``$OLLAMA_HOST`` (as Ollama reads it), else
    127.0.0.1:11434. A bind-all address (``0.0.0.0``, ``::``) is probed on 127.0.0.1."""
    raw = os.environ.get("OLLAMA_HOST", "").strip()
    if not raw:
        return DEFAULT_HOST, DEFAULT_PORT
    parsed = urlsplit(raw if "://" in raw else f"http://{raw}")
    host = parsed.hostname or DEFAULT_HOST
    if host in ("0.0.0.0", "::", "[::]"):
        host = DEFAULT_HOST
    try:
        port = parsed.port or DEFAULT_PORT
    except ValueError:
        port = DEFAULT_PORT
    return host, port


PortState = Literal["free", "ollama", "other"]


@dataclass(frozen=True)
class RunningOllama:
    """What listens on the default Ollama address (case C8).

    Attributes:
        state: ``free`` (nothing listens), ``ollama`` (an Ollama answered ``/api/version``) or
            ``other`` (something else holds the port; the embedded server uses another one).
        url: The base URL probed (``http://host:port``).
        version: The running Ollama's version (``state == "ollama"`` only).
    """

    state: PortState
    url: str
    version: str | None = None

    @property
    def offer(self) -> str:
        """A sentence for the user about what was found."""
        if self.state == "ollama":
            return (
                f"An Ollama {self.version} is already running at {self.url}: the app can use it "
                "(and the models it has) instead of its own engine."
            )
        if self.state == "other":
            return f"Another program uses {self.url}; the app's own engine uses another port."
        return f"No Ollama is running at {self.url}."


async def find_running_ollama(
    host: str | None = None, port: int | None = None, *, timeout_s: float = 1.0
) -> RunningOllama:
    """Probe the default Ollama address (``GET /api/version``; see :func:`default_address`).

    Args:
        host: Host to probe (default from :func:`default_address`).
        port: Port to probe (default from :func:`default_address`); tests pass a free port.
        timeout_s: Per-request timeout.
    """
    import httpx  # imported when first used: the window paints first

    default_host, default_port = default_address()
    host, port = host or default_host, port or default_port
    url = f"http://{host}:{port}"
    try:
        async with http_client(
            url, base_url=True, read_timeout_s=timeout_s, connect_timeout_s=timeout_s
        ) as client:
            response = await client.get("/api/version")
    except httpx.ConnectError:
        return RunningOllama("free", url)
    except httpx.HTTPError:
        return RunningOllama("other", url)
    version = None
    if response.status_code == 200:
        with contextlib.suppress(ValueError, AttributeError):
            version = response.json().get("version")
    if isinstance(version, str) and version:
        return RunningOllama("ollama", url, version)
    return RunningOllama("other", url)
