"""Memory a model needs besides its weights, as a function of the context length.

Pure arithmetic, no I/O. Sources: ``shared/research/memory-fit.md`` (llama.cpp/Ollama terms) and
``bench/bench_fit_vs_measured.py`` (the Transformers terms, measured on this project's engine)::

    kv      = 2 × kv_layers × kv_heads × head_dim × ctx × parallel × bytes_per_element
    graph   ≈ max(4·B·(hidden + vocab), 4·B·(1 + 2·hidden + ctx·(1 + n_heads)))   B = 512
              (llama.cpp compute buffers, Ollama's older estimator; the ollama engine)
    act     ≈ ctx × compute_bytes × (2·intermediate + 2·hidden + 4·(q_width + 2·kv_width))
              + 8·vocab   (the Transformers engine: one forward pass over the whole prompt)
    vision  = vision tower weights + VISION_ACTIVATION_BYTES for one image
    fixed   = per device: 457 MiB CUDA/ROCm, 512 MiB Metal, 256 MiB CPU (ollama);
              TRANSFORMERS_CPU_OVERHEAD_BYTES in RAM, TRANSFORMERS_GPU_OVERHEAD_BYTES on a GPU

Transformers activations: ``generate`` runs the prompt through the model in one pass (no chunked
prefill), so the peak holds, besides weights and KV cache, the widest intermediate tensors of one
layer: in the MLP the activated gate and the up projection (``2 × ctx × intermediate`` elements;
MoE: ``moe_intermediate × experts_per_token``) plus residual-stream copies (``2 × hidden``); in
attention about four live copies of the query/key/value width (projections, q/k norms, RoPE,
keys and values repeated to every head for SDPA). SDPA does not materialise the ``ctx × ctx``
scores, and only the last position's logits are computed. The coefficients are calibrated by
``bench/bench_fit_vs_measured.py`` on Qwen2.5-0.5B/1.5B and Qwen3-0.6B shapes (CPU, fp32 and
bf16, 512–4096 tokens): within ±10 % of the measured peak with glibc limited to one malloc
arena. With glibc's default per-thread arenas, the engine's generation thread fragments memory
and the measured peak is up to ~15 % higher at 4K tokens (see the bench's report). llama.cpp's
graph estimate instead budgets the attention scores of a 512-token batch (``ctx × (1 +
n_heads)`` per batch token), which Transformers does not need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qwen_desktop.core.catalog import Variant
from qwen_desktop.core.fit_engines import (
    DEFAULT_EXPERTS_PER_TOKEN,
    KV_BYTES_PER_ELEMENT,
    TRANSFORMERS_DTYPES,
    Weights,
    check_engine,
    kv_bytes_per_element,
    model_weights,
    normalize_quant,
)

MiB = 1024**2
GiB = 1024**3

GRAPH_BATCH_TOKENS = 512
"""Prompt-processing batch size B of the compute-graph estimate (llama.cpp's default n_batch)."""

GRAPH_FLOAT_BYTES = 4
"""The graph estimate counts 4-byte (f32) activations."""

FALLBACK_VOCAB_SIZE = 151_936
"""Vocabulary size assumed when the catalog has none (Qwen2.5/Qwen3 tokenizer, config.json)."""

FALLBACK_GQA_GROUP = 8
"""Query heads per KV head assumed when ``attention_heads`` is unknown: the largest group in the
Qwen2.5/Qwen3 catalog rows (e.g. Qwen3-32B 64/8), so the graph estimate errs high."""

FALLBACK_MLP_RATIO = 4
"""``intermediate / hidden`` assumed when the catalog has no MLP width (Qwen2.5/Qwen3 range from
2.7 to 5.4; errs high)."""

CUDA_OVERHEAD_BYTES = 457 * MiB
"""Fixed minimum per CUDA/ROCm GPU (Ollama's estimator; memory-fit.md)."""
METAL_OVERHEAD_BYTES = 512 * MiB
"""Fixed minimum per Metal GPU (Ollama's estimator; memory-fit.md)."""
CPU_OVERHEAD_BYTES = 256 * MiB
"""Runtime overhead of llama.cpp on the CPU. An assumption (no measured source yet)."""

TRANSFORMERS_CPU_OVERHEAD_BYTES = 384 * MiB
"""RAM the Transformers engine itself takes before any weight: torch, transformers and the
tokenizer imported into the process. Measured by ``bench/bench_fit_vs_measured.py`` on Linux
x86-64 (torch 2.13 CPU, transformers 5.2): 355–375 MB of resident memory."""

TRANSFORMERS_GPU_OVERHEAD_BYTES = 512 * MiB
"""GPU memory the Transformers engine takes besides tensors: the CUDA context, cuBLAS workspaces
and the caching allocator's slack. An assumption (300–500 MiB of CUDA context is typical); not
measured here (no GPU)."""

VISION_ACTIVATION_BYTES = 512 * MiB
"""Working memory of the vision tower for one image at the app's default image budget (up to
1,280 visual tokens = 5,120 patches). An assumption: the activations of a 1280-wide ViT over 5,120
patches are ~26 MB per tensor; with the attention of its global layers computed blockwise a few
hundred MiB cover it. Not measured yet."""

TRANSFORMERS_MLP_FACTOR = 2
TRANSFORMERS_HIDDEN_FACTOR = 2
TRANSFORMERS_ATTENTION_FACTOR = 4
TRANSFORMERS_LOGITS_BYTES_PER_VOCAB = 8
"""Coefficients of the Transformers activation estimate ``ctx × compute_bytes × (2·intermediate +
2·hidden + 4·(q_width + 2·kv_width)) + 8·vocab`` (module docstring; calibrated by
``bench/bench_fit_vs_measured.py``)."""


def kv_cache_bytes(
    variant: Variant, context_tokens: int, kv_type: str = "f16", parallel: int = 1
) -> int:
    """KV cache size: ``2 × kv_layers × kv_heads × head_dim × ctx × parallel × bytes_per_elem``.

    Args:
        variant: The model variant (its architecture is read).
        context_tokens: Context length in tokens per sequence.
        kv_type: ``f16``, ``q8_0`` or ``q4_0`` (llama.cpp cache types).
        parallel: Sequences served at once (Ollama's ``OLLAMA_NUM_PARALLEL``).

    Returns:
        Bytes, rounded up. Example: Qwen3-8B at f16 and 32,768 tokens is
        2 × 36 × 8 × 128 × 32768 × 2 = 4.5 GiB.

    Raises:
        ValueError: Unknown ``kv_type`` or a negative length.
    """
    if kv_type not in KV_BYTES_PER_ELEMENT:
        raise ValueError(f"unknown KV cache type {kv_type!r}; expected one of f16, q8_0, q4_0")
    if context_tokens < 0 or parallel < 1:
        raise ValueError("context_tokens must be >= 0 and parallel >= 1")
    return math.ceil(
        kv_elements_per_token(variant) * context_tokens * parallel * KV_BYTES_PER_ELEMENT[kv_type]
    )


def kv_elements_per_token(variant: Variant) -> int:
    """Cached key and value elements per token: ``2 × kv_layers × kv_heads × head_dim``."""
    arch = variant.architecture
    return 2 * arch.kv_layer_count * arch.kv_heads * arch.head_dim


def hidden_and_heads(variant: Variant) -> tuple[int, int]:
    """``(hidden_size, attention_heads)``, with fallbacks when the catalog lacks them: heads =
    hidden / head_dim, else kv_heads × :data:`FALLBACK_GQA_GROUP`; hidden = heads × head_dim."""
    arch = variant.architecture
    heads = arch.attention_heads
    if heads is None:
        if arch.hidden_size is not None:
            heads = max(arch.kv_heads, arch.hidden_size // arch.head_dim)
        else:
            heads = arch.kv_heads * FALLBACK_GQA_GROUP
    hidden = arch.hidden_size if arch.hidden_size is not None else heads * arch.head_dim
    return hidden, heads


def graph_bytes(
    variant: Variant, context_tokens: int, batch_tokens: int = GRAPH_BATCH_TOKENS
) -> int:
    """Compute-graph (activation buffer) estimate of Ollama's older estimator (memory-fit.md)::

        max(4·B·(hidden + vocab), 4·B·(1 + 2·hidden + ctx·(1 + n_heads)))

    4 = bytes per f32 activation, B = batch tokens. Fallbacks: vocab :data:`FALLBACK_VOCAB_SIZE`,
    hidden and heads as :func:`hidden_and_heads`.

    Returns:
        Bytes.
    """
    hidden, heads = hidden_and_heads(variant)
    vocab = variant.architecture.vocab_size or FALLBACK_VOCAB_SIZE
    b = GRAPH_FLOAT_BYTES * batch_tokens
    return max(b * (hidden + vocab), b * (1 + 2 * hidden + context_tokens * (1 + heads)))


def mlp_width(variant: Variant) -> int:
    """Width of the MLP activations per token: ``intermediate_size``; for MoE
    ``moe_intermediate_size × experts_per_token``; else hidden × :data:`FALLBACK_MLP_RATIO`."""
    arch = variant.architecture
    if arch.experts is not None and arch.moe_intermediate_size is not None:
        return arch.moe_intermediate_size * (arch.experts_per_token or DEFAULT_EXPERTS_PER_TOKEN)
    if arch.intermediate_size is not None:
        return arch.intermediate_size
    return hidden_and_heads(variant)[0] * FALLBACK_MLP_RATIO


def transformers_width(variant: Variant) -> int:
    """Activation elements per prompt token of the Transformers estimate:
    ``2·intermediate + 2·hidden + 4·(heads·head_dim + 2·kv_heads·head_dim)``."""
    hidden, heads = hidden_and_heads(variant)
    arch = variant.architecture
    attention = heads * arch.head_dim + 2 * arch.kv_heads * arch.head_dim
    return (
        TRANSFORMERS_MLP_FACTOR * mlp_width(variant)
        + TRANSFORMERS_HIDDEN_FACTOR * hidden
        + TRANSFORMERS_ATTENTION_FACTOR * attention
    )


def transformers_activation_bytes(
    variant: Variant, context_tokens: int, compute_bytes: int = 2
) -> int:
    """Peak activations of the Transformers engine over a ``context_tokens`` prompt (bytes)::

        ctx × compute_bytes × (2·intermediate + 2·hidden + 4·(q_width + 2·kv_width)) + 8·vocab

    See the module docstring for what the terms stand for.
    """
    vocab = variant.architecture.vocab_size or FALLBACK_VOCAB_SIZE
    return (
        context_tokens * compute_bytes * transformers_width(variant)
        + TRANSFORMERS_LOGITS_BYTES_PER_VOCAB * vocab
    )


@dataclass(frozen=True)
class ModelCosts:
    """Everything the placement needs about one variant × engine × quantization × KV type.

    The context-dependent terms are linear (KV cache) or a maximum of two linear functions
    (compute), so evaluating them per context is a few multiplications: fast enough to search the
    largest context that fits.

    Attributes:
        variant: The catalog variant.
        engine: ``ollama`` or ``transformers``.
        quant: Canonical quantization (``Q4_K_M``, ``bf16``).
        kv_type: KV cache type as reported (``f16``/``q8_0``/``q4_0``; Transformers: its compute
            dtype, ``bf16``/``fp16``/``fp32``).
        weights: The weights (:class:`~qwen_desktop.core.fit_engines.Weights`).
        layers: ``num_hidden_layers``.
        kv_bytes_per_token: KV cache bytes per context token (all layers, ``parallel`` included).
        compute_floor: Constant lower bound of the compute term (bytes).
        compute_base: Intercept of the context-proportional compute term (bytes).
        compute_per_token: Slope of the compute term (bytes per context token).
        vision_activation_bytes: Image working memory (0 for text models).
    """

    variant: Variant
    engine: str
    quant: str
    kv_type: str
    weights: Weights
    layers: int
    kv_bytes_per_token: float
    compute_floor: int
    compute_base: int
    compute_per_token: int
    vision_activation_bytes: int

    def kv(self, context_tokens: int) -> int:
        """KV cache bytes at ``context_tokens``."""
        return math.ceil(self.kv_bytes_per_token * context_tokens)

    def compute(self, context_tokens: int) -> int:
        """Compute-graph (ollama) or activation (transformers) bytes at ``context_tokens``."""
        return max(self.compute_floor, self.compute_base + self.compute_per_token * context_tokens)

    @property
    def vision_bytes(self) -> int:
        """Vision tower weights plus one image's working memory (0 for text models)."""
        return self.weights.vision_bytes + self.vision_activation_bytes


def model_costs(
    variant: Variant, engine: str, quant: str, kv_type: str = "f16", parallel: int = 1
) -> ModelCosts:
    """Build :class:`ModelCosts` (validates engine, quantization and KV type).

    Raises:
        ValueError: Unknown engine, quantization or KV type; q8_0/q4_0 with Transformers;
            ``parallel`` < 1.
    """
    engine = check_engine(engine)
    quant = normalize_quant(quant, engine)
    if parallel < 1:
        raise ValueError("parallel must be >= 1")
    per_element = kv_bytes_per_element(engine, quant, kv_type)
    hidden, heads = hidden_and_heads(variant)
    vocab = variant.architecture.vocab_size or FALLBACK_VOCAB_SIZE
    if engine == "ollama":
        b = GRAPH_FLOAT_BYTES * GRAPH_BATCH_TOKENS
        floor, base, slope = b * (hidden + vocab), b * (1 + 2 * hidden), b * (1 + heads)
        kv_label = kv_type
    else:
        dtype = TRANSFORMERS_DTYPES[quant]
        floor, base = 0, TRANSFORMERS_LOGITS_BYTES_PER_VOCAB * vocab
        slope = dtype.compute_bytes * transformers_width(variant)
        kv_label = "fp32" if dtype.compute_bytes == 4 else ("fp16" if quant == "fp16" else "bf16")
    weights = model_weights(variant, engine, quant)
    return ModelCosts(
        variant=variant,
        engine=engine,
        quant=quant,
        kv_type=kv_label,
        weights=weights,
        layers=variant.architecture.layers,
        kv_bytes_per_token=kv_elements_per_token(variant) * parallel * per_element,
        compute_floor=floor,
        compute_base=base,
        compute_per_token=slope,
        vision_activation_bytes=VISION_ACTIVATION_BYTES if variant.modality == "image+text" else 0,
    )
