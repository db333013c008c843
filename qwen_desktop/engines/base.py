"""The backend seam: one protocol for every inference engine.

Every engine (Transformers in-process, embedded Ollama, a remote OpenAI-compatible server) loads a
model, streams :mod:`qwen_desktop.core.types` events for a request, and unloads. Cancelling the
task that iterates :meth:`ChatBackend.stream_chat` stops generation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from qwen_desktop.core.types import BackendCapabilities, ChatRequest, StreamEvent


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load.

    Args:
        path: A local checkpoint folder (Transformers), or None for engines that address
            models by name.
        name: Display name, or the engine's model id (an Ollama tag, a server's model id).
    """

    name: str
    path: Path | None = None


@dataclass(frozen=True)
class LoadedModel:
    """What an engine reports after loading a model."""

    name: str
    engine: str
    device: str
    dtype: str
    parameters: int
    weights_bytes: int
    capabilities: BackendCapabilities
    load_seconds: float


@runtime_checkable
class ChatBackend(Protocol):
    """An inference engine behind one protocol (see ARCHITECTURE.md, "The backend seam")."""

    @property
    def capabilities(self) -> BackendCapabilities:
        """What the engine with its loaded model can do."""
        ...

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model, or None."""
        ...

    async def load(self, model: ModelSpec) -> LoadedModel:
        """Load a model, replacing any loaded one.

        Raises:
            CheckpointError: The model files are missing, partial, corrupt or unsupported.
            EngineUnavailableError: The engine cannot run here.
        """
        ...

    async def unload(self) -> None:
        """Free the loaded model's memory (no-op when nothing is loaded)."""
        ...

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream one answer as events; cancel the consuming task to stop.

        Raises:
            NoModelLoadedError: When no model is loaded (raised on first iteration).
            ContextWindowExceededError: When the prompt alone fills the context window.
        """
        ...
