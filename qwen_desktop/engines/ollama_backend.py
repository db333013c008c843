"""The Ollama engine behind :class:`~qwen_desktop.engines.base.ChatBackend`, on the official
``ollama.AsyncClient`` (the embedded server, a user's own Ollama, or a remote one).

- :meth:`OllamaBackend.load` asks ``/api/show`` what the model can do (``capabilities``:
  ``thinking``, ``vision``; ``model_info``: context length, layers, heads) and preloads it
  (``/api/chat`` with no messages and the keep-alive), so the first answer does not wait.
- :meth:`OllamaBackend.stream_chat` sends ``think`` explicitly per the model's thinking kind
  (Ollama's Qwen3 template switches thinking only when ``think`` is sent; see
  shared/research/ollama.md), images as base64, sampling options and ``num_ctx``. Lines carry
  ``message.thinking`` and ``message.content`` apart; content still goes through the shared
  :class:`~qwen_desktop.core.thinking.ThinkingParser`, because some models and server versions
  put ``<think>`` text inline. The final line's counts and durations (nanoseconds) become
  :class:`~qwen_desktop.core.types.Usage`.
- Tools go as ``tools`` (OpenAI's function shape, which Ollama takes); Ollama's own parser returns
  calls in ``message.tool_calls`` (arguments already decoded), and a call it missed stays Qwen's
  ``<tool_call>`` text in the content: both become the same events
  (:mod:`qwen_desktop.core.tool_calls`). Results go back as ``tool`` messages with ``tool_name``.
- Failures become actions: a request refused before anything streamed raises a
  :class:`~qwen_desktop.core.errors.QwenDesktopError` (model not downloaded, out of memory,
  engine not running); a stream that breaks after it began (an error line, a dropped connection,
  the engine dying; case C12) ends with a :class:`~qwen_desktop.core.types.StreamError` after the
  partial text.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import ollama

from qwen_desktop.core.stop_tokens import QWEN_STOP_TOKENS, StopCutter
from qwen_desktop.core.thinking import ThinkingParser
from qwen_desktop.core.tool_calls import ToolCallSplitter, template_tool_calls
from qwen_desktop.core.types import (
    BackendCapabilities,
    ChatRequest,
    FinishReason,
    StreamError,
    StreamEvent,
    ThinkingDelta,
    ThinkingKind,
    ThinkingReclassified,
    ToolCall,
    Usage,
)
from qwen_desktop.engines.base import EngineBase, LoadedModel, ModelSpec, TurnClock
from qwen_desktop.engines.http_clients import ollama_client
from qwen_desktop.engines.ollama_models import (
    ModelFacts,
    model_facts,
    stream_error_for,
    translate_error,
)

if TYPE_CHECKING:
    from qwen_desktop.engines.ollama_server import OllamaServer

REQUEST_TIMEOUT_S = 30.0
"""Timeout (seconds) of non-streaming calls (``show``, ``ps``, unload)."""
LOAD_TIMEOUT_S = 600.0
"""Timeout (seconds) of a preload: a large model can take minutes to read from disk."""
CONNECT_TIMEOUT_S = 10.0
DEFAULT_CONTEXT_TOKENS = 4096
"""Ollama's default context window when neither the app nor ``/api/ps`` says otherwise
(``OLLAMA_CONTEXT_LENGTH`` default below 24 GiB of VRAM; shared/research/ollama.md)."""

_NS = 1e9
_T = TypeVar("_T")


class _EdgeTrimmer:
    """Strips whitespace at both ends of a streamed part, as the ThinkingParser does for text
    it splits itself (so thinking from ``message.thinking`` reads the same as from tags)."""

    def __init__(self) -> None:
        self.text = ""
        self._pending = ""

    def feed(self, chunk: str) -> str:
        chunk = self._pending + chunk
        if not self.text:
            chunk = chunk.lstrip()
        body = chunk.rstrip()
        self._pending = chunk[len(body) :]
        self.text += body
        return body


class OllamaBackend(EngineBase):
    """Chat with models served by Ollama.

    Args:
        host: The server's base URL (a remote or already running Ollama); ignored when
            ``server`` is given.
        server: The embedded server: its URL is read at each request (it may change after a
            restart) and requests wait until it is ready.
        context_tokens: ``num_ctx`` to load models with (the context setting); None: the
            server's default (read back from ``/api/ps`` after loading).
        keep_alive: How long the model stays loaded after a request (``"5m"``, seconds, ``-1``
            forever); None: the server's setting.
        request_timeout_s: Timeout of non-streaming calls.
        load_timeout_s: Timeout of the preload in :meth:`load`.

    Exactly one of ``host`` and ``server`` must be given.
    """

    engine_name = "ollama"

    def __init__(
        self,
        host: str | None = None,
        *,
        server: OllamaServer | None = None,
        context_tokens: int | None = None,
        keep_alive: str | float | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        load_timeout_s: float = LOAD_TIMEOUT_S,
    ) -> None:
        if (host is None) == (server is None):
            raise ValueError("give either host or server")
        super().__init__()
        self._host = host
        self._server = server
        self.context_tokens = context_tokens
        self.keep_alive = keep_alive
        self._request_timeout_s = request_timeout_s
        self._load_timeout_s = load_timeout_s
        self._clients: dict[str, tuple[str, asyncio.AbstractEventLoop, ollama.AsyncClient]] = {}
        self._facts: ModelFacts | None = None
        self._context_window = 0

    # -- ChatBackend -------------------------------------------------------------------------

    @property
    def facts(self) -> ModelFacts | None:
        """What ``/api/show`` said about the loaded model (layers, heads, quantization, …)."""
        return self._facts

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._server.url if self._server is not None else str(self._host)

    async def load(self, model: ModelSpec) -> LoadedModel:
        """Ask the server about ``model.name`` (an Ollama tag) and load it into memory.

        Raises:
            ModelNotDownloadedError: The server does not have the model.
            EngineUnavailableError: The server is not running or not reachable, or the model
                does not fit in memory (the message says what to try).
        """
        start = time.perf_counter()
        await self.unload()
        name = model.name
        show = await self._call("request", lambda client: client.show(name), name)
        size = await self._size_on_disk(name)
        facts = model_facts(name, show, size)
        options = self._load_options()
        keep_alive = self.keep_alive
        await self._call(
            "load",
            lambda client: client.chat(
                model=name, messages=[], options=options, keep_alive=keep_alive
            ),
            name,
        )
        window, device = await self._loaded_state(name, facts)
        capabilities = BackendCapabilities(
            vision=facts.vision, thinking_kind=facts.thinking_kind, context_window_tokens=window
        )
        self._facts, self._context_window = facts, window
        self._loaded = LoadedModel(
            name=name,
            engine=self.engine_name,
            device=device,
            dtype=facts.quantization,
            parameters=facts.parameters,
            weights_bytes=facts.size_bytes,
            capabilities=capabilities,
            load_seconds=time.perf_counter() - start,
        )
        return self._loaded

    async def unload(self) -> None:
        """Ask the server to free the loaded model (``keep_alive: 0``); errors are ignored
        (a server that went away has freed it anyway)."""
        loaded, self._loaded, self._facts = self._loaded, None, None
        if loaded is None:
            return
        with contextlib.suppress(Exception):
            client = self._client("request")
            await client.chat(model=loaded.name, messages=[], keep_alive=0)

    async def aclose(self) -> None:
        """Close the HTTP connections (call when the backend is no longer used)."""
        clients, self._clients = self._clients, {}
        for _, loop, client in clients.values():
            if loop is asyncio.get_running_loop():
                with contextlib.suppress(Exception):
                    await client.close()

    def build_chat_arguments(self, request: ChatRequest) -> dict[str, Any]:
        """The keyword arguments of ``AsyncClient.chat`` for a request (streaming).

        ``think`` is sent for models that can think (hybrid: the request's switch, default on;
        thinking-only: True) and never for the others (Ollama refuses it there).

        Raises:
            NoModelLoadedError: Nothing is loaded.
        """
        loaded = self._require_loaded()
        kind = loaded.capabilities.thinking_kind
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            item: dict[str, Any] = {"role": message.role, "content": message.content}
            if message.tool_calls:
                item["tool_calls"] = template_tool_calls(message.tool_calls)
            if message.role == "tool" and message.tool_name:
                item["tool_name"] = message.tool_name
            if message.images and loaded.capabilities.vision:
                item["images"] = list(message.images)  # the client sends bytes as base64
            messages.append(item)
        sampling = request.sampling
        options: dict[str, Any] = {
            **self._load_options(),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "min_p": sampling.min_p,
            "num_predict": sampling.max_new_tokens,
            "stop": list(QWEN_STOP_TOKENS),
        }
        if sampling.seed is not None:
            options["seed"] = sampling.seed
        arguments: dict[str, Any] = {
            "model": loaded.name,
            "messages": messages,
            "stream": True,
            "options": options,
        }
        if kind is ThinkingKind.HYBRID:
            arguments["think"] = True if request.thinking is None else request.thinking
        elif kind is ThinkingKind.THINKING_ONLY:
            arguments["think"] = True
        if self.keep_alive is not None:
            arguments["keep_alive"] = self.keep_alive
        if request.tools:
            arguments["tools"] = [tool.as_openai() for tool in request.tools]
        return arguments

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream one answer: thinking/answer deltas, then :class:`Usage` (or
        :class:`StreamError` after partial text when the stream breaks).

        Cancel the consuming task (or close the generator) to stop: the HTTP stream is closed at
        once, which makes Ollama stop generating.

        Raises:
            NoModelLoadedError: Nothing is loaded (on first iteration).
            ModelNotDownloadedError: The model was deleted since it was loaded.
            EngineUnavailableError: The server is not running, stopped before answering, or the
                model does not fit in memory.
            GenerationError: Another answer is still streaming from this backend.
        """
        loaded = self._require_loaded()
        with self._one_stream():
            arguments = self.build_chat_arguments(request)
            turn = _Turn(loaded.capabilities.thinking_kind, request)
            stream = await self._call(
                "stream", lambda client: client.chat(**arguments), loaded.name
            )
            async with contextlib.aclosing(stream) as lines:
                try:
                    async for line in lines:  # the hot path: one line per token
                        for event in turn.feed(line):
                            yield event
                        if turn.cut.stopped:  # a stop token the server streamed: end here
                            break
                except (ollama.ResponseError, httpx.HTTPError, ConnectionError, OSError) as exc:
                    refused = isinstance(exc, ollama.ResponseError) and exc.status_code != -1
                    if refused or not turn.started:
                        raise translate_error(
                            exc, loaded.name, self.url, self._server_hint()
                        ) from None
                    for event in turn.finish():
                        yield event
                    yield self._stream_error(exc)
                    return
            for event in turn.finish():
                yield event
            if (
                turn.final is None and not turn.cut.stopped
            ):  # the stream ended without its final line: connection cut
                yield self._stream_error(ConnectionError("the stream ended early"))
                return
            yield turn.usage(request.sampling.max_new_tokens, self._context_window)

    # -- internals ---------------------------------------------------------------------------

    def _client(self, purpose: str) -> ollama.AsyncClient:
        """An ``AsyncClient`` for the current URL and loop (``request``/``load``: with a
        timeout; ``stream``: no read timeout, a model may think for minutes between lines)."""
        url = self.url
        loop = asyncio.get_running_loop()
        cached = self._clients.get(purpose)
        if cached is not None and cached[0] == url and cached[1] is loop:
            return cached[2]
        if purpose == "stream":
            read_s: float | None = None
        elif purpose == "load":
            read_s = self._load_timeout_s
        else:
            read_s = self._request_timeout_s
        client = ollama_client(url, read_timeout_s=read_s, connect_timeout_s=CONNECT_TIMEOUT_S)
        self._clients[purpose] = (url, loop, client)
        return client

    async def _call(
        self,
        purpose: str,
        make: Callable[[ollama.AsyncClient], Awaitable[_T]],
        model: str,
    ) -> _T:
        """Make one client call, after the embedded server is ready; errors become actions."""
        if self._server is not None:
            await self._server.wait_ready()
        try:
            return await make(self._client(purpose))
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
            raise translate_error(exc, model, self.url, self._server_hint()) from None

    def _stream_error(self, error: BaseException) -> StreamError:
        return stream_error_for(error, self._server_hint(), managed=self._server is not None)

    def _server_hint(self) -> str:
        """Extra words for errors: what the embedded server's log revealed."""
        server = self._server
        if server is None:
            return ""
        if server.too_large is not None:
            return server.too_large.message
        return ""

    def _load_options(self) -> dict[str, Any]:
        return {"num_ctx": self.context_tokens} if self.context_tokens else {}

    async def _size_on_disk(self, name: str) -> int:
        """The model's size on disk from ``/api/tags`` (bytes; 0 when unknown)."""
        with contextlib.suppress(Exception):
            listing = await self._client("request").list()
            for entry in listing.models:
                if entry.model == name:
                    return int(entry.size or 0)
        return 0

    async def _loaded_state(self, name: str, facts: ModelFacts) -> tuple[int, str]:
        """The context window the model was loaded with (tokens), and where it runs.

        The window: the app's setting when given (capped at the model's own maximum); else what
        ``/api/ps`` reports; else Ollama's documented default. The device, from ``/api/ps``:
        ``size_vram`` 0 → CPU, ``== size`` → GPU, else the GPU share (shared/research/ollama.md).
        """
        window = 0
        server = self._server
        library = server.compute_library if server is not None else None
        device = library.lower() if library else "unknown"
        with contextlib.suppress(Exception):
            running = await self._client("request").ps()
            for entry in running.models:
                if name not in (entry.model, entry.name):
                    continue
                window = int(entry.context_length or 0)
                device = _placement(int(entry.size or 0), int(entry.size_vram or 0), library)
                break
        if self.context_tokens:
            window = min(self.context_tokens, facts.context_length or self.context_tokens)
        elif not window:
            window = min(DEFAULT_CONTEXT_TOKENS, facts.context_length or DEFAULT_CONTEXT_TOKENS)
        return window, device


