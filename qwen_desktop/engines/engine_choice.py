"""Which engine runs a model: the embedded Ollama, Transformers, or a guide to install one.

The default (issue 5): the embedded Ollama when its binary is found (installers carry it);
Transformers when torch is installed (the ``ml`` extra; checked with ``find_spec``, never
imported here, so this stays fast); otherwise a clear guide. An Ollama the user already runs on
the default port is reported too (case C8) and is used when nothing else is available. A remote
server (``--url``) is probed on request: an OpenAI-compatible API (its models, whether an API key
is stored for it) or a remote Ollama.
"""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from qwen_desktop.engines.ollama_discovery import (
    BinaryLocation,
    RunningOllama,
    binary_version,
    find_ollama_binary,
    find_running_ollama,
)

EngineName = Literal["ollama", "transformers", "openai"]

INSTALL_GUIDE = (
    "No inference engine is available. Either install Ollama (https://ollama.com/download; "
    "the qwen-desktop installers carry it) and run models by tag, or install the Transformers "
    "engine into this Python: pip install 'qwen-desktop[ml]' and open a model folder."
)


@dataclass(frozen=True)
class EngineChoice:
    """The default engine and why.

    Attributes:
        engine: ``ollama``, ``transformers``, or None when neither can run.
        reason: One sentence.
        url: For ``ollama``: a server that already runs, to use instead of starting one.
        guide: What to install, when ``engine`` is None.
    """

    engine: EngineName | None
    reason: str
    url: str | None = None
    guide: str = ""


@dataclass(frozen=True)
class RemoteStatus:
    """What a remote server (``engine status --url``) answered.

    Attributes:
        url: The address probed.
        kind: ``openai`` (an OpenAI-compatible API answered), ``ollama`` (an Ollama answered,
            use ``--engine ollama``), or ``unreachable`` / ``error``.
        models: The model ids it serves.
        context_tokens: Context windows (tokens) by model id, where the listing gives them.
        key_source: Where the API key comes from: ``environment``, ``keyring`` or ``none``.
        keyring: The OS keyring backend in use, or why there is none.
        error: What went wrong, and what to do (empty when it answered).
    """

    url: str
    kind: Literal["openai", "ollama", "unreachable", "error"]
    models: tuple[str, ...] = ()
    context_tokens: dict[str, int] = field(default_factory=dict)
    key_source: str = "none"
    keyring: str = ""
    error: str = ""


@dataclass(frozen=True)
class EngineStatus:
    """Everything ``qwen-desktop engine status`` reports."""

    ollama_binary: BinaryLocation | None
    ollama_version: str | None
    running: RunningOllama
    torch_available: bool
    transformers_available: bool
    choice: EngineChoice
    remote: RemoteStatus | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        binary = self.ollama_binary
        remote = {"remote": asdict(self.remote)} if self.remote is not None else {}
        return {
            **remote,
            "ollama": {
                "binary": str(binary.path) if binary else None,
                "found_by": binary.source if binary else None,
                "version": self.ollama_version,
            },
            "running_ollama": asdict(self.running),
            "transformers": {
                "torch": self.torch_available,
                "transformers": self.transformers_available,
            },
            "default_engine": asdict(self.choice),
        }


