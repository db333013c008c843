"""The in-process Transformers engine: a local Hugging Face checkpoint behind :class:`ChatBackend`.

Importing this module is cheap: torch and transformers are imported inside :meth:`load` (through
:mod:`qwen_desktop.engines.transformers_runtime`), so the app starts fast and runs without the
``ml`` extra.

Streaming (see ARCHITECTURE.md, "The backend seam"): ``model.generate`` runs on its own
``threading.Thread`` (not the default executor, so a stopped generation never holds an executor
slot). A streamer object hands each token id to an :class:`asyncio.Queue` through
``loop.call_soon_threadsafe``; the async generator detokenizes incrementally, feeds the text to the
shared :class:`~qwen_desktop.core.thinking.ThinkingParser`, and yields events. Stop = cancel the
consuming task: the generator's ``finally`` sets a :class:`threading.Event` that a stopping
criterion checks after every token, then waits (without blocking the loop) for the thread's end.

Images (vision-language checkpoints such as Qwen2.5-VL): each user message's images become
``{"type": "image"}`` content parts before its text, so the chat template writes one
``<|vision_start|><|image_pad|><|vision_end|>`` per image; the Qwen2-VL image processor turns the
decoded images into ``pixel_values`` and ``image_grid_thw`` (with the app's pixel budget,
:data:`~qwen_desktop.core.images.DEFAULT_BUDGET`, so the cost shown is the cost paid), and each
``<|image_pad|>`` is repeated once per visual token (patches / merge², as transformers'
``Qwen2_5_VLProcessor`` does). Images sent to a model that cannot see are refused, never dropped.

Thinking budget (``ChatRequest.thinking_budget_tokens``, Qwen3 Technical Report §4.3; policy in
:mod:`qwen_desktop.core.thinking_budget`): once the thinking reaches the budget, the generation is
stopped, the stop-thinking text is shown as the end of the thinking, and a second ``generate``
continues from prompt + output so far + that text (``…directly now.\n</think>.\n\n``), capped
at the answer tokens left; the model then answers from its reasoning so far.

Tools (``ChatRequest.tools``): passed to the chat template as ``tools=`` (OpenAI's function shape,
which Qwen's templates print inside ``<tools>``); earlier calls go in as assistant ``tool_calls``
and results as ``tool`` messages (the templates wrap them in ``<tool_response>``). The model's
``<tool_call>`` text is split out of the answer by :mod:`qwen_desktop.core.tool_calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from qwen_desktop.core.errors import CheckpointError, GenerationError, NoModelLoadedError
from qwen_desktop.core.images import DEFAULT_BUDGET
from qwen_desktop.core.thinking import ThinkingParser, prompt_opens_thinking
from qwen_desktop.core.thinking_budget import CloseThinking, ThinkingBudget, budget_applies
from qwen_desktop.core.tool_calls import ToolCallSplitter, template_tool_calls
from qwen_desktop.core.types import (
    ChatRequest,
    SamplingSettings,
    StreamEvent,
    ThinkingKind,
)
from qwen_desktop.engines.base import EngineBase, LoadedModel, ModelSpec
from qwen_desktop.engines.checkpoint import inspect_checkpoint
from qwen_desktop.engines.detokenizer import IncrementalDetokenizer
from qwen_desktop.engines.generation import (
    GenerationJob,
    OutputDecoder,
    TokenStreamer,
    TurnStats,
    answer_budget,
    stream_error_for,
)
from qwen_desktop.engines.transformers_loading import (
    IMAGE_PAD_TOKEN,
    LoadedTransformersModel,
    load_transformers_model,
)


class TransformersBackend(EngineBase):
    """Runs a local Hugging Face checkpoint in this process with torch + transformers.

    Args:
        device: Force ``"cpu"``, ``"cuda"`` or ``"mps"``; None picks the best available (see
            :func:`~qwen_desktop.engines.transformers_loading.choose_device_and_dtype`).
        quantization: Load option ``bf16``, ``fp16``, ``fp32``, ``int8`` or ``nf4`` (the last two
            through bitsandbytes, CUDA only; see
            :func:`~qwen_desktop.engines.transformers_quant.plan_load`); None picks the dtype.

    One answer at a time: a second :meth:`stream_chat` while one runs raises
    :class:`~qwen_desktop.core.errors.GenerationError`.
    """

    engine_name = "transformers"

    def __init__(self, *, device: str | None = None, quantization: str | None = None) -> None:
        super().__init__()
        self._device_override = device
        self._quantization = quantization
        self._state: LoadedTransformersModel | None = None
        self._job: GenerationJob | None = None

    # -- ChatBackend -------------------------------------------------------------------------

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
        state = await asyncio.to_thread(
            load_transformers_model,
            model,
            checkpoint,
            device=self._device_override,
            start=start,
            quantization=self._quantization,
        )
        self._state, self._loaded = state, state.info
        return state.info

    async def unload(self) -> None:
        """Stop any running generation and free the model's memory."""
        job = self._job
        if job is not None and job.running:
            job.request_stop()
            await asyncio.to_thread(job.finished.wait)
        state, self._state, self._loaded = self._state, None, None
        if state is not None:
            runtime, device = state.runtime, state.device
            del state
            await asyncio.to_thread(runtime.free_memory, device)

    def render_prompt(self, request: ChatRequest) -> str:
        """The prompt text the chat template makes of a request.

        Only ``role`` and ``content`` of each message are passed (earlier thinking is never sent
        back; Qwen's rule), plus one image part per attached image for models that can see.
        ``enable_thinking`` is passed only to hybrid models and only when ``request.thinking`` is
        not None. Image placeholders appear once per image here (not yet repeated per token).

        Raises:
            NoModelLoadedError: Nothing is loaded.
        """
        state = self._require_state()
        return self._render(state, request)

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        """Tokens of the rendered prompt, visual tokens included (for a context meter).

        Raises:
            NoModelLoadedError: Nothing is loaded.
            GenerationError: The request has images and the model cannot take them, or an image
                cannot be decoded.
        """
        state = self._require_state()
        return len(self._prepare(state, request)[1])

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream one answer: thinking/answer deltas, then :class:`Usage` (or :class:`StreamError`).

        Cancel the consuming task (or close the generator) to stop: generation stops within a
        token, the generator waits for the generation thread to end, and no Usage follows.

        Raises:
            NoModelLoadedError: Nothing is loaded (on first iteration).
            ContextWindowExceededError: The prompt alone fills the context window (nothing is
                truncated silently; an answer that would overflow the window is capped at the room
                left and reported through ``Usage.context_window_full``).
            GenerationError: Another answer is still being generated; the request has images
                and the model cannot see; an image cannot be decoded.
        """
        state = self._require_state()
        with self._one_stream():
            async with contextlib.aclosing(self._stream(state, request)) as events:
                async for event in events:
                    yield event

    async def _stream(
        self, state: LoadedTransformersModel, request: ChatRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """The body of :meth:`stream_chat` (one answer, guarded there)."""
        stats = TurnStats(time.perf_counter())
        opens_thinking, prompt_ids, vision = await asyncio.to_thread(self._prepare, state, request)
        budget = answer_budget(
            len(prompt_ids),
            request.sampling.max_new_tokens,
            state.info.capabilities.context_window_tokens,
        )
        sampling = dataclasses.replace(request.sampling, max_new_tokens=budget)
        parser = ThinkingParser(
            starts_in_thinking=opens_thinking,
            detect_unopened_close=state.kind is not ThinkingKind.INSTRUCT_ONLY,
        )
        tokenizer = state.tokenizer
        detokenizer = IncrementalDetokenizer(
            lambda ids: str(
                tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            )
        )
        output = OutputDecoder(
            detokenizer,
            parser,
            stats,
            state.eos_ids,
            self._thinking_limiter(state, request, opens_thinking),
        )
        splitter = ToolCallSplitter(request.tools) if request.tools else None
        cut: CloseThinking | None = None  # set from the budget's cut until the continuation
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        job = self._start_job(state, prompt_ids, sampling, queue, vision)
        jobs, ended = [job], False
        try:
            while True:
                item = await queue.get()
                if item[0] == "end":
                    _, error, t_end = item
                    if cut is not None and error is None:  # the thinking is closed: now answer
                        done = output.generated
                        more = self._continue_after_cut(
                            state, prompt_ids + done, cut, budget - len(done), sampling
                        )
                        cut = None
                        if more is not None:
                            job = self._start_job(state, *more, queue, vision)
                            jobs.append(job)
                            continue
                    ended = True
                    break
                if cut is not None:
                    continue  # generated after the budget's stop request: not part of the output
                events, cut = output.token(item[1], item[2])
                if cut is not None:
                    job.request_stop()  # then continue after the stop-thinking text
                for event in _split(splitter, events):
                    yield event

            for event in _split(splitter, output.finish(), last=True):
                yield event
            if error is not None:
                yield stream_error_for(
                    error, out_of_memory=bool(state.runtime.is_out_of_memory(error))
                )
                return
            yield stats.usage(
                prompt_tokens=len(prompt_ids),
                t_end=t_end,
                eos_ids=state.eos_ids,
                max_new_tokens=budget,
                thinking_incomplete=parser.thinking_incomplete,
                context_window_full=budget < request.sampling.max_new_tokens,
            )
        finally:
            if not ended:  # cancelled or closed early: stop the thread, wait without blocking
                job.request_stop()
                while (await queue.get())[0] != "end":
                    pass
            # The threads have sent their last items; let them exit before we return, so no torch
            # code is still running when the caller (or the interpreter) tears things down.
            for each in jobs:
                if each.thread is not None:
                    await asyncio.to_thread(each.thread.join)

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _thinking_limiter(
        state: LoadedTransformersModel, request: ChatRequest, opens_thinking: bool
    ) -> ThinkingBudget | None:
        """The request's thinking budget, or None when it has none or the turn does not think."""
        tokens = request.thinking_budget_tokens
        if not tokens or not budget_applies(state.kind, request.thinking):
            return None
        return ThinkingBudget(tokens, starts_in_thinking=opens_thinking)

    @classmethod
    def _continue_after_cut(
        cls,
        state: LoadedTransformersModel,
        ids_so_far: list[int],
        cut: CloseThinking,
        tokens_left: int,
        sampling: SamplingSettings,
    ) -> tuple[list[int], SamplingSettings] | None:
        """Input ids and settings of the generation that answers after the budget's cut.

        The input is prompt + output so far + the stop-thinking text; the answer may take the
        tokens left of the answer budget, capped by the room left in the context window. None
        when no room is left.
        """
        continuation = ids_so_far + cls._encode(state, cut.model_text)
        room = min(tokens_left, state.info.capabilities.context_window_tokens - len(continuation))
        if room <= 0:
            return None
        return continuation, dataclasses.replace(sampling, max_new_tokens=room)

    def _start_job(
        self,
        state: LoadedTransformersModel,
        prompt_ids: list[int],
        sampling: SamplingSettings,
        queue: asyncio.Queue[tuple[Any, ...]],
        vision: Any = None,
    ) -> GenerationJob:
        """Start ``generate`` on a new thread feeding ``queue``; it ends with an ``end`` item."""
        loop = asyncio.get_running_loop()

        def send(item: tuple[Any, ...]) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        job = GenerationJob()
        config = state.runtime.make_generation_config(sampling, sorted(state.eos_ids), state.pad_id)
        streamer = TokenStreamer(send, job)

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
                    token_limit=state.token_limit,
                    vision=vision,
                )
            except BaseException as exc:  # reported to the consumer as a StreamError
                error = exc
            job.finished.set()
            send(("end", error, time.perf_counter()))

        job.thread = threading.Thread(target=run, name="transformers-generate", daemon=True)
        self._job = job
        job.thread.start()
        return job

    def _require_state(self) -> LoadedTransformersModel:
        if self._state is None:
            raise NoModelLoadedError()
        return self._state

    @staticmethod
    def _render(
        state: LoadedTransformersModel, request: ChatRequest, *, generation_prompt: bool = True
    ) -> str:
        see = state.image_processor is not None
        messages: list[dict[str, Any]] = []
        for m in request.messages:
            if see and m.images:
                parts = [{"type": "image"} for _ in m.images]
                content: Any = [*parts, {"type": "text", "text": m.content}]
            else:
                content = m.content
            message: dict[str, Any] = {"role": m.role, "content": content}
            if m.tool_calls:
                message["tool_calls"] = template_tool_calls(m.tool_calls)
            if m.role == "tool" and m.tool_name:
                message["name"] = m.tool_name
            messages.append(message)
        kwargs: dict[str, Any] = {}
        if request.tools:
            kwargs["tools"] = [tool.as_openai() for tool in request.tools]
        if state.kind is ThinkingKind.HYBRID and request.thinking is not None:
            kwargs["enable_thinking"] = request.thinking
        return str(
            state.tokenizer.apply_chat_template(
                messages, add_generation_prompt=generation_prompt, tokenize=False, **kwargs
            )
        )

    @classmethod
    def _generation_prompt_opens_thinking(
        cls, state: LoadedTransformersModel, request: ChatRequest, prompt: str
    ) -> bool:
        """True when the template's generation prompt ends inside an open ``<think>`` block.

        Only what the template appends for the answer counts (the
        ``<|im_start|>assistant\\n<think>\\n`` of Thinking-2507 models): a ``<think>`` the user
        typed into a message must not make the whole answer count as thinking. Templates whose
        prompt does not extend the conversation rendered without a generation prompt are judged
        on the whole prompt.
        """
        conversation = cls._render(state, request, generation_prompt=False)
        suffix = prompt[len(conversation) :] if prompt.startswith(conversation) else prompt
        return prompt_opens_thinking(suffix)

    @staticmethod
    def _encode(state: LoadedTransformersModel, prompt: str) -> list[int]:
        return list(state.tokenizer.encode(prompt, add_special_tokens=False))

    @classmethod
    def _prepare(
        cls, state: LoadedTransformersModel, request: ChatRequest
    ) -> tuple[bool, list[int], Any]:
        """Render, prepare images and tokenize (off the event loop: milliseconds to seconds).

        Returns:
            Whether the prompt opened a thinking block, the prompt's token ids (image
            placeholders repeated once per visual token), and the
            :class:`~qwen_desktop.engines.transformers_runtime.VisionInputs` (None without
            images).

        Raises:
            GenerationError: Images for a model that cannot see, an undecodable image, or a chat
                template that leaves out image placeholders.
        """
        images = [image for m in request.messages for image in m.images]
        if images and state.image_processor is None:
            raise GenerationError(
                f"{state.info.name} cannot see images. {state.vision_problem}".strip(),
                "Remove the images, or load a vision model (Qwen2.5-VL, Qwen3-VL, Qwen3.5).",
            )
        prompt = cls._render(state, request)
        opens = cls._generation_prompt_opens_thinking(state, request, prompt)
        if not images:
            return opens, cls._encode(state, prompt), None
        placeholders = prompt.count(IMAGE_PAD_TOKEN)
        if placeholders != len(images):
            raise GenerationError(
                f"The chat template of {state.info.name} placed {placeholders} image "
                f"placeholder(s) for {len(images)} image(s).",
                "The checkpoint's chat template does not handle images: download the model again.",
            )
        try:
            vision = state.runtime.prepare_images(
                state.image_processor,
                images,
                min_pixels=DEFAULT_BUDGET.min_pixels,
                max_pixels=DEFAULT_BUDGET.max_pixels,
            )
        except ValueError as error:
            raise GenerationError(
                f"An attached image could not be read: {error}.",
                "Remove that image and attach it again, or attach another file.",
            ) from error
        pieces = prompt.split(IMAGE_PAD_TOKEN)
        expanded = pieces[0] + "".join(
            IMAGE_PAD_TOKEN * tokens + piece
            for tokens, piece in zip(vision.tokens_per_image, pieces[1:], strict=True)
        )
        return opens, cls._encode(state, expanded), vision


def _split(
    splitter: ToolCallSplitter | None, events: list[Any], *, last: bool = False
) -> list[StreamEvent]:
    """The events with tool calls split out of the answer text (when tools were offered);
    ``last``: the answer's text ends here (what the splitter holds is flushed)."""
    if splitter is None:
        return list(events)
    split = [out for event in events for out in splitter.feed(event)]
    return split + splitter.finish() if last else split


def open_model_folder(path: Path, name: str = "") -> ModelSpec:
    """A :class:`ModelSpec` for a local folder (display name: the folder's name by default)."""
    return ModelSpec(name=name or Path(path).name, path=Path(path))
