"""Remote engines behind :class:`~qwen_desktop.engines.base.ChatBackend`: any OpenAI-compatible
server (vLLM, llama.cpp's ``llama-server``, LM Studio, Microsoft Foundry Local), on the official
``openai.AsyncOpenAI`` client.

- :meth:`OpenAICompatibleBackend.load` lists the server's models (``GET /v1/models``): the model
  must be among them (else the error lists those it serves), and the listing's context window
  (vLLM ``max_model_len``, llama.cpp ``meta.n_ctx_train``, LM Studio ``max_context_length``) is
  kept. Servers load models themselves, so nothing else happens.
- :meth:`OpenAICompatibleBackend.stream_chat` streams ``/v1/chat/completions`` with
  ``stream_options.include_usage``. Thinking comes in ``delta.reasoning_content`` (vLLM and
  llama.cpp reasoning parsers), ``delta.reasoning`` (newer vLLM, Ollama's compatibility layer) or
  inline as ``<think>`` text in ``delta.content`` (a server without a reasoning parser). All three
  go through the one :class:`~qwen_desktop.core.thinking.ThinkingParser`: reasoning fields are
  fed wrapped in ``<think>`` … ``</think>``, so whitespace, empty blocks and unclosed blocks are
  handled once for all engines. Hybrid Qwen3 models get ``chat_template_kwargs.enable_thinking``
  (the switch vLLM and llama.cpp pass to the chat template). Images go as ``data:`` URLs.
- Tools go as ``tools`` (OpenAI's function shape). Servers with a tool parser (vLLM
  ``--tool-call-parser hermes``/``qwen3_coder``, llama.cpp ``--jinja``) stream calls in
  ``delta.tool_calls``; servers without one leave Qwen's ``<tool_call>`` text in the content.
  Both become the same events (:mod:`qwen_desktop.core.tool_calls`).
- Failures become actions (:mod:`qwen_desktop.engines.openai_errors`): connection refused, a
  certificate that does not verify (verification is always on), 401/403 → store the API key,
  404 → the models the server does serve; a stream that breaks after it began ends with a
  :class:`~qwen_desktop.core.types.StreamError` after the partial text.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import urlsplit

import openai

from qwen_desktop.core.errors import GenerationError, QwenDesktopError
from qwen_desktop.core.stop_tokens import QWEN_STOP_TOKENS, StopCutter
from qwen_desktop.core.thinking import CLOSE_TAG, OPEN_TAG, ThinkingParser
from qwen_desktop.core.tool_calls import (
    StructuredCallAssembler,
    ToolCallSplitter,
    openai_tool_calls,
)
from qwen_desktop.core.types import (
    BackendCapabilities,
    ChatRequest,
    FinishReason,
    StreamError,
    StreamEvent,
    ThinkingDelta,
    ThinkingKind,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.engines.base import EngineBase, LoadedModel, ModelSpec, TurnClock
from qwen_desktop.engines.http_clients import openai_http_client
from qwen_desktop.engines.openai_errors import (
    ModelNotServedError,
    context_window_of,
    stream_error_for,
    translate_error,
)

ENGINE_NAME = "openai"
REQUEST_TIMEOUT_S = 30.0
"""Timeout (seconds) of non-streaming calls (the model listing)."""
CONNECT_TIMEOUT_S = 10.0
"""Timeout (seconds) to open a connection; streams have no read timeout (a model may think for
minutes between tokens)."""
NO_KEY = "no-key"
"""Sent as the bearer token when no API key is set: local servers started without ``--api-key``
accept any value, and the ``openai`` client needs one (it must never fall back to
``$OPENAI_API_KEY``, which belongs to another service)."""
REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Delta fields that carry thinking: ``reasoning_content`` (vLLM ``--reasoning-parser``, llama.cpp
``--reasoning-format deepseek``, DeepSeek's API), ``reasoning`` (vLLM ≥ 0.10, Ollama's ``/v1``)."""

_IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def guess_thinking_kind(model_id: str) -> ThinkingKind:
    """How a served model thinks, from its id (servers do not say).

    ``…Thinking…`` and QwQ: thinking-only; ``…Instruct…``, ``…Coder…`` and Qwen2.x: instruct-only
    (they never think); other Qwen3 ids: hybrid; anything else: instruct-only (no switch is
    offered, but reasoning the server sends is still shown apart).
    """
    name = model_id.lower().rsplit("/", 1)[-1]
    if "thinking" in name or name.startswith("qwq"):
        return ThinkingKind.THINKING_ONLY
    if "instruct" in name or "coder" in name or name.startswith(("qwen2", "qwen1")):
        return ThinkingKind.INSTRUCT_ONLY
    if "qwen3" in name:
        return ThinkingKind.HYBRID
    return ThinkingKind.INSTRUCT_ONLY


def guess_vision(model_id: str) -> bool:
    """True for ids of models that take images (``Qwen2.5-VL``, ``Qwen3-VL``, ``…-Omni``)."""
    name = model_id.lower().rsplit("/", 1)[-1]
    return "-vl" in name or "vl-" in name or "omni" in name or "vision" in name


def image_data_url(image: bytes) -> str:
    """An encoded image file as a ``data:`` URL (PNG, JPEG, GIF, WebP).

    Raises:
        QwenDesktopError: The bytes are not an image format servers accept.
    """
    mime = next((m for magic, m in _IMAGE_TYPES if image.startswith(magic)), None)
    if mime is None and image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise QwenDesktopError(
            "An attached image is not PNG, JPEG, GIF or WebP, so the server cannot read it.",
            "Convert it to PNG or JPEG and attach it again.",
        )
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


