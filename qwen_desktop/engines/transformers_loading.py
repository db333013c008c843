"""Loading a checked checkpoint into torch + transformers: device and dtype, tokenizer, weights,
the thinking kind of the chat template, end-of-turn tokens.

:func:`load_transformers_model` is blocking (run it on a worker thread) and imports the ML stack
through :mod:`qwen_desktop.engines.transformers_runtime`; importing this module stays cheap.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from qwen_desktop.core.errors import CheckpointError, EngineUnavailableError
from qwen_desktop.core.stop_tokens import QWEN_STOP_TOKENS
from qwen_desktop.core.thinking import prompt_opens_thinking
from qwen_desktop.core.types import BackendCapabilities, ThinkingKind
from qwen_desktop.engines.base import LoadedModel, ModelSpec
from qwen_desktop.engines.checkpoint import CheckpointInfo
from qwen_desktop.engines.generation import describe_error
from qwen_desktop.engines.transformers_quant import bitsandbytes_config, plan_load

ENGINE_NAME = "transformers"
ML_EXTRA_ACTION = "pip install 'qwen-desktop[ml]'"
CPU_FLOAT32_RAM_FRACTION = 0.4
"""On CPU, weights load in float32 when ``parameters × 4 bytes`` is below this share of the
available RAM (float32 is the fastest and most exact CPU path for small models); otherwise in
bfloat16, which halves the memory and is supported by recent CPUs' matmul kernels."""

PREPROCESSOR_CONFIG = "preprocessor_config.json"
"""The image processor's settings in a vision-language checkpoint (patch and merge sizes, pixel
budget)."""
IMAGE_PAD_TOKEN = "<|image_pad|>"
"""Qwen-VL's placeholder token: the chat template writes one per image, the prompt holds one per
visual token (source: Qwen2.5-VL's ``processing_qwen2_5_vl.py`` in transformers)."""

_PROBE_MESSAGES = [{"role": "user", "content": "Hello"}]
_RUNTIME_MODULE = "qwen_desktop.engines.transformers_runtime"


@dataclass
class LoadedTransformersModel:
    """A model in memory with everything a stream needs."""

    info: LoadedModel
    checkpoint: CheckpointInfo
    runtime: ModuleType
    tokenizer: Any
    model: Any
    device: str
    kind: ThinkingKind
    eos_ids: frozenset[int]
    pad_id: int
    token_limit: int | None = None
    """Ids at or above this have no token (the output layer has more rows than the tokenizer
    has tokens, as Qwen3's 151,936 for 151,669) and are never generated; None: no such ids."""
    image_processor: Any = None
    """The Qwen2-VL image processor when the model can take images; None for text-only ones."""
    vision_problem: str = ""
    """Why a vision-language checkpoint cannot take images here ("" if it can or is text-only)."""


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


