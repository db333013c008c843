"""Will it fit? A first memory and speed estimate for one variant on one machine.

Pure functions, no I/O. The formula follows ``shared/research/memory-fit.md`` ("Formula to start
from"), which in turn follows Ollama's estimator (older releases)::

    kv      = 2 × kv_layers × kv_heads × head_dim × ctx × parallel × bytes_per_element
    weights = Ollama download size when known, else parameters × bytes-per-parameter of the quant
    graph   ≈ max(4·B·(hidden + vocab), 4·B·(1 + 2·hidden + ctx·(1 + n_heads)))   B = 512
    fixed   = 457 MiB per CUDA/ROCm GPU, 512 MiB Metal, 256 MiB CPU (assumption)

    FULL GPU   weights + kv + graph + fixed ≤ free VRAM × 0.95
    PARTIAL    the GPU holds fixed + graph + output layer + ≥ 2 layers, the rest fits RAM × 0.9
    CPU ONLY   weights + kv + graph + fixed ≤ available RAM × 0.9
    WON'T FIT  otherwise

Decode speed is memory-bandwidth bound: tokens/s ≈ effective bandwidth / bytes read per token
(active weights + KV read). Speeds are rough: a per-device bandwidth table and a flat efficiency
factor, to be corrected by measured runs later.

Known simplifications (future work): one GPU only (the one with the most free memory; splitting
layers over several GPUs is not modelled); the vision tower's image activations of VL models are
not counted (their weights are, inside the download size or parameter count); the CPU side of a
partial offload gets no compute-graph allowance.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from qwen_desktop.core.catalog import Variant
from qwen_desktop.core.machine import GpuInfo, MachineReport
from qwen_desktop.core.units import format_bytes

MiB = 1024**2
GiB = 1024**3

KvCacheType = Literal["f16", "q8_0", "q4_0"]

KV_BYTES_PER_ELEMENT: dict[str, Fraction] = {
    "f16": Fraction(2),
    "q8_0": Fraction(34, 32),
    "q4_0": Fraction(18, 32),
}
"""Bytes per cached key/value element by llama.cpp cache type.

f16: 2 bytes. q8_0 and q4_0 store blocks of 32 values with one f16 scale: 34 and 18 bytes per
block (ggml block sizes), i.e. 1.0625 and 0.5625 bytes per element. (memory-fit.md rounds them
to 1 and 0.5.)
"""

QUANT_BYTES_PER_PARAM: dict[str, float] = {
    "F32": 4.0,
    "F16": 2.0,
    "BF16": 2.0,
    "Q8_0": 1.0625,
    "Q6_K": 0.82,
    "Q5_K_M": 0.71,
    "Q4_K_M": 0.60,
    "Q3_K_M": 0.49,
    "Q2_K": 0.37,
}
"""Average bytes per parameter of a whole GGUF file by quantization.