def _placement(size: int, size_vram: int, library: str | None) -> str:
    """Where a loaded model runs, from ``/api/ps`` sizes (bytes): ``cpu``, ``gpu (CUDA)`` or
    ``cpu+gpu (37% on GPU)`` (shared/research/ollama.md, "GPU share")."""
    gpu = f"gpu ({library})" if library and library != "CPU" else "gpu"
    if size <= 0 or size_vram <= 0:
        return "cpu"
    if size_vram >= size:
        return gpu
    return f"cpu+{gpu} ({round(100 * size_vram / size)}% on GPU)"


class _Turn:
    """One streamed answer: splits lines into events; its :class:`TurnClock` keeps the wall
    times (from the moment the turn is made, just before the request is sent)."""

    def __init__(self, kind: ThinkingKind, request: ChatRequest | None = None) -> None:
        self.parser = ThinkingParser(detect_unopened_close=kind is not ThinkingKind.INSTRUCT_ONLY)
        tools = request.tools if request is not None else ()
        self.splitter = ToolCallSplitter(tools) if tools else None
        self.structured_calls = 0
        self.thinking_field = _EdgeTrimmer()
        self.clock = TurnClock()
        self.started = False
        self.final: ollama.ChatResponse | None = None
        self.cut = StopCutter()
        self.thinking_cut = StopCutter()
        self.lines = 0

    def feed(self, line: ollama.ChatResponse) -> list[StreamEvent]:
        """The events of one stream line (``message.thinking`` apart, content parsed)."""
        self.started = True
        self.lines += 1
        clock = self.clock
        events: list[StreamEvent] = []
        message = line.message
        thinking = self.thinking_cut.feed(message.thinking) if message.thinking else ""
        content = self.cut.feed(message.content) if message.content else ""
        if thinking:
            clock.thinking(clock.text())
            if text := self.thinking_field.feed(thinking):
                events.append(ThinkingDelta(text))
        if content:
            now = clock.text()
            parser = self.parser
            was_thinking = parser.in_thinking
            for event in parser.feed(content):
                if isinstance(event, ThinkingReclassified):  # all text so far was thinking
                    clock.all_thinking(now, 1)
                events.append(event)
            if was_thinking or parser.in_thinking:
                clock.thinking(now)
        for call in message.tool_calls or ():
            clock.text()
            function = call.function
            index, self.structured_calls = self.structured_calls, self.structured_calls + 1
            events.append(ToolCall(function.name, dict(function.arguments or {}), index=index))
        if line.done:
            self.final = line
        if self.splitter is None:
            return events
        return [out for event in events for out in self.splitter.feed(event)]

    def finish(self) -> list[StreamEvent]:
        """The text still held back by the stop cutters, the parser and the tool-call splitter."""
        events: list[StreamEvent] = []
        rest = self.thinking_cut.finish()
        if rest and (text := self.thinking_field.feed(rest)):
            events.append(ThinkingDelta(text))
        if rest := self.cut.finish():
            events += self.parser.feed(rest)
        events += list(self.parser.finish())
        if self.splitter is None:
            return events
        flushed = [out for event in events for out in self.splitter.feed(event)]
        return flushed + self.splitter.finish()

    def usage(self, max_new_tokens: int, context_window: int) -> Usage:
        """:class:`Usage` from the final line (counts; durations in nanoseconds) and wall times.

        TTFT is measured (request → first streamed text); when nothing streamed, the server's
        ``load_duration + prompt_eval_duration``. tokens/s is ``eval_count / eval_duration``
        (the server's own decode timing). Thinking tokens are counted from stream lines (Ollama
        sends one line per token). ``done_reason == "length"`` with fewer tokens than
        ``max_new_tokens`` means the context window filled up.
        """
        final = self.final
        clock = self.clock
        if final is None:  # we closed the stream at a stop token the server streamed
            t_end = time.perf_counter()
            span_ns = int((t_end - (clock.t_first or t_end)) * _NS)
            final = ollama.ChatResponse(
                message=ollama.Message(role="assistant", content=""),
                done=True,
                done_reason="stop",
                eval_count=self.lines,
                eval_duration=span_ns,
            )
        generated = final.eval_count or 0
        eval_seconds = (final.eval_duration or 0) / _NS
        ttft = None
        if clock.t_first is None:
            ttft = ((final.load_duration or 0) + (final.prompt_eval_duration or 0)) / _NS
        finish: FinishReason = "length" if final.done_reason == "length" else "stop"
        thinking_seen = bool(self.thinking_field.text) or self.parser.saw_thinking_block
        thinking_tokens = clock.thinking_tokens if thinking_seen else 0
        return clock.usage(
            prompt_tokens=final.prompt_eval_count or 0,
            generated_tokens=generated,
            thinking_tokens=min(thinking_tokens, generated) if generated else thinking_tokens,
            ttft_seconds=ttft,
            tokens_per_second=generated / eval_seconds if generated and eval_seconds > 0 else 0.0,
            finish_reason=finish,
            thinking_incomplete=self.parser.thinking_incomplete
            or (
                bool(self.thinking_field.text)
                and not self.parser.answer
                and final.done_reason == "length"
            ),
            context_window_full=finish == "length"
            and bool(context_window)
            and generated < max_new_tokens,
        )