def module_available(name: str) -> bool:
    """True when ``name`` can be imported (``importlib.util.find_spec``; nothing is imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def choose_engine(
    binary: BinaryLocation | None,
    *,
    torch: bool,
    transformers: bool,
    running: RunningOllama | None = None,
) -> EngineChoice:
    """The default engine (see the module docstring)."""
    if binary is not None:
        return EngineChoice(
            "ollama", f"the Ollama engine was found ({binary.source}: {binary.path})"
        )
    if torch and transformers:
        return EngineChoice("transformers", "torch and transformers are installed")
    if running is not None and running.state == "ollama":
        return EngineChoice(
            "ollama", f"an Ollama {running.version} is already running", url=running.url
        )
    missing = "transformers" if torch else "torch"
    return EngineChoice(
        None, f"no Ollama binary was found and {missing} is not installed", guide=INSTALL_GUIDE
    )


def looks_like_folder(model: str) -> bool:
    """True when a ``--model`` value names a local folder rather than an Ollama tag.

    An existing path is a folder; so is anything written as a path (absolute, ``./``, ``../``,
    ``~``), even if missing, so that the user hears "this folder does not exist". Ollama tags
    (``qwen3:8b``, ``hf.co/Qwen/Qwen3-8B-GGUF:Q4_K_M``) are neither.
    """
    path = Path(model).expanduser()
    if path.exists():
        return True
    return model.startswith(("/", "./", "../", "~", ".\\", "..\\")) or Path(model).is_absolute()


def engine_for_model(model: str) -> EngineName:
    """The engine a ``--model`` value implies: a folder → Transformers, a tag → Ollama."""
    return "transformers" if looks_like_folder(model) else "ollama"


async def remote_status(url: str, store: Any = None, timeout_s: float = 5.0) -> RemoteStatus:
    """Probe a remote server: an OpenAI-compatible listing (``GET …/models``), else an Ollama.

    Args:
        url: The server's address (``http://HOST:8000/v1`` or an Ollama's ``http://HOST:11434``).
        store: An :class:`~qwen_desktop.engines.secrets.ApiKeyStore` (default: the OS keyring).
        timeout_s: Timeout of each probe (seconds).
    """
    from qwen_desktop.core.errors import EngineUnavailableError, QwenDesktopError
    from qwen_desktop.engines.openai_backend import OpenAICompatibleBackend
    from qwen_desktop.engines.openai_errors import context_window_of
    from qwen_desktop.engines.secrets import ApiKeyStore

    keys = store if store is not None else ApiKeyStore()
    key = keys.resolve(url)
    source, keyring_name = key.source, keys.describe()
    backend = OpenAICompatibleBackend(url, api_key=key.key, request_timeout_s=timeout_s)
    try:
        listing = await backend.list_models()
    except QwenDesktopError as error:
        ollama = await _remote_ollama(backend.url, timeout_s)
        if ollama is not None:
            return RemoteStatus(
                backend.url, "ollama", ollama, key_source=source, keyring=keyring_name
            )
        kind: Literal["unreachable", "error"] = (
            "unreachable"
            if isinstance(error, EngineUnavailableError) and "Nothing answers" in error.message
            else "error"
        )
        return RemoteStatus(
            backend.url, kind, error=str(error), key_source=source, keyring=keyring_name
        )
    finally:
        await backend.aclose()
    ids = tuple(str(entry.get("id", "")) for entry in listing)
    windows = {str(e.get("id", "")): context_window_of(e) for e in listing}
    return RemoteStatus(
        backend.url,
        "openai",
        models=ids,
        context_tokens={k: v for k, v in windows.items() if v},
        key_source=source,
        keyring=keyring_name,
    )


async def _remote_ollama(url: str, timeout_s: float) -> tuple[str, ...] | None:
    """The model tags of an Ollama at ``url`` (``/v1`` dropped), or None when it is not one
    (``GET /api/tags`` fails: an OpenAI-compatible server answers 404 there)."""
    from qwen_desktop.engines.http_clients import ollama_client

    host = url.removesuffix("/v1")
    client = ollama_client(host, read_timeout_s=timeout_s)
    try:
        listing = await client.list()
    except Exception:  # any failure means "not an Ollama here"; the OpenAI error is reported
        return None
    finally:
        await client.close()
    return tuple(str(entry.model) for entry in listing.models)


async def engine_status(
    configured_binary: Path | None = None,
    *,
    running_host: str | None = None,
    running_port: int | None = None,
    remote_url: str | None = None,
) -> EngineStatus:
    """Probe what is installed and running (``ollama --version`` off the loop, a 1 s probe).

    Args:
        configured_binary: An ``ollama`` path from the settings.
        running_host: Where to look for a running Ollama (default ``$OLLAMA_HOST`` or
            127.0.0.1).
        running_port: Its port (default ``$OLLAMA_HOST``'s or 11434).
        remote_url: A remote server to probe as well (see :func:`remote_status`).
    """
    binary = find_ollama_binary(configured_binary)
    version_task = (
        asyncio.create_task(asyncio.to_thread(binary_version, binary.path))
        if binary is not None
        else None
    )
    running = await find_running_ollama(running_host, running_port)
    remote = await remote_status(remote_url) if remote_url else None
    version = await version_task if version_task is not None else None
    torch, transformers = module_available("torch"), module_available("transformers")
    return EngineStatus(
        ollama_binary=binary,
        ollama_version=version,
        running=running,
        torch_available=torch,
        transformers_available=transformers,
        choice=choose_engine(binary, torch=torch, transformers=transformers, running=running),
        remote=remote,
    )
