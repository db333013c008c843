"""The in-process Transformers engine: a local Hugging Face checkpoint behind :class:`ChatBackend`.

Importing this module is cheap: torch and transformers are imported inside :meth:`load` (through
:mod:`qwen_desktop.backends.transformers_runtime`), so the app starts fast and runs without the
``ml`` extra.

Streaming (see ARCHITECTURE.md, "The backend seam"): ``model.generate`` runs on its own
``threading.Thread`` (not the default executor, so a stopped generation never holds an executor
slot). A streamer object hands each token id to an :class:`asyncio.Queue` through
``loop.call_soon_threadsafe``; the async generator detokenizes incrementally, feeds the text to the
shared :class:`~qwen_desktop.core.thinking.ThinkingParser`, and yields events. Stop = cancel the
consuming task: the generator's ``finally`` sets a :class:`threading.Event` that a stopping
criterion checks after every token, then waits (without blocking the loop) for the thread's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from qwen_desktop.backends.base import LoadedModel, ModelSpec
from qwen_desktop.backends.checkpoint import CheckpointInfo, inspect_checkpoint
from qwen_desktop.backends.detokenizer import IncrementalDetokenizer
from qwen_desktop.core.errors import (
    CheckpointError,
    ContextWindowExceededError,
    EngineUnavailableError,
    GenerationError,
    NoModelLoadedError,
)
from qwen_desktop.core.thinking import ThinkingParser, prompt_opens_thinking
from qwen_desktop.core.types import (
    BackendCapabilities,
    ChatRequest,
    FinishReason,
    SamplingSettings,
    StreamError,
    StreamEvent,
    ThinkingKind,
    ThinkingReclassified,
    Usage,
)

ENGINE_NAME = "transformers"
CPU_FLOAT32_RAM_FRACTION = 0.4
"""On CPU, weights load in float32 when ``parameters × 4 bytes`` is below this share of the
available RAM (float32 is the fastest and most exact CPU path for small models); otherwise in
bfloat16, which halves the memory and is supported by recent CPUs' matmul kernels."""

_ML_EXTRA_ACTION = "pip install 'qwen-desktop[ml]'"
_PROBE_MESSAGES = [{"role": "user", "content": "Hello"}]


def choose_device_and_dtype(
    *, cuda: bool, cuda_bf16: bool, mps: bool, parameters: int | None, available_ram_bytes: int
) -> tuple[str, str]:
    """Where to run a model and in which dtype.

    CUDA: bfloat16 when the GPU supports it, else float16. Apple MPS: float16. CPU: float32 when
    ``parameters × 4`` bytes is under :data:`CPU_FLOAT32_RAM_FRACTION` of the available RAM, else
    bfloat16 (unknown parameter counts get bfloat16).

    Returns:
        ``(device, dtype)`` as torch names, e.g. ``("cuda", "bfloat16")``.
    """
    if cuda:
        return "cuda", "bfloat16" if cuda_bf16 else "float16"
    if mps:
        return "mps", "float16"
    if parameters is not None and parameters * 4 < CPU_FLOAT32_RAM_FRACTION * available_ram_bytes:
        return "cpu", "float32"
    return "cpu", "bfloat16"


def detect_thinking_kind(render: Callable[[bool], str]) -> ThinkingKind:
    """Classify a chat template by what it renders.

    Args:
        render: Renders a one-message generation prompt with ``enable_thinking`` set as given.

    Returns:
        ``HYBRID`` when the switch changes the prompt; else ``THINKING_ONLY`` when the prompt
        already opens ``<think>``; else ``INSTRUCT_ONLY``.
    """
    on, off = render(True), render(False)
    if on != off:
        return ThinkingKind.HYBRID
    if prompt_opens_thinking(on):
        return ThinkingKind.THINKING_ONLY
    return ThinkingKind.INSTRUCT_ONLY


def _available_ram_bytes() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or unsupported platform
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 0


def _reason(error: BaseException) -> str:
    """One line about an exception, for messages shown to people."""
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return first if len(first) <= 300 else first[:297] + "…"


