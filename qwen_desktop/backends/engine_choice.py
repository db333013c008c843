"""Which engine runs a model: the embedded Ollama, Transformers, or a guide to install one.

The default (issue 5): the embedded Ollama when its binary is found (installers carry it);
Transformers when torch is installed (the ``ml`` extra; checked with ``find_spec``, never
imported here, so this stays fast); otherwise a clear guide. An Ollama the user already runs on
the default port is reported too (case C8) and is used when nothing else is available.
"""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from qwen_desktop.backends.ollama_discovery import (
    BinaryLocation,
    RunningOllama,
    binary_version,
    find_ollama_binary,
    find_running_ollama,
)

EngineName = Literal["ollama", "transformers"]

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
class EngineStatus:
    """Everything ``qwen-desktop engine status`` reports."""

    ollama_binary: BinaryLocation | None
    ollama_version: str | None
    running: RunningOllama
    torch_available: bool
    transformers_available: bool
    choice: EngineChoice

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        binary = self.ollama_binary
        return {
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


async def engine_status(
    configured_binary: Path | None = None,
    *,
    running_host: str | None = None,
    running_port: int | None = None,
) -> EngineStatus:
    """Probe what is installed and running (``ollama --version`` off the loop, a 1 s probe).

    Args:
        configured_binary: An ``ollama`` path from the settings.
        running_host: Where to look for a running Ollama (default ``$OLLAMA_HOST`` or
            127.0.0.1).
        running_port: Its port (default ``$OLLAMA_HOST``'s or 11434).
    """
    binary = find_ollama_binary(configured_binary)
    version_task = (
        asyncio.create_task(asyncio.to_thread(binary_version, binary.path))
        if binary is not None
        else None
    )
    running = await find_running_ollama(running_host, running_port)
    version = await version_task if version_task is not None else None
    torch, transformers = module_available("torch"), module_available("transformers")
    return EngineStatus(
        ollama_binary=binary,
        ollama_version=version,
        running=running,
        torch_available=torch,
        transformers_available=transformers,
        choice=choose_engine(binary, torch=torch, transformers=transformers, running=running),
    )