class OpenAICompatibleBackend(EngineBase):
    """Chat with a model on an OpenAI-compatible server.

    Args:
        base_url: The API root, usually ending in ``/v1`` (``http://gpu-box:8000/v1``).
        api_key: The server's API key, or None for servers that need none (see
            :mod:`qwen_desktop.engines.secrets` for where keys are kept).
        thinking_kind: How the model thinks; None: guessed from its id
            (:func:`guess_thinking_kind`).
        vision: Whether the model takes images; None: guessed from its id.
        context_tokens: The context window (tokens) when the server's listing does not say.
        request_timeout_s: Timeout of non-streaming calls.
    """

    engine_name = ENGINE_NAME

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        thinking_kind: ThinkingKind | None = None,
        vision: bool | None = None,
        context_tokens: int | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        super().__init__()
        if not base_url.strip():
            raise QwenDesktopError(
                "The server address is empty.", "Give it as http://HOST:PORT/v1."
            )
        self.url = base_url.strip().rstrip("/")
        if "://" not in self.url:
            self.url = f"http://{self.url}"
        self._api_key = api_key
        self._thinking_kind = thinking_kind
        self._vision = vision
        self._context_tokens = context_tokens
        self._request_timeout_s = request_timeout_s
        self._clients: dict[str, tuple[asyncio.AbstractEventLoop, openai.AsyncOpenAI]] = {}
        self._served: tuple[str, ...] = ()

    # -- ChatBackend -------------------------------------------------------------------------

    async def list_models(self) -> list[dict[str, Any]]:
        """The server's model listing (``GET /v1/models``), one dict per model.

        Raises:
            EngineUnavailableError: Nothing answers, the certificate does not verify, or the
                key is refused.
            GenerationError: The server answered with another error (a 404 here usually means
                the URL lacks ``/v1``).
        """
        try:
            page = await self._client("request").models.list()
        except openai.NotFoundError:
            raise GenerationError(
                f"There is no OpenAI-compatible API at {self.url} (GET /models gave 404).",
                "The address usually ends in /v1, e.g. http://HOST:8000/v1.",
            ) from None
        except openai.APIError as error:
            raise translate_error(error, self.url, "") from None
        return [item.model_dump() for item in page.data]

    async def load(self, model: ModelSpec) -> LoadedModel:
        """Check that the server serves ``model.name`` and read its context window.

        Raises:
            ModelNotServedError: The server does not list the model (the error lists those it
                does).
            EngineUnavailableError: The server is unreachable or refuses the key.
        """
        start = time.perf_counter()
        await self.unload()
        listing = await self.list_models()
        self._served = tuple(str(entry.get("id", "")) for entry in listing)
        entry = next((e for e in listing if e.get("id") == model.name), None)
        if entry is None:
            raise ModelNotServedError(model.name, self.url, self._served)
        window = self._context_tokens or context_window_of(entry)
        kind = self._thinking_kind or guess_thinking_kind(model.name)
        vision = guess_vision(model.name) if self._vision is None else self._vision
        self._loaded = LoadedModel(
            name=model.name,
            engine=self.engine_name,
            device=f"server at {urlsplit(self.url).netloc}",
            dtype=str(entry.get("quantization") or "as served"),
            parameters=0,
            weights_bytes=0,
            capabilities=BackendCapabilities(
                vision=vision, thinking_kind=kind, context_window_tokens=window
            ),
            load_seconds=time.perf_counter() - start,
        )
        return self._loaded

    async def unload(self) -> None:
        """Forget the model (the server decides when to free its memory)."""
        self._loaded = None

    async def aclose(self) -> None:
        """Close the HTTP connections (call when the backend is no longer used)."""
        clients, self._clients = self._clients, {}
        for loop, client in clients.values():
            if loop is asyncio.get_running_loop():
                with contextlib.suppress(Exception):
                    await client.close()

    def build_chat_arguments(self, request: ChatRequest) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for a request (streaming).

        Raises:
            NoModelLoadedError: Nothing is loaded.
            QwenDesktopError: An attached image is in a format servers do not read.
        """
        loaded = self._require_loaded()
        vision = loaded.capabilities.vision
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            if message.images and vision and message.role == "user":
                parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
                parts += [
                    {"type": "image_url", "image_url": {"url": image_data_url(image)}}
                    for image in message.images
                ]
                messages.append({"role": message.role, "content": parts})
            elif message.role == "tool":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": message.tool_call_id,
                        "content": message.content,
                    }
                )
            elif message.tool_calls:
                messages.append(
                    {
                        "role": "assistant",
                        "content": message.content or None,
                        "tool_calls": openai_tool_calls(message.tool_calls),
                    }
                )
            else:
                messages.append({"role": message.role, "content": message.content})
        sampling = request.sampling
        extra: dict[str, Any] = {"top_k": sampling.top_k, "min_p": sampling.min_p}
        if loaded.capabilities.thinking_kind is ThinkingKind.HYBRID:
            enable = True if request.thinking is None else request.thinking
            extra["chat_template_kwargs"] = {"enable_thinking": enable}
        arguments: dict[str, Any] = {
            "model": loaded.name,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "stop": list(QWEN_STOP_TOKENS),
            "extra_body": extra,
        }
        if sampling.seed is not None:
            arguments["seed"] = sampling.seed
        if request.tools:
            arguments["tools"] = [tool.as_openai() for tool in request.tools]
        return arguments

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream one answer: thinking/answer deltas, then :class:`Usage` (or
        :class:`StreamError` after partial text when the stream breaks).

        Cancel the consuming task (or close the generator) to stop: the HTTP stream is closed,
        which makes the server stop generating.

        Raises:
            NoModelLoadedError: Nothing is loaded (on first iteration).
            ModelNotServedError: The server stopped serving the model.
            EngineUnavailableError: The server is unreachable or refuses the key.
            ContextWindowExceededError: The server says the prompt is too long.
            GenerationError: Another answer is still streaming from this backend, or the server
                refused the request.
        """
        loaded = self._require_loaded()
        with self._one_stream():
            arguments = self.build_chat_arguments(request)
            turn = _Turn(loaded.capabilities.thinking_kind, request)
            try:
                stream = await self._client("stream").chat.completions.create(**arguments)
            except openai.APIError as error:
                raise translate_error(error, self.url, loaded.name, self._served) from None
            try:
                async for chunk in stream:  # the hot path: one chunk per token
                    for event in turn.feed(chunk):
                        yield event
                    if turn.cut.stopped:  # a stop token the server streamed: end here
                        turn.finish_reason = turn.finish_reason or "stop"
                        break
            except openai.APIError as error:
                if not turn.started and isinstance(error, openai.APIStatusError):
                    raise translate_error(error, self.url, loaded.name, self._served) from None
                for event in turn.finish():
                    yield event
                yield stream_error_for(error, self.url)
                return
            finally:
                with contextlib.suppress(Exception):
                    await stream.close()
            for event in turn.finish():
                yield event
            if turn.finish_reason is None:  # no final chunk: the stream was cut
                yield StreamError(
                    f"The stream from the server at {self.url} ended before the answer did; "
                    "the answer is cut off here.",
                    "Check that the server is still running, then send the message again.",
                )
                return
            yield turn.usage(request.sampling.max_new_tokens, loaded.capabilities)

    # -- internals ---------------------------------------------------------------------------

    def _client(self, purpose: str) -> openai.AsyncOpenAI:
        """An ``AsyncOpenAI`` for the current loop (``request``: with a timeout; ``stream``: no
        read timeout). No retries: a failure is reported at once, with its action. Certificates
        are always verified; proxies from the environment apply only to other computers."""
        loop = asyncio.get_running_loop()
        cached = self._clients.get(purpose)
        if cached is not None and cached[0] is loop:
            return cached[1]
        if purpose == "stream":
            timeout = openai.Timeout(None, connect=CONNECT_TIMEOUT_S)
        else:
            timeout = openai.Timeout(self._request_timeout_s, connect=CONNECT_TIMEOUT_S)
        http_client = openai_http_client(
            self.url,
            read_timeout_s=None if purpose == "stream" else self._request_timeout_s,
            connect_timeout_s=CONNECT_TIMEOUT_S,
        )
        client = openai.AsyncOpenAI(
            base_url=self.url,
            api_key=self._api_key or NO_KEY,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
        self._clients[purpose] = (loop, client)
        return client


def _reasoning_text(delta: Any) -> str:
    extra = getattr(delta, "model_extra", None) or {}
    for name in REASONING_FIELDS:
        value = getattr(delta, name, None) or extra.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


class _Turn:
    """One streamed answer: splits chunks into events; its :class:`TurnClock` keeps the wall
    times (from the moment the turn is made, just before the request is sent).

    Reasoning-field text is fed to the parser inside ``<think>`` … ``</think>`` (the close tag
    goes in when the first content arrives), so every form of thinking takes one path.
    """

    def __init__(self, kind: ThinkingKind, request: ChatRequest | None = None) -> None:
        self.parser = ThinkingParser(detect_unopened_close=kind is not ThinkingKind.INSTRUCT_ONLY)
        tools = request.tools if request is not None else ()
        self.splitter = ToolCallSplitter(tools) if tools else None
        self.structured = StructuredCallAssembler()
        self.clock = TurnClock()
        self.reasoning_open = False
        self.content_seen = False
        self.started = False
        self.chunks = 0
        self.finish_reason: str | None = None
        self.usage_report: Any = None
        self.cut = StopCutter()
        self.reasoning_cut = StopCutter()

    def feed(self, chunk: Any) -> list[StreamEvent]:
        """The events of one ``chat.completion.chunk``."""
        self.started = True
        if chunk.usage is not None:
            self.usage_report = chunk.usage
        events: list[StreamEvent] = []
        for choice in chunk.choices[:1]:
            delta = choice.delta
            reasoning = _reasoning_text(delta) if delta is not None else ""
            reasoning = self.reasoning_cut.feed(reasoning) if reasoning else ""
            content = (delta.content or "") if delta is not None else ""
            content = self.cut.feed(content) if content else ""
            if reasoning:
                if self.content_seen:  # reasoning after the answer began: keep it, as thinking
                    events.append(ThinkingDelta(reasoning))
                else:
                    text = reasoning if self.reasoning_open else OPEN_TAG + reasoning
                    self.reasoning_open = True
                    events += self._parse(text)
            if content:
                if self.reasoning_open:  # the block ends: not a thinking token of its own
                    events += self.parser.feed(CLOSE_TAG)
                    self.reasoning_open = False
                self.content_seen = True
                events += self._parse(content)
            for piece in (getattr(delta, "tool_calls", None) or []) if delta is not None else []:
                function = piece.function
                events.append(
                    self.structured.add(
                        int(piece.index or 0),
                        piece.id,
                        function.name if function is not None else None,
                        function.arguments if function is not None else None,
                    )
                )
                self._tick()
            if choice.finish_reason:
                self.finish_reason = str(choice.finish_reason)
        return self._split(events)

    def _split(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """Tool calls split out of the answer text (when the request offered tools)."""
        if self.splitter is None:
            return events
        return [out for event in events for out in self.splitter.feed(event)]

    def _tick(self) -> None:
        """A streamed piece that is no text (a tool call's): a generated token all the same."""
        self.clock.text()
        self.chunks += 1

    def _parse(self, text: str) -> list[StreamEvent]:
        clock = self.clock
        now = clock.text()
        self.chunks += 1
        parser = self.parser
        was_thinking = parser.in_thinking
        events: list[StreamEvent] = []
        for event in parser.feed(text):
            if isinstance(event, ThinkingReclassified):  # all text so far was thinking
                clock.all_thinking(now, self.chunks - 1)
            events.append(event)
        if was_thinking or parser.in_thinking:
            clock.thinking(now)
        return events

    def finish(self) -> list[StreamEvent]:
        """The text the stop cutters and the parser still hold, and the complete structured
        tool calls."""
        events: list[StreamEvent] = []
        if rest := self.reasoning_cut.finish():
            events += self._parse(rest if self.reasoning_open else OPEN_TAG + rest)
            self.reasoning_open = True
        if rest := self.cut.finish():
            if self.reasoning_open:
                events += self.parser.feed(CLOSE_TAG)
                self.reasoning_open = False
            events += self._parse(rest)
        events = self._split([*events, *self.parser.finish(), *self.structured.finish()])
        return events + (self.splitter.finish() if self.splitter is not None else [])

    def usage(self, max_new_tokens: int, capabilities: BackendCapabilities) -> Usage:
        """:class:`Usage` from the server's usage chunk (counts) and measured wall times.

        Without a usage chunk, every streamed chunk counts as one token (servers send one
        chunk per token). tokens/s is :meth:`TurnClock.decode_rate`.
        """
        report = self.usage_report
        generated = int(getattr(report, "completion_tokens", 0) or 0) or self.chunks
        prompt = int(getattr(report, "prompt_tokens", 0) or 0)
        details = getattr(report, "completion_tokens_details", None)
        reported_thinking = getattr(details, "reasoning_tokens", None) if details else None
        thinking_seen = bool(self.parser.thinking) or self.parser.saw_thinking_block
        thinking_tokens = (
            int(reported_thinking)
            if reported_thinking
            else (min(self.clock.thinking_tokens, generated) if thinking_seen else 0)
        )
        finish: FinishReason = "length" if self.finish_reason == "length" else "stop"
        window = capabilities.context_window_tokens
        return self.clock.usage(
            prompt_tokens=prompt,
            generated_tokens=generated,
            thinking_tokens=thinking_tokens,
            finish_reason=finish,
            thinking_incomplete=self.parser.thinking_incomplete,
            context_window_full=finish == "length" and bool(window) and generated < max_new_tokens,
        )
