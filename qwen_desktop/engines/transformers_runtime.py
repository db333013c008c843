"""The torch/transformers side of :mod:`qwen_desktop.engines.transformers_backend`.

This module imports torch and transformers at the top, so it is imported lazily (inside
``TransformersBackend.load``) and only when the ``ml`` extra is installed. Everything here runs on
worker threads; nothing touches asyncio.
"""

from __future__ import annotations

import gc
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


def load_image_processor(path: Path) -> Any:
    """The checkpoint's Qwen2-VL image processor (PIL-based), from ``preprocessor_config.json``.

    The PIL implementation is used on purpose: the default (fast) one and ``AutoProcessor`` need
    torchvision, which is not part of the ``ml`` extra. Qwen2.5-VL and Qwen3-VL both use this
    processor class (with their own patch and merge sizes from the config file).

    Raises:
        OSError, ValueError, ImportError: The file is missing or unreadable, or the installed
            transformers has no PIL-based Qwen2-VL image processor.
    """
    processor_class: Any
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil,
        )

        processor_class = Qwen2VLImageProcessorPil
    except ImportError:  # transformers 4.x: the slow processor is the PIL one
        from transformers import Qwen2VLImageProcessor

        processor_class = Qwen2VLImageProcessor
    return processor_class.from_pretrained(str(path), local_files_only=True)


@dataclass(frozen=True)
class VisionInputs:
    """Images as the vision tower takes them.

    Attributes:
        pixel_values: Flattened patches of every image, shape ``(patches, channels · temporal
            patch · patch²)``.
        image_grid_thw: ``(images, 3)``: temporal, height and width of each image in patches.
        tokens_per_image: Visual tokens each image takes in the prompt (patches / merge²).
    """

    pixel_values: Any
    image_grid_thw: Any
    tokens_per_image: tuple[int, ...]


def prepare_images(
    image_processor: Any, images: Sequence[bytes], *, min_pixels: int, max_pixels: int
) -> VisionInputs:
    """Decode encoded image files and run the image processor on them.

    Args:
        image_processor: From :func:`load_image_processor`.
        images: Encoded files (PNG, JPEG, …), in prompt order.
        min_pixels: Fewest pixels per image after the processor's ``smart_resize``.
        max_pixels: Most pixels per image (the app's budget, so the cost shown is the cost paid).

    Raises:
        ValueError: An image cannot be decoded (the decoder's reason).
    """
    from PIL import Image, UnidentifiedImageError

    decoded = []
    for number, data in enumerate(images, start=1):
        try:
            with Image.open(io.BytesIO(data)) as image:
                decoded.append(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"image {number} cannot be decoded ({error})") from error
    batch = image_processor(
        images=decoded,
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        return_tensors="pt",
    )
    grid = batch["image_grid_thw"]
    merge = int(getattr(image_processor, "merge_size", 2))
    tokens = tuple(int(row.prod()) // merge**2 for row in grid)
    return VisionInputs(batch["pixel_values"], grid, tokens)


def load_model(
    path: Path, *, device: str, dtype: str, vision: bool, quantization_config: Any = None
) -> Any:
    """The checkpoint's causal LM on ``device`` in ``dtype``, in eval mode.

    Vision-language checkpoints (Qwen2.5-VL, Qwen3-VL) have no causal-LM class; they load through
    ``AutoModelForImageTextToText`` (images then go to :func:`generate` as ``vision``).
    ``quantization_config`` (a ``BitsAndBytesConfig``, see
    :mod:`qwen_desktop.engines.transformers_quant`) quantizes the weights while they load.
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
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its load report goes to stderr; problems are raised below
    try:
        model, info = auto_class.from_pretrained(str(path), output_loading_info=True, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    check_loaded_weights(info, tied=bool(getattr(model.config, "tie_word_embeddings", False)))
    model.eval()
    return model


def check_loaded_weights(info: dict[str, Any], *, tied: bool) -> None:
    """Refuse a model whose weights did not all come from the checkpoint.

    transformers loads a checkpoint that lacks some of the model's tensors (or whose tensors
    have other shapes, with ``ignore_mismatched_sizes``) and fills them with random values,
    reporting it only in a log table: such a model answers noise. ``info`` is what
    ``from_pretrained(output_loading_info=True)`` returns.

    Raises:
        ValueError: Some weights are missing or of another shape (names the first few).
    """
    missing = sorted(
        key
        for key in info.get("missing_keys") or ()
        if not (tied and key.endswith("lm_head.weight"))  # tied to the input embeddings
    )
    mismatched = sorted(str(item[0] if isinstance(item, tuple) else item)
                        for item in info.get("mismatched_keys") or ())  # fmt: skip
    for what, keys in (("missing from the checkpoint", missing), ("of another shape", mismatched)):
        if keys:
            shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            raise ValueError(
                f"{len(keys)} of the model's weights are {what} ({shown}); loaded anyway they "
                "would be random and the model would answer noise"
            )


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
    vision: VisionInputs | None = None,
) -> None:
    """Run ``model.generate`` for one prompt (blocking; call it on a worker thread).

    Tokens reach ``streamer.put`` one by one (the first call carries the prompt). With
    ``token_limit``, ids at or above it are never generated (see :class:`SuppressIdsFrom`).
    With ``vision``, ``pixel_values`` and ``image_grid_thw`` go to the model as well (the prompt
    then holds one image-pad token per visual token).
    """
    with torch.inference_mode():
        if seed is not None:
            torch.manual_seed(seed)
        input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
        extra: dict[str, Any] = {}
        if vision is not None:
            extra["pixel_values"] = vision.pixel_values.to(model.device, dtype=model.dtype)
            extra["image_grid_thw"] = vision.image_grid_thw.to(model.device)
        model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            generation_config=config,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([StopOnEvent(stop_event)]),
            logits_processor=LogitsProcessorList(
                [] if token_limit is None else [SuppressIdsFrom(token_limit)]
            ),
            **extra,
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