def available_ram_bytes() -> int:
    """RAM available to new allocations now, in bytes (0 when unknown)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or unsupported platform
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 0


def import_runtime() -> ModuleType:
    """The torch-side module.

    Raises:
        EngineUnavailableError: torch or transformers is not installed (the ``ml`` extra).
    """
    try:
        return importlib.import_module(_RUNTIME_MODULE)
    except ImportError as error:
        raise EngineUnavailableError(
            f"The Transformers engine needs the ml extra ({describe_error(error)}).",
            ML_EXTRA_ACTION,
        ) from error


def load_transformers_model(
    spec: ModelSpec,
    checkpoint: CheckpointInfo,
    *,
    device: str | None,
    start: float,
    quantization: str | None = None,
) -> LoadedTransformersModel:
    """Load tokenizer and weights of a checked checkpoint (blocking).

    Args:
        spec: What was asked for (its name is shown).
        checkpoint: The result of :func:`~qwen_desktop.engines.checkpoint.inspect_checkpoint`.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` to force one; None picks the best.
        start: ``time.perf_counter()`` when loading began (for ``load_seconds``).
        quantization: A load option (``bf16``, ``fp16``, ``fp32``, ``int8``, ``nf4``; see
            :func:`~qwen_desktop.engines.transformers_quant.plan_load`); None picks the dtype.

    Raises:
        EngineUnavailableError: No ml extra, the forced device is missing, out of memory, or
            int8/nf4 asked for where bitsandbytes cannot run (CPU, MPS) or is not installed.
        CheckpointError: transformers cannot read the tokenizer, template or weights (the cause
            in one line, never a traceback).
    """
    runtime = import_runtime()
    path = checkpoint.path
    cuda, cuda_bf16, mps = runtime.device_facts()
    if device is not None:
        cuda, mps = device.startswith("cuda") and cuda, device == "mps" and mps
        if device != "cpu" and not (cuda or mps):
            raise EngineUnavailableError(
                f"The device {device!r} is not available here.",
                "Choose another device (cpu is always available).",
            )
    device_name, dtype = choose_device_and_dtype(
        cuda=cuda,
        cuda_bf16=cuda_bf16,
        mps=mps,
        parameters=checkpoint.parameters,
        available_ram_bytes=available_ram_bytes(),
    )
    quant_config, dtype_label = None, dtype
    if quantization is not None:
        plan = plan_load(quantization, device=device_name, cuda_bf16=cuda_bf16)
        dtype, dtype_label = plan.dtype, plan.label
        quant_config = bitsandbytes_config(plan) if plan.bitsandbytes else None
    try:
        tokenizer = runtime.load_tokenizer(path)
    except Exception as error:
        raise CheckpointError(
            f"The tokenizer of {path.name} could not be loaded: {describe_error(error)}",
            "The tokenizer files may be damaged or too new for the installed transformers: "
            "download the model again or update transformers.",
        ) from error
    kind = _template_kind(tokenizer, path.name)
    try:
        model = runtime.load_model(
            path,
            device=device_name,
            dtype=dtype,
            vision=checkpoint.has_vision,
            quantization_config=quant_config,
        )
    except Exception as error:
        if runtime.is_out_of_memory(error):
            raise EngineUnavailableError(
                f"Not enough memory to load {path.name} on {device_name} in {dtype}.",
                "Close other programs, or pick a smaller model or a quantized build.",
            ) from error
        raise CheckpointError(
            f"The model in {path.name} could not be loaded: {describe_error(error)}",
            "The files may be damaged or need a newer transformers: download the model again "
            "or update transformers.",
        ) from error

    eos_ids = _eos_ids(tokenizer, model)
    token_limit = _token_limit(tokenizer, model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids, default=0)
    window = int(
        getattr(model.config.get_text_config(), "max_position_embeddings", None)
        or checkpoint.context_window_tokens
        or 0
    )
    actual_device = runtime.model_device(model)
    image_processor, vision_problem = (
        _vision_support(runtime, path, tokenizer) if checkpoint.has_vision else (None, "")
    )
    info = LoadedModel(
        name=spec.name or path.name,
        engine=ENGINE_NAME,
        device=actual_device,
        dtype=dtype_label,
        parameters=checkpoint.parameters or int(model.num_parameters()),
        weights_bytes=checkpoint.weights_bytes,
        capabilities=BackendCapabilities(
            vision=image_processor is not None,
            thinking_kind=kind,
            context_window_tokens=window,
        ),
        load_seconds=time.perf_counter() - start,
    )
    return LoadedTransformersModel(
        info=info,
        checkpoint=checkpoint,
        runtime=runtime,
        tokenizer=tokenizer,
        model=model,
        device=actual_device,
        kind=kind,
        eos_ids=eos_ids,
        pad_id=int(pad),
        token_limit=token_limit,
        image_processor=image_processor,
        vision_problem=vision_problem,
    )


def _vision_support(runtime: ModuleType, path: Path, tokenizer: Any) -> tuple[Any, str]:
    """The image processor of a vision-language checkpoint, or None and the reason it is missing.

    A checkpoint whose image side is unusable still chats in text; images are then refused with
    the returned reason (never dropped silently).
    """
    if not (path / PREPROCESSOR_CONFIG).is_file():
        return None, (
            f"{path.name} has no {PREPROCESSOR_CONFIG}, which says how to cut images into patches."
        )
    image_token = tokenizer.convert_tokens_to_ids(IMAGE_PAD_TOKEN)
    if not isinstance(image_token, int) or image_token == getattr(tokenizer, "unk_token_id", None):
        return None, f"The tokenizer of {path.name} has no {IMAGE_PAD_TOKEN} token for images."
    try:
        return runtime.load_image_processor(path), ""
    except Exception as error:
        return None, (
            f"The image processor of {path.name} could not be loaded: {describe_error(error)}"
        )


def _template_kind(tokenizer: Any, folder: str) -> ThinkingKind:
    if not getattr(tokenizer, "chat_template", None):
        raise CheckpointError(
            f"The tokenizer of {folder} has no chat template, so it cannot chat.",
            "This is probably a base (pretrained) model: pick its Instruct or chat variant.",
        )
    try:
        return detect_thinking_kind(
            lambda on: str(
                tokenizer.apply_chat_template(
                    _PROBE_MESSAGES, add_generation_prompt=True, tokenize=False, enable_thinking=on
                )
            )
        )
    except Exception as error:
        raise CheckpointError(
            f"The chat template of {folder} fails to render: {describe_error(error)}",
            "The template may need a newer transformers: update it, or use the Ollama engine.",
        ) from error


def _token_limit(tokenizer: Any, model: Any) -> int | None:
    """One past the tokenizer's highest id when the model's output layer has more rows than that.

    Real checkpoints pad their vocabulary (Qwen3: 151,936 rows, 151,669 tokens). Ids past the
    last token decode to nothing, so generating them would print nothing at all.
    """
    rows = getattr(model.config.get_text_config(), "vocab_size", None)
    if not isinstance(rows, int):
        return None
    vocab = tokenizer.get_vocab()
    known = max(vocab.values()) + 1 if vocab else 0
    return known if 0 < known < rows else None


def _eos_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """End-of-turn ids: generation_config's eos ids, Qwen's stop tokens (``<|im_end|>``,
    ``<|endoftext|>``, ``<|im_start|>``; :data:`~qwen_desktop.core.stop_tokens.QWEN_STOP_TOKENS`)
    where the vocabulary has them, and the tokenizer's eos."""
    eos: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        eos.add(configured)
    elif configured:
        eos.update(int(i) for i in configured)
    for stop in QWEN_STOP_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(stop)
        if isinstance(token_id, int) and token_id != getattr(tokenizer, "unk_token_id", None):
            eos.add(token_id)
    if tokenizer.eos_token_id is not None:
        eos.add(int(tokenizer.eos_token_id))
    return frozenset(eos)
