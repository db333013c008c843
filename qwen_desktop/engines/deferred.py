"""An engine built when first used, so that opening the window never imports one.

The window starts on the in-process Transformers engine until the default engine is chosen
(after the first paint). Importing the Transformers adapter costs ~0.2 s of module imports
(checkpoint inspection, generation, loading helpers; measured with ``python -X importtime``,
issue 15), spent before the window could paint although most starts switch to Ollama at once.
:class:`DeferredBackend` stands in for it and builds it on the first load or stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from qwen_desktop.core.types import BackendCapabilities, ChatRequest, StreamEvent
from qwen_desktop.engines.base import ChatBackend, LoadedModel, ModelSpec


def transformers_backend() -> ChatBackend:
    """The in-process Transformers engine (its module is imported here, on first use)."""
    from qwen_desktop.engines.transformers_backend import TransformersBackend

    return TransformersBackend()


class DeferredBackend:
    """A :class:`~qwen_desktop.engines.base.ChatBackend` that builds its engine on first use.

    Before anything was loaded it reports no model and default capabilities, as an engine with
    nothing loaded does; ``load`` and ``stream_chat`` build the engine (``factory()``) and
    forward to it from then on.

    Args:
        factory: Builds the real engine (e.g. :func:`transformers_backend`).
    """

    def __init__(
        self, factory: Callable[[], ChatBackend], engine_name: str = "transformers"
    ) -> None:
        self._factory = factory
        self._backend: ChatBackend | None = None
        self._engine_name = engine_name

    @property
    def engine_name(self) -> str:
        """The engine's name (the one it will have while it is not built yet)."""
        return self._backend.engine_name if self._backend else self._engine_name

    @property
    def built(self) -> bool:
        """True once the engine exists (a model was loaded or a stream was asked for)."""
        return self._backend is not None

    def engine(self) -> ChatBackend:
        """The real engine, built now when it does not exist yet."""
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    @property
    def capabilities(self) -> BackendCapabilities:
        """The engine's capabilities (defaults while it is not built)."""
        return self._backend.capabilities if self._backend else BackendCapabilities()

    @property
    def loaded(self) -> LoadedModel | None:
        """The engine's loaded model (None while it is not built)."""
        return self._backend.loaded if self._backend else None

    async def load(self, model: ModelSpec) -> LoadedModel:
        """Build the engine when needed and load ``model`` on it."""
        return await self.engine().load(model)

    async def unload(self) -> None:
        """Unload the engine's model (nothing to do while it is not built)."""
        if self._backend is not None:
            await self._backend.unload()

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """The engine's stream (the engine says that no model is loaded when none is)."""
        return self.engine().stream_chat(request)

    async def aclose(self) -> None:
        """Close the engine's connections, when it was built and has any."""
        if self._backend is not None:
            await self._backend.aclose()
