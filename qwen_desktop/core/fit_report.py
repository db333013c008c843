"""What a fit estimate reports: the verdict, the memory breakdown, options, and the wording of
context lengths and speeds. The estimate itself is :func:`qwen_desktop.core.fit.estimate_fit`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from qwen_desktop.core.fit_context import MaxContext
from qwen_desktop.core.fit_placement import DeviceUse
from qwen_desktop.core.measurements import Measurement


class FitVerdict(enum.StrEnum):
    """Where a model runs, best first (LM Studio's vocabulary, memory-fit.md)."""

    FULL_GPU = "full_gpu"
    PARTIAL_GPU = "partial_gpu"
    CPU_ONLY = "cpu_only"
    WONT_FIT = "wont_fit"


Pool = Literal["gpu", "gpu+ram", "ram"]


@dataclass(frozen=True)
class MemoryBreakdown:
    """Where the bytes go (all in bytes; ``total_bytes`` is their sum)."""

    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    vision_bytes: int
    overhead_bytes: int

    @property
    def total_bytes(self) -> int:
        """The sum of the parts."""
        return (
            self.weights_bytes
            + self.kv_cache_bytes
            + self.compute_bytes
            + self.vision_bytes
            + self.overhead_bytes
        )

    def as_dict(self) -> dict[str, int]:
        """JSON form: ``weights_bytes``, ``kv_cache_bytes``, ``compute_graph_bytes``, …"""
        return {
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_graph_bytes": self.compute_bytes,
            "vision_bytes": self.vision_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
        }


@dataclass(frozen=True)
class FitOption:
    """Another way to run the model than the verdict's (today: MoE experts on the CPU).

    Attributes:
        kind: ``experts_on_cpu``.
        gpu_layers: Layers whose attention and shared weights sit on GPUs.
        cpu_expert_layers: Layers whose routed experts sit in RAM (llama.cpp ``--n-cpu-moe``).
        tokens_per_second_estimate: Its decode speed.
        devices: Use per device.
        tight: Fits without comfortable RAM headroom.
        max_context_tokens: Largest context this way fits (tokens).
        description: One sentence in plain words.
    """

    kind: str
    gpu_layers: int
    cpu_expert_layers: int
    tokens_per_second_estimate: float
    devices: tuple[DeviceUse, ...]
    tight: bool
    max_context_tokens: int | None
    description: str


@dataclass(frozen=True)
class FitEstimate:
    """The outcome of :func:`estimate_fit`. All sizes in bytes.

    Attributes:
        verdict: Where it runs.
        gpu_layers: Transformer layers placed on GPUs (``total_layers`` when fully on them).
        total_layers: The variant's ``num_hidden_layers``.
        weights_bytes: Language-model weights at the quantization (every MoE expert; the vision
            tower is in ``vision_bytes``).
        kv_cache_bytes: KV cache for ``context_tokens``.
        graph_bytes: Compute graph (llama.cpp) or activations (Transformers).
        overhead_bytes: Fixed runtime overhead counted (each GPU's when GPUs are used, else the
            CPU runtime's).
        total_bytes: ``weights + kv + graph + vision + overhead``: what the model needs in all.
        pool: Memory it was checked against: ``gpu``, ``gpu+ram`` or ``ram``.
        pool_name: Human name of that pool (GPU name(s), "RAM", "NVIDIA … + RAM").
        pool_free_bytes: Free bytes of that pool before margins.
        tokens_per_second_estimate: Decode speed (measured and scaled when a measurement was
            applied); ``None`` when it won't fit.
        reason: Plain words: where, how much, how fast, and what to watch.
        quant: Quantization assumed (``Q4_K_M``, ``bf16``).
        context_tokens: Context length assumed (tokens).
        kv_type: KV cache type (``f16``/``q8_0``/``q4_0``; Transformers: its compute dtype).
        engine: ``ollama`` or ``transformers``.
        vision_bytes: Vision tower weights plus one image's working memory (VL models).
        devices: Use per device (GPUs, then RAM).
        tight: True when it fits without comfortable headroom (fit_devices.py).
        over_free_ram: True when it needs more RAM than is free right now: the machine has it,
            other programs hold it (close them first).
        max_context: Largest context per way of running.
        options: Other placements worth knowing (MoE experts on the CPU).
        measurement: The measurement applied to the speed, if any.
        cpu_expert_layers: Layers whose experts sit in RAM (0 unless an experts-on-CPU verdict).
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
    engine: str = "ollama"
    vision_bytes: int = 0
    devices: tuple[DeviceUse, ...] = ()
    tight: bool = False
    over_free_ram: bool = False
    max_context: MaxContext | None = None
    options: tuple[FitOption, ...] = ()
    measurement: Measurement | None = None
    cpu_expert_layers: int = 0

    @property
    def fits(self) -> bool:
        """True unless the verdict is ``wont_fit``."""
        return self.verdict is not FitVerdict.WONT_FIT

    @property
    def comfort(self) -> str | None:
        """``comfortable`` or ``tight``; ``None`` when it won't fit."""
        if not self.fits:
            return None
        return "tight" if self.tight else "comfortable"

    @property
    def breakdown(self) -> MemoryBreakdown:
        """The memory breakdown."""
        return MemoryBreakdown(
            self.weights_bytes,
            self.kv_cache_bytes,
            self.graph_bytes,
            self.vision_bytes,
            self.overhead_bytes,
        )

    @property
    def max_context_tokens(self) -> dict[str, int | None]:
        """``{"full_gpu": N|None, "partial_gpu": N|None, "cpu_only": N|None}``."""
        return self.max_context.as_dict() if self.max_context else {}


# ------------------------------------------------------------------------------ wording


def context_label(tokens: int) -> str:
    """Context length as people say it: 8192 → ``8K``, 40960 → ``40K``, 128000 → ``128K``,
    5000 → ``5,000 tokens``."""
    if tokens >= 16_000 and tokens % 1000 == 0:  # 128,000 is "128K", not "125K"
        return f"{tokens // 1000}K"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return f"{tokens:,} tokens"


def max_context_label(tokens: int) -> str:
    """A largest-context figure, short: 8192 → ``8K``, 8960 → ``8.8K``, 128000 → ``128K``."""
    label = context_label(tokens)
    if label.endswith("K") or tokens < 1024:
        return label
    return f"{tokens / 1024:.1f}K"


def speed_label(tokens_per_second: float) -> str:
    """``about 12 tokens/s``, ``about 1 token/s``; one decimal below 1 token/s."""
    if tokens_per_second < 1:
        return f"about {tokens_per_second:.1f} tokens/s"
    rounded = round(tokens_per_second)
    return f"about {rounded} token{'s' if rounded != 1 else ''}/s"
