"""Engines for the window: which ones can run here, and one backend seam that can change engine.

The window talks to one :class:`SwitchableBackend` (the conversation and model controllers hold
it); choosing another engine swaps what it forwards to, after unloading the previous engine's
model and closing its connections. The choices offered (issue 5):

* ``embedded``: the app's own ``ollama serve`` (when its binary is found);
* ``running``: an Ollama the user already runs on the default port (case C8);
* ``transformers``: the in-process engine (when torch and transformers are installed);
* ``remote``: an OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, Foundry Local) or a
  remote Ollama, probed by :func:`~qwen_desktop.engines.engine_choice.remote_status`.

The default is :func:`~qwen_desktop.engines.engine_choice.choose_engine`'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal

from qwen_desktop.core.errors import EngineUnavailableError
from qwen_desktop.core.types import BackendCapabilities, ChatRequest, StreamEvent
from qwen_desktop.engines.base import ChatBackend, LoadedModel, ModelSpec
from qwen_desktop.engines.engine_choice import INSTALL_GUIDE, EngineStatus

EngineKind = Literal["embedded", "running", "transformers", "remote"]

TRANSFORMERS_LABEL = "Transformers (in-process)"
"""The label of the in-process engine (the window's engine at start)."""

NAMED_ENGINES = frozenset({"ollama", "openai"})
"""``engine_name`` of the engines that address models by id rather than by folder."""

LIST_TIMEOUT_S = 10.0
"""Timeout of a model listing (seconds): a local server answers in milliseconds."""


@dataclass(frozen=True)
class EngineOption:
    """One engine the user may choose.

    Attributes:
        kind: ``embedded``, ``running``, ``transformers`` or ``remote``.
        title: What the choice is called.
        available: Whether it can run here.
        detail: Why it can or cannot (one sentence, with what to install when it cannot).
        url: For ``running``: the Ollama's address.
    """

    kind: EngineKind
    title: str
    available: bool
    detail: str
    url: str | None = None


def engine_options(status: EngineStatus) -> list[EngineOption]:
    """The engines to offer, in the order shown (remote is always available)."""
    binary = status.ollama_binary
    version = f" {status.ollama_version}" if status.ollama_version else ""
    options = [
        EngineOption(
            "embedded",
            "Ollama, run by this app",
            binary is not None,
            f"Ollama{version} found ({binary.source}: {binary.path}); the app starts it "
            "privately on 127.0.0.1 and stops it on exit."
            if binary is not None
            else "No Ollama binary was found: install Ollama (https://ollama.com/download) or "
            "use an installer of this app, which carries it.",
        )
    ]
    running = status.running
    if running.state == "ollama":
        options.append(
            EngineOption("running", "Your running Ollama", True, running.offer, url=running.url)
        )
    has_ml = status.torch_available and status.transformers_available
    missing = "transformers" if status.torch_available else "torch"
    options.append(
        EngineOption(
            "transformers",
            TRANSFORMERS_LABEL,
            has_ml,
            "Runs a downloaded model folder inside the app (torch and transformers)."
            if has_ml
            else f"{missing} is not installed: pip install 'qwen-desktop[ml]'.",
        )
    )
    options.append(
        EngineOption(
            "remote",
            "A server (OpenAI-compatible or Ollama)",
            True,
            "vLLM, llama.cpp server, LM Studio, Foundry Local or a remote Ollama, by its URL; "
            "an API key is kept in the OS keyring.",
        )
    )
    return options


def default_kind(status: EngineStatus) -> EngineKind | None:
    """The engine chosen by default (``engine_choice.choose_engine``'s), or None when none can
    run (then :data:`INSTALL_GUIDE` says what to install)."""
    choice = status.choice
    if choice.engine == "ollama":
        return "running" if choice.url else "embedded"
    if choice.engine == "transformers":
        return "transformers"
    return None


def no_engine_guide() -> str:
    """What to install when no engine can run."""
    return INSTALL_GUIDE


async def ollama_tags(url: str, timeout_s: float = LIST_TIMEOUT_S) -> tuple[str, ...]:
    """The model tags an Ollama at ``url`` has installed (``GET /api/tags``), sorted.

    Raises:
        EngineUnavailableError: It does not answer (the message names the address).
    """
    from qwen_desktop.engines.http_clients import ollama_client

    client = ollama_client(url, read_timeout_s=timeout_s)
    try:
        listing = await client.list()
    except Exception as error:  # httpx, ConnectionError, ollama.ResponseError: all "no list"
        raise EngineUnavailableError(
            f"The Ollama at {url} did not list its models ({type(error).__name__}: {error}).",
            "Check that it is running; see the engine log.",
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    return tuple(sorted(str(entry.model) for entry in listing.models))


class SwitchableBackend:
    """A :class:`~qwen_desktop.engines.base.ChatBackend` that forwards to the chosen engine.

    Args:
        backend: The engine used at first.
        label: What the window calls it (``Transformers (in-process)``).
    """

    def __init__(self, backend: ChatBackend, label: str) -> None:
        self.current = backend
        self.label = label

    @property
    def engine_name(self) -> str:
        """The current engine's name."""
        return self.current.engine_name

    async def aclose(self) -> None:
        """Close the current engine's connections."""
        await self.current.aclose()

    @property
    def capabilities(self) -> BackendCapabilities:
        """The current engine's capabilities."""
        return self.current.capabilities

    @property
    def loaded(self) -> LoadedModel | None:
        """The current engine's loaded model."""
        return self.current.loaded

    async def load(self, model: ModelSpec) -> LoadedModel:
        """Load on the current engine."""
        return await self.current.load(model)

    async def unload(self) -> None:
        """Unload on the current engine."""
        await self.current.unload()

    @property
    def addresses_by_name(self) -> bool:
        """True when the current engine takes model ids (Ollama tags, a server's ids), not
        model folders."""
        return self.current.engine_name in NAMED_ENGINES

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """The current engine's stream."""
        return self.current.stream_chat(request)

    async def switch(self, backend: ChatBackend, label: str) -> None:
        """Use ``backend`` from now on: the previous engine's model is unloaded (its memory
        freed) and its connections closed first; errors there never block the switch."""
        previous = self.current
        with contextlib.suppress(Exception):
            await previous.unload()
        if previous is not backend:
            with contextlib.suppress(Exception):
                await previous.aclose()
        self.current, self.label = backend, label