class GenerationJob:
    """One ``model.generate`` run on its own thread (exposed for diagnostics and tests).

    Attributes:
        stop_event: Set to stop generation (checked after every token).
        tokens_generated: Tokens the model produced so far (counted on the generation thread).
        tokens_at_stop: ``tokens_generated`` when the stop was requested; None if never.
        finished: Set by the generation thread once ``generate`` has returned (or raised).
        thread: The generation thread (None before it starts).
    """

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.finished = threading.Event()
        self.tokens_generated = 0
        self.tokens_at_stop: int | None = None
        self.thread: threading.Thread | None = None

    def request_stop(self) -> None:
        """Ask the generation to stop after the token in progress."""
        if not self.stop_event.is_set():
            self.tokens_at_stop = self.tokens_generated
            self.stop_event.set()

    @property
    def running(self) -> bool:
        """True from the start of the thread until ``generate`` has returned."""
        return self.thread is not None and not self.finished.is_set()


class _QueueStreamer:
    """What ``generate`` calls with new tokens (transformers' BaseStreamer interface).

    Runs on the generation thread; hands ``("token", id, perf_counter)`` items to the asyncio
    queue. The first ``put`` carries the prompt and is skipped.
    """

    def __init__(self, send: Callable[[tuple[Any, ...]], None], job: GenerationJob) -> None:
        self._send = send
        self._job = job
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        now = time.perf_counter()
        for token_id in value.reshape(-1).tolist():
            self._job.tokens_generated += 1
            self._send(("token", int(token_id), now))

    def end(self) -> None:
        """Nothing to do: the thread sends the end marker itself (with any exception)."""


class _TurnStats:
    """Token counts and timings of one answer (all times are ``time.perf_counter()`` seconds)."""

    def __init__(self, t_request: float) -> None:
        self.t_request = t_request
        self.generated = 0
        self.thinking_tokens = 0
        self.t_first = self.t_last = self.t_prev = t_request
        self.t_think_start: float | None = None
        self.t_think_end = t_request
        self.last_token: int | None = None

    def on_token(self, token_id: int, t_token: float) -> None:
        self.generated += 1
        if self.generated == 1:
            self.t_first = t_token
        self.t_prev, self.t_last, self.last_token = self.t_last, t_token, token_id

    def on_thinking_token(self, t_token: float) -> None:
        self.thinking_tokens += 1
        if self.t_think_start is None:
            self.t_think_start = self.t_prev  # this token's generation began after the previous
        self.t_think_end = t_token

    def all_thinking_so_far(self, t_token: float) -> None:
        self.thinking_tokens = self.generated
        self.t_think_start, self.t_think_end = self.t_request, t_token

    def usage(
        self,
        *,
        prompt_tokens: int,
        t_end: float,
        eos_ids: frozenset[int],
        max_new_tokens: int,
        thinking_incomplete: bool,
    ) -> Usage:
        finish: FinishReason
        if self.last_token is not None and self.last_token in eos_ids:
            finish = "stop"
        elif self.generated >= max_new_tokens:
            finish = "length"
        else:
            finish = "cancelled"
        decode_seconds = self.t_last - self.t_first
        return Usage(
            prompt_tokens=prompt_tokens,
            generated_tokens=self.generated,
            thinking_tokens=self.thinking_tokens,
            ttft_seconds=(self.t_first if self.generated else t_end) - self.t_request,
            tokens_per_second=(self.generated - 1) / decode_seconds
            if self.generated > 1 and decode_seconds > 0
            else 0.0,
            total_seconds=t_end - self.t_request,
            thinking_seconds=None
            if self.t_think_start is None
            else self.t_think_end - self.t_think_start,
            finish_reason=finish,
            thinking_incomplete=thinking_incomplete,
        )


@dataclass
class _State:
    info: LoadedModel
    checkpoint: CheckpointInfo
    runtime: ModuleType
    tokenizer: Any
    model: Any
    device: str
    kind: ThinkingKind
    eos_ids: frozenset[int]
    pad_id: int


