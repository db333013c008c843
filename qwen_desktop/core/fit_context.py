"""The largest context that fits each way: "GPU up to 12K, GPU+CPU up to 40K, CPU up to 128K".

Memory grows monotonically with the context (KV cache linearly, the compute graph or the
activations piecewise linearly), and with it the layers a partial offload must leave in RAM, so
each "does it fit at ``ctx``?" question is monotonic and a binary search over the context finds
the largest one that fits. Contexts are searched in steps of :data:`CONTEXT_STEP_TOKENS` (what
llama.cpp pads the cache to) between :data:`MIN_CONTEXT_TOKENS` and the model's window.
About 30 placement evaluations per variant; all 44 catalog variants for one machine take a few
milliseconds (``bench/bench_fit_speed.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qwen_desktop.core.fit_memory import ModelCosts
from qwen_desktop.core.fit_placement import (
    MachineView,
    cpu_only,
    experts_on_cpu,
    full_gpu,
    gpu_involved,
)

CONTEXT_STEP_TOKENS = 256
"""Granularity of the answers (llama.cpp pads its KV cache to multiples of 256)."""

MIN_CONTEXT_TOKENS = 512
"""Below this a chat is not usable: a way that cannot hold 512 tokens does not fit at all."""


@dataclass(frozen=True)
class MaxContext:
    """The largest context (tokens) per way of running; ``None`` where that way never fits.

    Attributes:
        full_gpu: Everything on the GPU(s).
        partial_gpu: At least partly on a GPU (full or partial offload).
        cpu_only: Everything in RAM.
        experts_on_cpu: MoE with routed experts in RAM (llama.cpp ``--n-cpu-moe``); ``None`` for
            dense models and other engines.
    """

    full_gpu: int | None
    partial_gpu: int | None
    cpu_only: int | None
    experts_on_cpu: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        """``{"full_gpu": N|None, "partial_gpu": N|None, "cpu_only": N|None}``."""
        return {
            "full_gpu": self.full_gpu,
            "partial_gpu": self.partial_gpu,
            "cpu_only": self.cpu_only,
        }


def largest_context(
    fits: Callable[[int], bool],
    window: int,
    step: int = CONTEXT_STEP_TOKENS,
    minimum: int = MIN_CONTEXT_TOKENS,
) -> int | None:
    """The largest context ``c ≤ window`` with ``fits(c)``, for a monotonic ``fits``.

    Returns ``window`` when it fits, else a multiple of ``step``; ``None`` when even
    ``min(minimum, window)`` does not fit.
    """
    low = min(minimum, window)
    if not fits(low):
        return None
    if fits(window):
        return window
    k_low, k_high = low // step, (window - 1) // step + 1  # fits(k_low·step), not k_high·step
    while k_high - k_low > 1:
        middle = (k_low + k_high) // 2
        if fits(middle * step):
            k_low = middle
        else:
            k_high = middle
    return max(low, k_low * step)


def max_context(costs: ModelCosts, view: MachineView, window: int | None = None) -> MaxContext:
    """The largest context per way of running (see the module docstring).

    Args:
        costs: The model under one engine, quantization and KV type.
        view: The machine's pools for that engine.
        window: Upper bound (tokens); default the variant's ``context_tokens``.
    """
    top = window if window is not None else costs.variant.context_tokens
    full = largest_context(lambda c: full_gpu(costs, view, c) is not None, top)
    if view.discrete_pools and costs.engine == "ollama":
        partial = largest_context(lambda c: gpu_involved(costs, view, c), top)
    else:
        partial = None
    cpu = largest_context(lambda c: cpu_only(costs, view, c) is not None, top)
    experts = None
    if costs.weights.expert_bytes and costs.engine == "ollama" and view.discrete_pools:
        experts = largest_context(
            lambda c: (
                full_gpu(costs, view, c) is not None or experts_on_cpu(costs, view, c) is not None
            ),
            top,
        )
    return MaxContext(full_gpu=full, partial_gpu=partial, cpu_only=cpu, experts_on_cpu=experts)
