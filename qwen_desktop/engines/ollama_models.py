"""What Ollama says about a model (``/api/show``), and its errors turned into actions.

Pure functions over the ``ollama`` client's response types, so they are tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from qwen_desktop.core.errors import (
    CheckpointError,
    EngineUnavailableError,
    GenerationError,
    QwenDesktopError,
)
from qwen_desktop.core.types import StreamError, ThinkingKind

_MEMORY_WORDS = (
    "requires more system memory",
    "model request too large",
    "out of memory",
    "insufficient memory",
    "unable to allocate",
    "cudamalloc failed",
    "failed to allocate",
)
MEMORY_ACTION = (
    "Pick a smaller quantization (e.g. Q4_K_M instead of Q8_0), a smaller model, or a shorter "
    "context window."
)


class ModelNotDownloadedError(CheckpointError):
    """The Ollama server does not have the model (offer to pull it).

    Attributes:
        model: The Ollama tag that was asked for.
    """

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model {model} is not downloaded.",
            f"Pull it: qwen-desktop pull {model} (the pull verb arrives with the model manager; "
            f"until then `ollama pull {model}` against the same server works).",
        )
        self.model = model


@dataclass(frozen=True)
class ModelFacts:
    """A model as ``/api/show`` describes it.

    Attributes:
        name: The Ollama tag.
        capabilities: ``completion``, ``thinking``, ``vision``, ``tools``, ``embedding``, …
        thinking_kind: Derived from ``capabilities`` and the name (see :func:`thinking_kind`).
        architecture: ``general.architecture`` (``qwen3``, ``qwen25vl``, …).
        context_length: The model's maximum context (tokens; 0 when unknown).
        block_count: Transformer layers.
        head_count: Attention heads.
        head_count_kv: Key/value heads (grouped-query attention).
        key_length: Per-head key size.
        parameters: ``general.parameter_count`` (0 when unknown).
        parameter_size: Ollama's rounded label (``"8.2B"``).
        quantization: ``details.quantization_level`` (``Q4_K_M``) or ``""``.
        size_bytes: Size on disk (bytes; 0 when unknown).
    """

    name: str
    capabilities: tuple[str, ...]
    thinking_kind: ThinkingKind
    architecture: str = ""
    context_length: int = 0
    block_count: int = 0
    head_count: int = 0
    head_count_kv: int = 0
    key_length: int = 0
    parameters: int = 0
    parameter_size: str = ""
    quantization: str = ""
    size_bytes: int = 0

    @property
    def vision(self) -> bool:
        """True when the model takes images."""
        return "vision" in self.capabilities


def thinking_kind(name: str, capabilities: tuple[str, ...]) -> ThinkingKind:
    """How a model thinks, from ``/api/show``'s capabilities and its tag.

    ``thinking`` missing: instruct-only (Ollama refuses ``think`` for such models). A tag naming
    a thinking variant (``qwen3:4b-thinking-2507``): thinking-only (case C5: the switch would do
    nothing). Otherwise hybrid (Qwen3's ``think`` switch works).
    """
    if "thinking" not in capabilities:
        return ThinkingKind.INSTRUCT_ONLY
    if "thinking" in name.lower().rsplit("/", 1)[-1]:
        return ThinkingKind.THINKING_ONLY
    return ThinkingKind.HYBRID


def _int(info: Mapping[str, Any], key: str) -> int:
    value = info.get(key)
    if isinstance(value, list):  # per-layer values (e.g. head_count_kv on some models)
        value = max(value) if value else 0
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def model_facts(name: str, show: ollama.ShowResponse, size_bytes: int = 0) -> ModelFacts:
    """:class:`ModelFacts` from a ``show`` response (GGUF keys ``<arch>.block_count`` …)."""
    capabilities = tuple(show.capabilities or ("completion",))
    info: Mapping[str, Any] = show.modelinfo or {}
    arch = str(info.get("general.architecture") or "")
    details = show.details
    return ModelFacts(
        name=name,
        capabilities=capabilities,
        thinking_kind=thinking_kind(name, capabilities),
        architecture=arch,
        context_length=_int(info, f"{arch}.context_length"),
        block_count=_int(info, f"{arch}.block_count"),
        head_count=_int(info, f"{arch}.attention.head_count"),
        head_count_kv=_int(info, f"{arch}.attention.head_count_kv"),
        key_length=_int(info, f"{arch}.attention.key_length"),
        parameters=_int(info, "general.parameter_count"),
        parameter_size=(details.parameter_size or "") if details else "",
        quantization=(details.quantization_level or "") if details else "",
        size_bytes=size_bytes,
    )


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= 300 else line[:299] + "…"


def is_memory_error(text: str) -> bool:
    """True when an Ollama error message means the model did not fit in memory."""
    lowered = text.lower()
    return any(word in lowered for word in _MEMORY_WORDS)


def _with_hint(message: str, hint: str) -> str:
    return f"{message} {hint}".strip() if hint and hint not in message else message


def translate_error(error: BaseException, model: str, url: str, hint: str = "") -> QwenDesktopError:
    """The user-facing error for a request Ollama refused (nothing streamed yet).

    Args:
        error: What the client raised (``ollama.ResponseError``, ``ConnectionError``, an httpx
            error).
        model: The Ollama tag asked for.
        url: The server's base URL.
        hint: What the server's own log revealed (e.g. "too large for this computer's memory").
    """
    if isinstance(error, ollama.ResponseError):
        text = str(error.error)
        if error.status_code == 404 or "not found" in text.lower():
            return ModelNotDownloadedError(model)
        if is_memory_error(text):
            return EngineUnavailableError(
                _with_hint(f"The model {model} does not fit in memory: {_first_line(text)}.", hint),
                MEMORY_ACTION,
            )
        return GenerationError(
            f"Ollama refused the request: {_first_line(text)}.",
            "Try again; if it keeps failing, see the engine log.",
        )
    if isinstance(error, httpx.TimeoutException):
        return EngineUnavailableError(
            f"The Ollama engine at {url} did not answer in time.",
            "It may still be loading a large model: try again in a moment.",
        )
    if isinstance(error, ConnectionError | httpx.ConnectError):
        return EngineUnavailableError(
            f"The Ollama engine is not running (nothing answers at {url}).",
            "Start it (without --url, qwen-desktop starts its own), or check the address.",
        )
    what = _first_line(str(error)) or type(error).__name__
    return EngineUnavailableError(
        _with_hint(f"The Ollama engine stopped before answering ({what}).", hint),
        "Send the message again; see the engine log if it keeps happening.",
    )


def stream_error_for(error: BaseException, hint: str = "", *, managed: bool = False) -> StreamError:
    """The :class:`StreamError` that ends a stream which broke after it began (case C12).

    Args:
        error: An error line (``ResponseError``, status -1), a dropped connection, …
        hint: What the server's own log revealed.
        managed: The app runs the server (it restarts by itself).
    """
    if isinstance(error, ollama.ResponseError):
        text = str(error.error)
        if is_memory_error(text):
            return StreamError(
                _with_hint(f"The engine ran out of memory: {_first_line(text)}.", hint),
                MEMORY_ACTION,
            )
        return StreamError(
            f"The engine failed while answering: {_first_line(text)}.",
            "The answer is cut off here. Send the message again.",
        )
    again = (
        "The engine restarts by itself; send the message again."
        if managed
        else "Check that the Ollama server is still running, then send the message again."
    )
    return StreamError(
        _with_hint("The Ollama engine stopped while answering; the answer is cut off here.", hint),
        again,
    )
