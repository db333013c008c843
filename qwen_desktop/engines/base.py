"""The backend seam: one protocol for every inference engine, and the base they share.

Every engine (Transformers in-process, embedded Ollama, a remote OpenAI-compatible server) loads a
model, streams :mod:`qwen_desktop.core.types` events for a request, and unloads. Cancelling the
task that iterates :meth:`ChatBackend.stream_chat` stops generation.

:class:`EngineBase` owns what every engine has alike: its name, the loaded model and its
capabilities, the one-answer-at-a-time guard, ``_require_loaded``, a default ``aclose``; and
:class:`TurnClock`, the turn accountant that turns one answer's wall times into the TTFT,
tokens/s and thinking time of :class:`~qwen_desktop.core.types.Usage`. An engine implements only
``load``, ``unload`` and ``stream_chat``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from qwen_desktop.core.errors import GenerationError, NoModelLoadedError
from qwen_desktop.core.types import (
    BackendCapabilities,
    ChatRequest,
    FinishReason,
    StreamEvent,
    Usage,
)


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
    def engine_name(self) -> str:
        """The engine's short name (``transformers``, ``ollama``, ``openai``, …)."""
        ...

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

    async def aclose(self) -> None:
        """Release connections and other resources (the engine is no longer used)."""
        ...

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream one answer as events; cancel the consuming task to stop.

        Raises:
            NoModelLoadedError: When no model is loaded (raised on first iteration).
            ContextWindowExceededError: When the prompt alone fills the context window.
        """
        ...


class EngineBase:
    """What every engine shares; subclasses implement ``load``, ``unload`` and ``stream_chat``.

    Subclasses set the class attribute :attr:`engine_name` and keep the loaded model in
    ``self._loaded`` (None when nothing is loaded); they wrap the body of ``stream_chat`` in
    ``with self._one_stream():`` so a second answer while one streams is refused.
    """

    engine_name: ClassVar[str] = "engine"

    def __init__(self) -> None:
        self._loaded: LoadedModel | None = None
        self._streaming = False

    @property
    def capabilities(self) -> BackendCapabilities:
        """What the loaded model can do (defaults when nothing is loaded)."""
        return self._loaded.capabilities if self._loaded else BackendCapabilities()

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model, or None."""
        return self._loaded

    @property
    def streaming(self) -> bool:
        """True while an answer is streaming."""
        return self._streaming

    async def aclose(self) -> None:
        """Release connections (nothing to release by default)."""

    def _require_loaded(self) -> LoadedModel:
        """The loaded model.

        Raises:
            NoModelLoadedError: Nothing is loaded.
        """
        if self._loaded is None:
            raise NoModelLoadedError()
        return self._loaded

    @contextlib.contextmanager
    def _one_stream(self) -> Iterator[None]:
        """Marks one answer as streaming for the ``with`` block.

        Raises:
            GenerationError: Another answer is still streaming from this engine.
        """
        if self._streaming:
            raise GenerationError(
                "The model is still generating another answer.",
                "Wait for it to finish, or stop it first.",
            )
        self._streaming = True
        try:
            yield
        finally:
            self._streaming = False


class TurnClock:
    """The turn accountant: wall times of one answer, and the :class:`Usage` made of them.

    Times are ``time.perf_counter()`` seconds. TTFT is measured from the request to the first
    streamed text (so it includes loading and prompt evaluation as the user experiences them);
    tokens/s is ``(generated - 1) / (last token - first token)`` (the decode rate: the first
    token's time belongs to TTFT); thinking time runs from the first to the last thinking token.

    Args:
        t_request: When the request started; None: now.
    """

    def __init__(self, t_request: float | None = None) -> None:
        self.t_request = time.perf_counter() if t_request is None else t_request
        self.t_first: float | None = None
        self.t_last = self.t_request
        self.t_think_start: float | None = None
        self.t_think_end = self.t_request
        self.thinking_tokens = 0

    def text(self, now: float | None = None) -> float:
        """Marks streamed text at ``now`` (None: the current time); returns that time."""
        if now is None:
            now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        self.t_last = now
        return now

    def thinking(self, now: float, *, began: float | None = None) -> None:
        """Counts one thinking token (or chunk) that ended at ``now``; ``began``: when the
        first one's generation began (default ``now``)."""
        self.thinking_tokens += 1
        if self.t_think_start is None:
            self.t_think_start = now if began is None else began
        self.t_think_end = now

    def all_thinking(self, now: float, tokens: int) -> None:
        """A ``</think>`` without an opening tag: everything up to ``now`` (``tokens`` tokens)
        was thinking."""
        self.thinking_tokens = max(self.thinking_tokens, tokens)
        self.t_think_start, self.t_think_end = self.t_request, now

    @property
    def thinking_seconds(self) -> float | None:
        """Seconds from the first to the last thinking token; None when there was none."""
        return None if self.t_think_start is None else self.t_think_end - self.t_think_start

    def decode_rate(self, generated: int) -> float:
        """tokens/s of ``generated`` tokens over the measured span (0.0 when unmeasurable)."""
        span = self.t_last - (self.t_first if self.t_first is not None else self.t_last)
        return (generated - 1) / span if generated > 1 and span > 0 else 0.0

    def usage(
        self,
        *,
        prompt_tokens: int,
        generated_tokens: int,
        finish_reason: FinishReason,
        thinking_tokens: int | None = None,
        thinking_incomplete: bool = False,
        context_window_full: bool = False,
        t_end: float | None = None,
        ttft_seconds: float | None = None,
        tokens_per_second: float | None = None,
    ) -> Usage:
        """The answer's :class:`Usage`.

        Args:
            thinking_tokens: None: the thinking tokens counted here.
            t_end: When the answer ended; None: now.
            ttft_seconds: None: measured (request → first text; request → end without text).
            tokens_per_second: None: :meth:`decode_rate` (an engine whose server times the
                decoding, such as Ollama's ``eval_duration``, passes its own).
        """
        if t_end is None:
            t_end = time.perf_counter()
        if ttft_seconds is None:
            ttft_seconds = (self.t_first if self.t_first is not None else t_end) - self.t_request
        return Usage(
            prompt_tokens=prompt_tokens,
            generated_tokens=generated_tokens,
            thinking_tokens=self.thinking_tokens if thinking_tokens is None else thinking_tokens,
            ttft_seconds=max(ttft_seconds, 0.0),
            tokens_per_second=self.decode_rate(generated_tokens)
            if tokens_per_second is None
            else tokens_per_second,
            total_seconds=t_end - self.t_request,
            thinking_seconds=self.thinking_seconds,
            finish_reason=finish_reason,
            thinking_incomplete=thinking_incomplete,
            context_window_full=context_window_full,
        )
