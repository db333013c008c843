"""The torch/transformers side of :mod:`qwen_desktop.backends.transformers_backend`.

This module imports torch and transformers at the top, so it is imported lazily (inside
``TransformersBackend.load``) and only when the ``ml`` extra is installed. Everything here runs on
worker threads; nothing touches asyncio.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.utils import logging as hf_logging

from qwen_desktop.core.types import SamplingSettings


def device_facts() -> tuple[bool, bool, bool]:
    """(CUDA available, CUDA supports bfloat16, Apple MPS available)."""
    cuda = torch.cuda.is_available()
    cuda_bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    return cuda, cuda_bf16, mps


def load_tokenizer(path: Path) -> Any:
    """The checkpoint's tokenizer, from local files only."""
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def load_model(
    path: Path, *, device: str, dtype: str, vision: bool, quantization_config: Any = None
) -> Any:
    """The checkpoint's causal LM on ``device`` in ``dtype``, in eval mode.

    Vision-language checkpoints (Qwen2.5-VL, Qwen3-VL) have no causal-LM class; they load through
    ``AutoModelForImageTextToText`` and are used for text chat. ``quantization_config`` (a
    ``BitsAndBytesConfig``, see :mod:`qwen_desktop.backends.transformers_quant`) quantizes the
    weights while they load.
    """
    if vision:
        from transformers import AutoModelForImageTextToText

        auto_class: Any = AutoModelForImageTextToText
    else:
        auto_class = AutoModelForCausalLM
    hf_logging.disable_progress_bar()  # the app shows its own loading state; keep stderr quiet
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": getattr(torch, dtype)}
    if device != "cpu":
        kwargs["device_map"] = device  # straight onto the accelerator, no second copy in RAM
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    model = auto_class.from_pretrained(str(path), **kwargs)
    model.eval()
    return model


def model_device(model: Any) -> str:
    """``cpu``, ``cuda:0``, ``mps:0``…"""
    return str(model.device)


def is_out_of_memory(error: BaseException) -> bool:
    """True for torch's (CUDA/MPS) out-of-memory errors and Python's MemoryError."""
    oom = getattr(torch, "OutOfMemoryError", None)
    return isinstance(error, MemoryError) or (oom is not None and isinstance(error, oom))


class StopOnEvent(StoppingCriteria):
    """Stops generation once ``event`` is set; checked after every generated token."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        flag = self.event.is_set()
        return torch.full(  # type: ignore[return-value]
            (input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device
        )


class SuppressIdsFrom(LogitsProcessor):
    """Gives ids ``>= first`` no chance: output rows the tokenizer has no token for.

    Qwen3's output layer has 151,936 rows for 151,669 tokens (padding for fast matmuls); an id
    without a token decodes to nothing, so a model that emits them (random, damaged or badly
    converted weights) would burn the whole answer budget printing nothing. It runs before
    temperature/top-k/top-p, so sampling only ever sees real tokens.
    """

    def __init__(self, first: int) -> None:
        self.first = first

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[:, self.first :] = float("-inf")
        return scores


def make_generation_config(
    sampling: SamplingSettings, eos_ids: list[int], pad_id: int
) -> GenerationConfig:
    """A GenerationConfig for one request.

    ``temperature == 0`` means greedy decoding (``do_sample=False``); the sampling knobs are then
    set to neutral values so the model's own generation_config cannot leak sampling values in
    (transformers fills unset fields from it). ``top_k == 0`` and ``min_p == 0`` disable those
    filters.
    """
    greedy = sampling.temperature <= 0
    return GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        do_sample=not greedy,
        temperature=1.0 if greedy else sampling.temperature,
        top_p=1.0 if greedy else sampling.top_p,
        top_k=50 if greedy else sampling.top_k,  # 50: transformers' default, unused when greedy
        min_p=None if greedy or sampling.min_p <= 0 else sampling.min_p,
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
    )


def generate(
    model: Any,
    prompt_ids: list[int],
    *,
    config: GenerationConfig,
    streamer: Any,
    stop_event: threading.Event,
    seed: int | None,
    token_limit: int | None = None,
) -> None:
    """Run ``model.generate`` for one prompt (blocking; call it on a worker thread).

    Tokens reach ``streamer.put`` one by one (the first call carries the prompt). With
    ``token_limit``, ids at or above it are never generated (see :class:`SuppressIdsFrom`).
    """
    with torch.inference_mode():
        if seed is not None:
            torch.manual_seed(seed)
        input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
        model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            generation_config=config,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([StopOnEvent(stop_event)]),
            logits_processor=LogitsProcessorList(
                [] if token_limit is None else [SuppressIdsFrom(token_limit)]
            ),
        )


def free_memory(device: str) -> None:
    """Collect garbage and return cached accelerator memory to the driver."""
    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.startswith("mps"):
        empty: Callable[[], None] | None = getattr(getattr(torch, "mps", None), "empty_cache", None)
        if empty is not None:
            empty()