class TransformersBackend:
    """Runs a local Hugging Face checkpoint in this process with torch + transformers.

    Args:
        device: Force ``"cpu"``, ``"cuda"`` or ``"mps"``; None picks the best available
            (see :func:`choose_device_and_dtype`).

    One answer at a time: a second :meth:`stream_chat` while one runs raises
    :class:`~qwen_desktop.core.errors.GenerationError`.
    """

    def __init__(self, *, device: str | None = None) -> None:
        self._device_override = device
        self._state: _State | None = None
        self._job: GenerationJob | None = None

    # -- ChatBackend -------------------------------------------------------------------------

    @property
    def capabilities(self) -> BackendCapabilities:
        """What the loaded model can do (defaults when nothing is loaded)."""
        return self._state.info.capabilities if self._state else BackendCapabilities()

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model, or None."""
        return self._state.info if self._state else None

    @property
    def last_job(self) -> GenerationJob | None:
        """The running or most recent generation (for diagnostics and tests)."""
        return self._job

    async def load(self, model: ModelSpec) -> LoadedModel:
        """Validate and load a local checkpoint folder, replacing any loaded model.

        The folder is checked first (:func:`inspect_checkpoint`, milliseconds), then tokenizer and
        weights load on a worker thread.

        Raises:
            CheckpointError: The folder is missing, partial, corrupt or unsupported, or
                transformers failed to read it.
            EngineUnavailableError: torch/transformers are not installed, or there is not enough
                memory.
        """
        if model.path is None:
            raise CheckpointError(
                "The Transformers engine loads local model folders, and no folder was given.",
                "Pick a model folder (with config.json and .safetensors files).",
            )
        start = time.perf_counter()
        checkpoint = await asyncio.to_thread(inspect_checkpoint, model.path)
        await self.unload()
        state = await asyncio.to_thread(self._load_sync, model, checkpoint, start)
        self._state = state
        return state.info

    async def unload(self) -> None:
        """Stop any running generation and free the model's memory."""
        job = self._job
        if job is not None and job.running:
            job.request_stop()
            await asyncio.to_thread(job.finished.wait)
        state, self._state = self._state, None
        if state is not None:
            runtime, device = state.runtime, state.device
            del state
            await asyncio.to_thread(runtime.free_memory, device)

    def render_prompt(self, request: ChatRequest) -> str:
        """The prompt text the chat template makes of a request.

        Only ``role`` and ``content`` of each message are passed (earlier thinking is never sent
        back; Qwen's rule). ``enable_thinking`` is passed only to hybrid models and only when
        ``request.thinking`` is not None.

        Raises:
            NoModelLoadedError: Nothing is loaded.
        """
        state = self._require_state()
        return self._render(state, request)

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        """Tokens of the rendered prompt (for a context meter).

        Raises:
            NoModelLoadedError: Nothing is loaded.
        """
        state = self._require_state()
        return len(self._encode(state, self._render(state, request)))

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one answer: thinking/answer deltas, then :class:`Usage` (or :class:`StreamError`).

        Cancel the consuming task (or close the generator) to stop: generation stops within a
        token, the generator waits for the generation thread to end, and no Usage follows.

        Raises:
            NoModelLoadedError: Nothing is loaded (on first iteration).
            ContextWindowExceededError: The prompt plus ``max_new_tokens`` exceeds the context
                window (nothing is truncated silently).
            GenerationError: Another answer is still being generated.
        """
        state = self._require_state()
        if self._job is not None and self._job.running:
            raise GenerationError(
                "The model is still generating another answer.",
                "Wait for it to finish, or stop it first.",
            )
        stats = _TurnStats(time.perf_counter())
        prompt = self._render(state, request)
        prompt_ids = self._encode(state, prompt)
        self._check_context(state, len(prompt_ids), request.sampling.max_new_tokens)
        parser = ThinkingParser(
            starts_in_thinking=prompt_opens_thinking(prompt),
            detect_unopened_close=state.kind is not ThinkingKind.INSTRUCT_ONLY,
        )
        tokenizer = state.tokenizer
        detokenizer = IncrementalDetokenizer(
            lambda ids: str(
                tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            )
        )
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        job = self._start_job(state, prompt_ids, request.sampling, queue)
        ended = False
        try:
            while True:
                item = await queue.get()
                if item[0] == "end":
                    ended = True
                    _, error, t_end = item
                    break
                _, token_id, t_token = item
                stats.on_token(token_id, t_token)
                if token_id in state.eos_ids:
                    continue
                was_thinking = parser.in_thinking
                events = parser.feed(detokenizer.add(token_id))
                if any(isinstance(e, ThinkingReclassified) for e in events):
                    stats.all_thinking_so_far(t_token)  # "</think>" without an opening tag
                elif was_thinking or parser.in_thinking:
                    stats.on_thinking_token(t_token)
                for event in events:
                    yield event

            for event in parser.feed(detokenizer.flush()) + parser.finish():
                yield event
            if error is not None:
                yield self._stream_error(error)
                return
            yield stats.usage(
                prompt_tokens=len(prompt_ids),
                t_end=t_end,
                eos_ids=state.eos_ids,
                max_new_tokens=request.sampling.max_new_tokens,
                thinking_incomplete=parser.thinking_incomplete,
            )
        finally:
            if not ended:  # cancelled or closed early: stop the thread, wait without blocking
                job.request_stop()
                while (await queue.get())[0] != "end":
                    pass

    # -- internals ---------------------------------------------------------------------------

    def _start_job(
        self,
        state: _State,
        prompt_ids: list[int],
        sampling: SamplingSettings,
        queue: asyncio.Queue[tuple[Any, ...]],
    ) -> GenerationJob:
        """Start ``generate`` on a new thread feeding ``queue``; it ends with an ``end`` item."""
        loop = asyncio.get_running_loop()

        def send(item: tuple[Any, ...]) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        job = GenerationJob()
        config = state.runtime.make_generation_config(sampling, sorted(state.eos_ids), state.pad_id)
        streamer = _QueueStreamer(send, job)

        def run() -> None:
            error: BaseException | None = None
            try:
                state.runtime.generate(
                    state.model,
                    prompt_ids,
                    config=config,
                    streamer=streamer,
                    stop_event=job.stop_event,
                    seed=sampling.seed,
                )
            except BaseException as exc:  # reported to the consumer as a StreamError
                error = exc
            job.finished.set()
            send(("end", error, time.perf_counter()))

        job.thread = threading.Thread(target=run, name="transformers-generate", daemon=True)
        self._job = job
        job.thread.start()
        return job

    def _require_state(self) -> _State:
        if self._state is None:
            raise NoModelLoadedError()
        return self._state

    @staticmethod
    def _render(state: _State, request: ChatRequest) -> str:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        kwargs: dict[str, Any] = {}
        if state.kind is ThinkingKind.HYBRID and request.thinking is not None:
            kwargs["enable_thinking"] = request.thinking
        return str(
            state.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False, **kwargs
            )
        )

    @staticmethod
    def _encode(state: _State, prompt: str) -> list[int]:
        return list(state.tokenizer.encode(prompt, add_special_tokens=False))

    @staticmethod
    def _check_context(state: _State, prompt_tokens: int, max_new_tokens: int) -> None:
        window = state.info.capabilities.context_window_tokens
        if prompt_tokens + max_new_tokens <= window:
            return
        if prompt_tokens >= window:
            raise ContextWindowExceededError(
                f"The conversation is {prompt_tokens:,} tokens long; this model's context window "
                f"holds {window:,} tokens.",
                "Start a new chat or remove earlier messages.",
            )
        raise ContextWindowExceededError(
            f"The conversation ({prompt_tokens:,} tokens) plus the maximum answer length "
            f"({max_new_tokens:,} tokens) is more than this model's context window "
            f"({window:,} tokens).",
            f"Lower the maximum answer length to {window - prompt_tokens:,} tokens or less, or "
            "start a new chat.",
        )

    def _stream_error(self, error: BaseException) -> StreamError:
        runtime = self._state.runtime if self._state else None
        if runtime is not None and runtime.is_out_of_memory(error):
            return StreamError(
                "The engine ran out of memory while generating; the answer stops here.",
                "Shorten the conversation, lower the maximum answer length, or pick a smaller "
                "model.",
            )
        return StreamError(
            f"Generation failed: {_reason(error)}",
            "Try again; if it keeps failing, reload the model.",
        )

    def _load_sync(self, spec: ModelSpec, checkpoint: CheckpointInfo, start: float) -> _State:
        """Import the ML stack and load tokenizer + weights (runs on a worker thread)."""
        try:
            from qwen_desktop.backends import transformers_runtime as runtime
        except ImportError as error:
            raise EngineUnavailableError(
                f"The Transformers engine needs the ml extra ({_reason(error)}).",
                _ML_EXTRA_ACTION,
            ) from error
        path = checkpoint.path
        cuda, cuda_bf16, mps = runtime.device_facts()
        if self._device_override is not None:
            wanted = self._device_override
            cuda, mps = wanted.startswith("cuda") and cuda, wanted == "mps" and mps
            if wanted != "cpu" and not (cuda or mps):
                raise EngineUnavailableError(
                    f"The device {wanted!r} is not available here.",
                    "Choose another device (cpu is always available).",
                )
        device, dtype = choose_device_and_dtype(
            cuda=cuda,
            cuda_bf16=cuda_bf16,
            mps=mps,
            parameters=checkpoint.parameters,
            available_ram_bytes=_available_ram_bytes(),
        )
        try:
            tokenizer = runtime.load_tokenizer(path)
        except Exception as error:
            raise CheckpointError(
                f"The tokenizer of {path.name} could not be loaded: {_reason(error)}",
                "The tokenizer files may be damaged or too new for the installed transformers: "
                "download the model again or update transformers.",
            ) from error
        if not getattr(tokenizer, "chat_template", None):
            raise CheckpointError(
                f"The tokenizer of {path.name} has no chat template, so it cannot chat.",
                "This is probably a base (pretrained) model: pick its Instruct or chat variant.",
            )
        try:
            kind = detect_thinking_kind(
                lambda on: str(
                    tokenizer.apply_chat_template(
                        _PROBE_MESSAGES,
                        add_generation_prompt=True,
                        tokenize=False,
                        enable_thinking=on,
                    )
                )
            )
        except Exception as error:
            raise CheckpointError(
                f"The chat template of {path.name} fails to render: {_reason(error)}",
                "The template may need a newer transformers: update it, or use the Ollama engine.",
            ) from error
        try:
            model = runtime.load_model(
                path, device=device, dtype=dtype, vision=checkpoint.has_vision
            )
        except Exception as error:
            if runtime.is_out_of_memory(error):
                raise EngineUnavailableError(
                    f"Not enough memory to load {path.name} on {device} in {dtype}.",
                    "Close other programs, or pick a smaller model or a quantized build.",
                ) from error
            raise CheckpointError(
                f"The model in {path.name} could not be loaded: {_reason(error)}",
                "The files may be damaged or need a newer transformers: download the model "
                "again or update transformers.",
            ) from error
        return self._make_state(
            spec=spec,
            checkpoint=checkpoint,
            runtime=runtime,
            tokenizer=tokenizer,
            model=model,
            kind=kind,
            dtype=dtype,
            start=start,
        )

    @staticmethod
    def _make_state(
        *,
        spec: ModelSpec,
        checkpoint: CheckpointInfo,
        runtime: ModuleType,
        tokenizer: Any,
        model: Any,
        kind: ThinkingKind,
        dtype: str,
        start: float,
    ) -> _State:
        eos: set[int] = set()
        configured = getattr(model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            eos.add(configured)
        elif configured:
            eos.update(int(i) for i in configured)
        im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != getattr(tokenizer, "unk_token_id", None):
            eos.add(im_end)
        if tokenizer.eos_token_id is not None:
            eos.add(int(tokenizer.eos_token_id))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos, default=0)
        text_config = model.config.get_text_config()
        window = int(
            getattr(text_config, "max_position_embeddings", None)
            or checkpoint.context_window_tokens
            or 0
        )
        parameters = checkpoint.parameters or int(model.num_parameters())
        device = runtime.model_device(model)
        info = LoadedModel(
            name=spec.name or checkpoint.path.name,
            engine=ENGINE_NAME,
            device=device,
            dtype=dtype,
            parameters=parameters,
            weights_bytes=checkpoint.weights_bytes,
            capabilities=BackendCapabilities(
                vision=False, thinking_kind=kind, context_window_tokens=window
            ),
            load_seconds=time.perf_counter() - start,
        )
        return _State(
            info, checkpoint, runtime, tokenizer, model, device, kind, frozenset(eos), int(pad)
        )


def open_model_folder(path: Path, name: str = "") -> ModelSpec:
    """A :class:`ModelSpec` for a local folder (display name: the folder's name)."""
    return ModelSpec(name=name or Path(path).name, path=Path(path))
