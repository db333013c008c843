"""Load options of the Transformers engine: a dtype (bf16, fp16, fp32) or bitsandbytes
quantization (int8 = LLM.int8, nf4 = 4-bit NormalFloat), the same options the fit estimate
weighs (:data:`qwen_desktop.core.fit_engines.TRANSFORMERS_DTYPES`).

bitsandbytes quantizes on NVIDIA GPUs through CUDA; on CPU and Apple MPS this module refuses with
a message that says what to use instead, before anything is loaded. bitsandbytes itself is the
``cuda`` extra (``pip install 'qwen-desktop[cuda]'``) and is imported only by transformers, when a
quantized model loads. Importing this module stays cheap (no torch, no transformers).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from qwen_desktop.core.errors import EngineUnavailableError
from qwen_desktop.core.fit_engines import TRANSFORMERS_DTYPES, normalize_quant

BNB_QUANTS = ("int8", "nf4")
"""Options loaded through bitsandbytes (CUDA only)."""
CUDA_EXTRA_ACTION = "pip install 'qwen-desktop[cuda]'"


@dataclass(frozen=True)
class LoadPlan:
    """How to load weights for one option.

    Attributes:
        quant: The canonical option (``bf16``, ``fp16``, ``fp32``, ``int8``, ``nf4``).
        dtype: The torch dtype name weights (or, quantized, the compute) use.
        bitsandbytes: True for int8/nf4 (pass :func:`bitsandbytes_config` to ``from_pretrained``).
        label: What the app shows as the model's dtype (``nf4 (bitsandbytes, bfloat16 compute)``).
    """

    quant: str
    dtype: str
    bitsandbytes: bool
    label: str


def plan_load(quant: str, *, device: str, cuda_bf16: bool = True) -> LoadPlan:
    """The load plan for ``quant`` on ``device``.

    Args:
        quant: A Transformers option or alias (``4bit`` → ``nf4``, ``bfloat16`` → ``bf16``).
        device: Where the model will run (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
        cuda_bf16: The GPU computes in bfloat16 (compute capability ≥ 8.0); else int8/nf4
            compute in float16.

    Raises:
        EngineUnavailableError: An unknown option; int8/nf4 on CPU or MPS (bitsandbytes needs
            CUDA); or bitsandbytes is not installed.
    """
    try:
        name = normalize_quant(quant, "transformers")
    except ValueError as error:
        raise EngineUnavailableError(
            f"{error}.", "Pick one of bf16, fp16, fp32, int8 (8-bit) or nf4 (4-bit)."
        ) from None
    dtype = TRANSFORMERS_DTYPES[name].label
    if name not in BNB_QUANTS:
        return LoadPlan(name, dtype, False, dtype)
    if not device.startswith("cuda"):
        where = "Apple's GPU (MPS)" if device.startswith("mps") else "the CPU"
        raise EngineUnavailableError(
            f"{name} loading uses bitsandbytes, which needs an NVIDIA GPU with CUDA; here the "
            f"model would run on {where}.",
            "Load it in bf16 instead (leave out the quantization), or run a GGUF quantization "
            "such as Q4_K_M on the Ollama engine, which works on CPUs and Apple GPUs.",
        )
    if not bitsandbytes_installed():
        raise EngineUnavailableError(
            f"{name} loading needs the bitsandbytes library, which is not installed.",
            CUDA_EXTRA_ACTION,
        )
    if not cuda_bf16:
        dtype = "float16"
    return LoadPlan(name, dtype, True, f"{name} (bitsandbytes, {dtype} compute)")


def bitsandbytes_installed() -> bool:
    """True when ``bitsandbytes`` can be imported (``find_spec``; nothing is imported)."""
    try:
        return importlib.util.find_spec("bitsandbytes") is not None
    except (ImportError, ValueError):
        return False


def bitsandbytes_config(plan: LoadPlan) -> Any:
    """The ``transformers.BitsAndBytesConfig`` of an int8/nf4 plan.

    int8: ``load_in_8bit`` (LLM.int8 with its default outlier threshold 6.0). nf4:
    ``load_in_4bit`` with ``bnb_4bit_quant_type="nf4"``, compute in the plan's dtype, no double
    quantization (the fit estimate's 0.5625 bytes per weight assumes none).

    Raises:
        ValueError: The plan is not a bitsandbytes one.
    """
    if not plan.bitsandbytes:
        raise ValueError(f"{plan.quant} is not a bitsandbytes quantization")
    import torch
    from transformers import BitsAndBytesConfig

    if plan.quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=getattr(torch, plan.dtype),
        bnb_4bit_use_double_quant=False,
    )
