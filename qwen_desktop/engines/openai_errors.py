"""Errors of OpenAI-compatible servers (vLLM, llama.cpp server, LM Studio, Foundry Local) turned
into actions, and what their model listings say.

Pure functions over the ``openai`` client's exception and model types, tested without a server.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from typing import Any

import openai

from qwen_desktop.core.errors import (
    CheckpointError,
    ContextWindowExceededError,
    EngineUnavailableError,
    GenerationError,
    QwenDesktopError,
)
from qwen_desktop.core.types import StreamError

_CONTEXT_WORDS = ("context length", "maximum context", "context window", "too many tokens")
_MEMORY_WORDS = ("out of memory", "cuda error: out of memory", "insufficient memory")
START_SERVER_ACTION = (
    "Start the server (vLLM: `vllm serve MODEL`; llama.cpp: `llama-server -m FILE.gguf`; "
    "LM Studio: Developer → Start server; Foundry Local: `foundry service start`), or check the "
    "address and port."
)
_CONTEXT_KEYS = ("max_model_len", "context_length", "max_context_length", "loaded_context_length")
"""Model-listing fields that carry the context window (tokens): vLLM's ``max_model_len``;
LM Studio's ``max_context_length`` / ``loaded_context_length``; ``context_length`` as several
proxies send it. llama.cpp's ``meta.n_ctx_train`` is read apart (it is nested)."""


def key_action(url: str) -> str:
    """What to do when a server wants an API key (the command that stores it)."""
    return (
        f"Store the server's API key: qwen-desktop engine key set --url {url} (kept in the OS "
        "keyring), or put it in the QWEN_DESKTOP_API_KEY environment variable."
    )


class ModelNotServedError(CheckpointError):
    """The server does not serve the model that was asked for.

    Attributes:
        model: The id asked for.
        available: The ids the server lists.
    """

    def __init__(self, model: str, url: str, available: Iterable[str]) -> None:
        self.model = model
        self.available = tuple(available)
        if self.available:
            shown = ", ".join(self.available[:20])
            more = f" (and {len(self.available) - 20} more)" if len(self.available) > 20 else ""
            action = f"Pick one it serves: {shown}{more}."
        else:
            action = "It lists no models: load one on the server first."
        super().__init__(f"The server at {url} does not serve the model {model!r}.", action)


def context_window_of(entry: Mapping[str, Any]) -> int:
    """The context window (tokens) a model listing entry reports; 0 when it says nothing."""
    for key in _CONTEXT_KEYS:
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, Mapping):
        value = meta.get("n_ctx_train") or meta.get("n_ctx")
        if isinstance(value, int) and value > 0:
            return value
    return 0


def _message(error: openai.APIError) -> str:
    body = error.body
    text = ""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        text = str(inner.get("message", "")) if isinstance(inner, Mapping) else str(inner)
    text = text or str(error.message or "")
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= 300 else line[:299] + "…"


def _tls_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def translate_error(
    error: BaseException, url: str, model: str, available: Iterable[str] = ()
) -> QwenDesktopError:
    """The user-facing error for a request the server refused (nothing streamed yet).

    Args:
        error: What the ``openai`` client raised.
        url: The server's base URL.
        model: The model id asked for.
        available: The ids the server lists (for a 404 on the model).
    """
    if isinstance(error, openai.APITimeoutError):
        return EngineUnavailableError(
            f"The server at {url} did not answer in time.",
            "It may still be loading the model: try again in a moment.",
        )
    if isinstance(error, openai.APIConnectionError):
        if _tls_failure(error):
            return EngineUnavailableError(
                f"The TLS certificate of {url} could not be verified, so nothing was sent.",
                "Give the server a certificate from a trusted authority (or add your own "
                "authority to the system's certificate store); verification stays on.",
            )
        return EngineUnavailableError(
            f"Nothing answers at {url} (the connection was refused or the host is unreachable).",
            START_SERVER_ACTION,
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return EngineUnavailableError(
            f"The server at {url} refused the API key ({error.status_code}: {_message(error)}).",
            key_action(url),
        )
    if isinstance(error, openai.NotFoundError):
        return ModelNotServedError(model, url, available)
    if isinstance(error, openai.APIStatusError):
        text = _message(error)
        lowered = text.lower()
        if any(word in lowered for word in _CONTEXT_WORDS):
            return ContextWindowExceededError(
                f"The conversation is longer than the server's context window ({text}).",
                "Start a new conversation, or shorten the messages.",
            )
        if any(word in lowered for word in _MEMORY_WORDS):
            return EngineUnavailableError(
                f"The server at {url} ran out of memory ({text}).",
                "Serve a smaller model or quantization, or a shorter context window.",
            )
        if isinstance(error, openai.RateLimitError):
            return GenerationError(
                f"The server at {url} is busy (429: {text}).", "Wait a moment and send it again."
            )
        return GenerationError(
            f"The server at {url} refused the request ({error.status_code}: {text}).",
            "Try again; if it keeps failing, see the server's log.",
        )
    return GenerationError(
        f"The server at {url} failed: {error}.", "Try again; see the server's log."
    )


def stream_error_for(error: BaseException, url: str) -> StreamError:
    """The :class:`StreamError` that ends a stream which broke after it began (case C12)."""
    if isinstance(error, openai.APIConnectionError) or not isinstance(error, openai.APIError):
        return StreamError(
            f"The connection to the server at {url} broke while answering; the answer is cut "
            "off here.",
            "Check that the server is still running, then send the message again.",
        )
    text = _message(error)
    if any(word in text.lower() for word in _MEMORY_WORDS):
        return StreamError(
            f"The server ran out of memory while answering: {text}.",
            "Serve a smaller model or quantization, or a shorter context window.",
        )
    return StreamError(
        f"The server failed while answering: {text}.",
        "The answer is cut off here. Send the message again.",
    )