Source: GGUF/ggml block sizes in bits per weight (bpw) / 8, rounded up a little for the tensors a
"_M" mix keeps at higher precision: Q8_0 8.5 bpw (34-byte blocks of 32), Q6_K 6.5625 bpw,
Q5_K_M ≈ 5.7 bpw, Q4_K_M ≈ 4.8 bpw, Q3_K_M ≈ 3.9 bpw, Q2_K ≈ 2.96 bpw (llama.cpp's quantize
table); llmfit uses nearly the same factors (memory-fit.md).
"""

DEFAULT_QUANT = "Q4_K_M"
GRAPH_BATCH_TOKENS = 512
"""Prompt-processing batch size B of the compute-graph estimate (llama.cpp's default n_batch)."""

GRAPH_FLOAT_BYTES = 4
"""The graph estimate counts 4-byte (f32) activations."""

FALLBACK_VOCAB_SIZE = 151_936
"""Vocabulary size assumed when the catalog has none (Qwen2.5/Qwen3 tokenizer, config.json)."""

FALLBACK_GQA_GROUP = 8
"""Query heads per KV head assumed when ``attention_heads`` is unknown: the largest group in the
Qwen2.5/Qwen3 catalog rows (e.g. Qwen3-32B 64/8), so the graph estimate errs high."""

CUDA_OVERHEAD_BYTES = 457 * MiB
"""Fixed minimum per CUDA/ROCm GPU (Ollama's estimator; memory-fit.md)."""
METAL_OVERHEAD_BYTES = 512 * MiB
"""Fixed minimum per Metal GPU (Ollama's estimator; memory-fit.md)."""
CPU_OVERHEAD_BYTES = 256 * MiB
"""Runtime overhead for CPU-only inference. An assumption (no measured source yet)."""

GPU_MARGIN = 0.95
"""Share of free VRAM a model may plan to use (memory-fit.md: "free VRAM × margin")."""
RAM_MARGIN = 0.9
"""Share of available RAM a model may plan to use, leaving room for the OS and other apps."""
MIN_PARTIAL_GPU_LAYERS = 2
"""Fewer layers than this on the GPU is not worth a partial offload (memory-fit.md)."""

ENGINE_GPU_VENDORS = frozenset({"nvidia", "amd", "apple"})
"""GPU vendors the bundled engine (Ollama/llama.cpp: CUDA, ROCm, Metal) accelerates; other GPUs
(Intel, unknown) are treated as absent."""

BANDWIDTH_EFFICIENCY = 0.6
"""Share of peak memory bandwidth decode achieves in practice (llmfit uses 0.55; llama.cpp
typically reaches 50–70 % of peak)."""

DEFAULT_CPU_BANDWIDTH_BYTES_PER_SECOND = 40e9
"""Peak RAM bandwidth assumed when the report has none (dual-channel DDR4-2666 ≈ 42.7 GB/s)."""

DEFAULT_GPU_BANDWIDTH_BYTES_PER_SECOND: dict[str, float] = {
    "nvidia": 400e9,
    "amd": 400e9,
    "apple": 100e9,
}
"""Peak VRAM bandwidth assumed for a GPU missing from :data:`GPU_BANDWIDTH_GB_PER_SECOND`."""

GPU_BANDWIDTH_GB_PER_SECOND: dict[str, float] = {
    # NVIDIA GeForce (vendor spec sheets, peak GB/s)
    "rtx 5090": 1792, "rtx 5080": 960, "rtx 5070 ti": 896, "rtx 5070": 672,
    "rtx 5060 ti": 448, "rtx 5060": 448,
    "rtx 4090": 1008, "rtx 4080 super": 736, "rtx 4080": 717, "rtx 4070 ti super": 672,
    "rtx 4070 ti": 504, "rtx 4070 super": 504, "rtx 4070": 504, "rtx 4060 ti": 288,
    "rtx 4060": 272,
    "rtx 3090 ti": 1008, "rtx 3090": 936, "rtx 3080 ti": 912, "rtx 3080": 760,
    "rtx 3070 ti": 608, "rtx 3070": 448, "rtx 3060 ti": 448, "rtx 3060": 360, "rtx 3050": 224,
    "rtx 2080 ti": 616, "rtx 2080 super": 496, "rtx 2080": 448, "rtx 2070": 448, "rtx 2060": 336,
    "gtx 1080 ti": 484, "gtx 1080": 320, "gtx 1070": 256, "gtx 1660": 192,
    # NVIDIA data centre / workstation
    "h200": 4800, "h100": 3350, "a100": 1555, "l40s": 864, "l40": 864, "a10": 600, "l4": 300,
    "t4": 320, "rtx a6000": 768, "rtx 6000 ada": 960,
    # AMD Radeon
    "rx 7900 xtx": 960, "rx 7900 xt": 800, "rx 7800 xt": 624, "rx 7700 xt": 432,
    "rx 7600": 288, "rx 6900 xt": 512, "rx 6800 xt": 512, "rx 6800": 512, "rx 6700 xt": 384,
    # Apple Silicon (unified memory)
    "m1": 68, "m1 pro": 200, "m1 max": 400, "m1 ultra": 800,
    "m2": 100, "m2 pro": 200, "m2 max": 400, "m2 ultra": 800,
    "m3": 100, "m3 pro": 150, "m3 max": 400, "m3 ultra": 819,
    "m4": 120, "m4 pro": 273, "m4 max": 546,
}  # fmt: skip
"""Rough peak memory bandwidth by GPU name (GB/s, decimal), from vendor spec sheets.

Matched against the GPU's name as whole words, longest key first ("rtx 4070 ti" before
"rtx 4070"). Data-centre figures are for the largest-bandwidth variant (SXM).
"""


class FitVerdict(enum.StrEnum):
    """Where a model runs, best first (LM Studio's vocabulary, memory-fit.md)."""

    FULL_GPU = "full_gpu"
    PARTIAL_GPU = "partial_gpu"
    CPU_ONLY = "cpu_only"
    WONT_FIT = "wont_fit"


Pool = Literal["gpu", "gpu+ram", "ram"]


@dataclass(frozen=True)
class FitEstimate:
    """The outcome of :func:`estimate_fit`. All sizes in bytes.

    Attributes:
        verdict: Where it runs.
        gpu_layers: Transformer layers placed on the GPU (``total_layers`` when fully on it).
        total_layers: The variant's ``num_hidden_layers``.
        weights_bytes: Model weights at the chosen quantization.
        kv_cache_bytes: KV cache for ``context_tokens``.
        graph_bytes: Compute-graph (activation) estimate.
        overhead_bytes: Fixed runtime overhead counted (GPU's when a GPU is used, else CPU's).
        total_bytes: ``weights + kv + graph + overhead``: what the model needs in all.
        pool: Memory it was checked against: ``gpu``, ``gpu+ram`` or ``ram``.
        pool_name: Human name of that pool (GPU name, "RAM", "NVIDIA … + RAM").
        pool_free_bytes: Free bytes of that pool before margins.
        tokens_per_second_estimate: Rough decode speed; ``None`` when it won't fit.
        reason: One or two sentences in plain words.
        quant: Quantization assumed (``Q4_K_M``).
        context_tokens: Context length assumed (tokens).
        kv_type: KV cache type assumed (``f16``).
    """

    verdict: FitVerdict
    gpu_layers: int
    total_layers: int
    weights_bytes: int
    kv_cache_bytes: int
    graph_bytes: int
    overhead_bytes: int
    total_bytes: int
    pool: Pool
    pool_name: str
    pool_free_bytes: int
    tokens_per_second_estimate: float | None
    reason: str
    quant: str
    context_tokens: int
    kv_type: str

    @property
    def fits(self) -> bool:
        """True unless the verdict is ``wont_fit``."""
        return self.verdict is not FitVerdict.WONT_FIT


# ------------------------------------------------------------------------------ components


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
    arch = variant.architecture
    elements = 2 * arch.kv_layer_count * arch.kv_heads * arch.head_dim * context_tokens * parallel
    return math.ceil(elements * KV_BYTES_PER_ELEMENT[kv_type])


def normalize_quant(quant: str) -> str:
    """The canonical spelling of a quantization name (``q4_k_m`` → ``Q4_K_M``).

    Raises:
        ValueError: Not in :data:`QUANT_BYTES_PER_PARAM`.
    """
    name = quant.strip().upper()
    if name not in QUANT_BYTES_PER_PARAM:
        known = ", ".join(QUANT_BYTES_PER_PARAM)
        raise ValueError(f"unknown quantization {quant!r}; expected one of {known}")
    return name


def weights_bytes(variant: Variant, quant: str = DEFAULT_QUANT) -> int:
    """Weights at a quantization: the Ollama download size when it is that quantization, else
    ``parameters × bytes-per-parameter`` (:data:`QUANT_BYTES_PER_PARAM`).

    MoE variants count all experts: they must all be resident somewhere.

    Raises:
        ValueError: Unknown quantization.
    """
    name = normalize_quant(quant)
    ollama = variant.ollama
    if ollama is not None and ollama.size_bytes is not None and ollama.quant.upper() == name:
        return ollama.size_bytes
    return math.ceil(variant.parameters * QUANT_BYTES_PER_PARAM[name])


def _hidden_and_heads(variant: Variant) -> tuple[int, int]:
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

    4 = bytes per f32 activation, B = batch tokens. Fallbacks when the catalog lacks a figure:
    vocab :data:`FALLBACK_VOCAB_SIZE`; heads = hidden / head_dim, else kv_heads ×
    :data:`FALLBACK_GQA_GROUP`; hidden = heads × head_dim.

    Returns:
        Bytes.
    """
    hidden, heads = _hidden_and_heads(variant)
    vocab = variant.architecture.vocab_size or FALLBACK_VOCAB_SIZE
    b = GRAPH_FLOAT_BYTES * batch_tokens
    return max(b * (hidden + vocab), b * (1 + 2 * hidden + context_tokens * (1 + heads)))


def gpu_overhead_bytes(gpu: GpuInfo) -> int:
    """Fixed minimum a GPU needs: 512 MiB on Metal (Apple), else 457 MiB (CUDA/ROCm)."""
    return METAL_OVERHEAD_BYTES if gpu.vendor == "apple" else CUDA_OVERHEAD_BYTES


def gpu_bandwidth_bytes_per_second(gpu: GpuInfo) -> float:
    """Rough peak memory bandwidth of a GPU, from its name (:data:`GPU_BANDWIDTH_GB_PER_SECOND`),
    else the vendor default (:data:`DEFAULT_GPU_BANDWIDTH_BYTES_PER_SECOND`), else 100 GB/s."""
    name = gpu.name.lower()
    best: str | None = None
    for key in GPU_BANDWIDTH_GB_PER_SECOND:
        if re.search(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9])", name) and (
            best is None or len(key) > len(best)
        ):
            best = key
    if best is not None:
        return GPU_BANDWIDTH_GB_PER_SECOND[best] * 1e9
    return DEFAULT_GPU_BANDWIDTH_BYTES_PER_SECOND.get(gpu.vendor, 100e9)


def cpu_bandwidth_bytes_per_second(machine: MachineReport) -> float:
    """Peak RAM bandwidth: the report's figure, else the default (40 GB/s, see
    :data:`DEFAULT_CPU_BANDWIDTH_BYTES_PER_SECOND`)."""
    measured = machine.cpu.memory_bandwidth_bytes_per_second
    return float(measured) if measured else DEFAULT_CPU_BANDWIDTH_BYTES_PER_SECOND


def available_ram_bytes(machine: MachineReport) -> int:
    """RAM a model may use now: ``available_bytes``, capped by a container limit.

    When the probe could not read available memory (0), the usable total is taken instead.
    """
    memory = machine.memory
    available = memory.available_bytes if memory.available_bytes > 0 else memory.usable_total_bytes
    if memory.limit_bytes is not None:
        available = min(available, memory.limit_bytes)
    return max(0, available)


def engine_gpu(machine: MachineReport) -> GpuInfo | None:
    """The GPU the estimate uses: the engine-supported GPU with the most free memory, or None."""
    usable = [
        gpu for gpu in machine.gpus if gpu.vendor in ENGINE_GPU_VENDORS and gpu.vram_free_bytes > 0
    ]
    if not usable:
        return None
    return max(usable, key=lambda gpu: _gpu_free_bytes(gpu, machine))


def _gpu_free_bytes(gpu: GpuInfo, machine: MachineReport) -> int:
    """Free GPU memory; for unified memory never more than the RAM available (case C6)."""
    if gpu.unified_memory:
        return min(gpu.vram_free_bytes, available_ram_bytes(machine))
    return gpu.vram_free_bytes


# ------------------------------------------------------------------------------ wording


def context_label(tokens: int) -> str:
    """Context length as people say it: 8192 → ``8K``, 40960 → ``40K``, 5000 → ``5,000 tokens``."""
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return f"{tokens:,} tokens"


def speed_label(tokens_per_second: float) -> str:
    """``about 12 tokens/s``; one decimal below 1 token/s."""
    if tokens_per_second < 1:
        return f"about {tokens_per_second:.1f} tokens/s"
    return f"about {round(tokens_per_second)} tokens/s"


def _gpu_phrase(gpu: GpuInfo, free: int) -> str:
    if gpu.unified_memory:
        return f"{gpu.name} ({format_bytes(free)} of shared memory free)"
    return f"{gpu.name} ({format_bytes(free)} free VRAM)"


# ------------------------------------------------------------------------------ estimate


def _split_layers(weights: int, kv: int, layers: int, gpu_room: float) -> tuple[int, float]:
    """Partial offload per memory-fit.md: ``(gpu_layers, bytes left for RAM)``.

    ``gpu_layers = floor((free VRAM × margin − fixed − graph − output layer) / per_layer)``
    (``gpu_room`` is everything before the output layer), where the output layer and each
    repeating layer weigh ``weights / (layers + 1)`` (Jan's split) and each layer adds its share
    ``kv / layers`` of the KV cache. At most ``layers − 1`` (all layers is the full-GPU case).
    """
    layer_weights = weights / (layers + 1)
    per_layer = layer_weights + kv / layers
    gpu_layers = min(layers - 1, max(0, math.floor((gpu_room - layer_weights) / per_layer)))
    return gpu_layers, (layers - gpu_layers) * per_layer


def estimate_fit(
    variant: Variant,
    machine: MachineReport,
    *,
    quant: str = DEFAULT_QUANT,
    context_tokens: int = 8192,
    kv_type: str = "f16",
) -> FitEstimate:
    """Where ``variant`` runs on ``machine`` and roughly how fast (see the module docstring).

    Args:
        variant: The catalog variant.
        machine: The hardware report.
        quant: Weights quantization (:data:`QUANT_BYTES_PER_PARAM` keys).
        context_tokens: Context length to plan the KV cache for (tokens); not capped at the
            variant's window (callers do that).
        kv_type: KV cache type (``f16``, ``q8_0``, ``q4_0``).

    Returns:
        The estimate, with a plain-words reason.

    Raises:
        ValueError: Unknown quantization or KV type, or a negative context.
    """
    quant = normalize_quant(quant)
    layers = variant.architecture.layers
    weights = weights_bytes(variant, quant)
    kv = kv_cache_bytes(variant, context_tokens, kv_type)
    graph = graph_bytes(variant, context_tokens)
    ctx = context_label(context_tokens)
    ram = available_ram_bytes(machine)
    ram_budget = ram * RAM_MARGIN
    cpu_bw = cpu_bandwidth_bytes_per_second(machine) * BANDWIDTH_EFFICIENCY
    # Bytes read per generated token: active weights (MoE reads only its active experts) plus
    # the KV cache at half the window (a typical mid-conversation fill).
    per_token = weights * variant.active_parameter_count / variant.parameters + kv / 2

    def result(
        verdict: FitVerdict,
        *,
        gpu_layers: int,
        overhead: int,
        pool: Pool,
        pool_name: str,
        pool_free: int,
        speed: float | None,
        reason: str,
    ) -> FitEstimate:
        return FitEstimate(
            verdict=verdict,
            gpu_layers=gpu_layers,
            total_layers=layers,
            weights_bytes=weights,
            kv_cache_bytes=kv,
            graph_bytes=graph,
            overhead_bytes=overhead,
            total_bytes=weights + kv + graph + overhead,
            pool=pool,
            pool_name=pool_name,
            pool_free_bytes=pool_free,
            tokens_per_second_estimate=speed,
            reason=reason,
            quant=quant,
            context_tokens=context_tokens,
            kv_type=kv_type,
        )

    gpu = engine_gpu(machine)
    too_big_for_gpu = ""
    if gpu is not None:
        free = _gpu_free_bytes(gpu, machine)
        overhead = gpu_overhead_bytes(gpu)
        need = weights + kv + graph + overhead
        gpu_bw = gpu_bandwidth_bytes_per_second(gpu) * BANDWIDTH_EFFICIENCY
        where = _gpu_phrase(gpu, free)
        if need <= free * GPU_MARGIN:
            speed = gpu_bw / per_token
            reason = (
                f"Runs fully on {where}: needs {format_bytes(need)} at {ctx} context; "
                f"expect {speed_label(speed)}."
            )
            return result(
                FitVerdict.FULL_GPU,
                gpu_layers=layers,
                overhead=overhead,
                pool="gpu",
                pool_name=gpu.name,
                pool_free=free,
                speed=speed,
                reason=reason,
            )
        if not gpu.unified_memory:
            gpu_layers, ram_part = _split_layers(
                weights, kv, layers, free * GPU_MARGIN - overhead - graph
            )
            if gpu_layers >= MIN_PARTIAL_GPU_LAYERS and ram_part <= ram_budget:
                share = gpu_layers / layers
                speed = 1 / (per_token * share / gpu_bw + per_token * (1 - share) / cpu_bw)
                reason = (
                    f"Runs partly on {where}: {gpu_layers} of {layers} layers on the GPU, "
                    f"the rest in RAM; needs {format_bytes(need)} in all at {ctx} context; "
                    f"expect {speed_label(speed)}."
                )
                return result(
                    FitVerdict.PARTIAL_GPU,
                    gpu_layers=gpu_layers,
                    overhead=overhead,
                    pool="gpu+ram",
                    pool_name=f"{gpu.name} + RAM",
                    pool_free=free + ram,
                    speed=speed,
                    reason=reason,
                )
        too_big_for_gpu = f"Too large for {where}; "

    need_cpu = weights + kv + graph + CPU_OVERHEAD_BYTES
    if need_cpu <= ram_budget:
        speed = cpu_bw / per_token
        runs = "runs on the CPU" if too_big_for_gpu else "Runs on the CPU"
        reason = (
            f"{too_big_for_gpu}{runs}: needs {format_bytes(need_cpu)} of {format_bytes(ram)} "
            f"free RAM at {ctx} context; expect {speed_label(speed)}."
        )
        return result(
            FitVerdict.CPU_ONLY,
            gpu_layers=0,
            overhead=CPU_OVERHEAD_BYTES,
            pool="ram",
            pool_name="RAM",
            pool_free=ram,
            speed=speed,
            reason=reason,
        )

    if gpu is not None and not gpu.unified_memory:
        free = _gpu_free_bytes(gpu, machine)
        overhead = gpu_overhead_bytes(gpu)
        need = weights + kv + graph + overhead
        reason = (
            f"Too large: needs {format_bytes(need)} at {ctx} context; this machine has "
            f"{format_bytes(ram)} free RAM and {format_bytes(free)} free VRAM on {gpu.name}."
        )
        return result(
            FitVerdict.WONT_FIT,
            gpu_layers=0,
            overhead=overhead,
            pool="gpu+ram",
            pool_name=f"{gpu.name} + RAM",
            pool_free=free + ram,
            speed=None,
            reason=reason,
        )
    if gpu is not None:
        has = f"{format_bytes(ram)} free RAM, shared with {gpu.name}"
    elif machine.gpus:
        has = f"{format_bytes(ram)} free RAM and no GPU the engine can use"
    else:
        has = f"{format_bytes(ram)} free RAM and no GPU"
    reason = f"Too large: needs {format_bytes(need_cpu)} at {ctx} context; this machine has {has}."
    return result(
        FitVerdict.WONT_FIT,
        gpu_layers=0,
        overhead=CPU_OVERHEAD_BYTES,
        pool="ram",
        pool_name="RAM",
        pool_free=ram,
        speed=None,
        reason=reason,
    )
