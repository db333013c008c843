"""Will it fit? Memory, placement, largest context and speed of one variant on one machine.

Pure functions, no I/O. :func:`estimate_fit` combines:

* ``fit_engines``: engines (``ollama`` = llama.cpp GGUF, ``transformers``), quantizations and
  what the weights weigh (resident parameter counts, MoE experts, vision tower);
* ``fit_memory``: KV cache, compute graph (llama.cpp) or activations (Transformers), vision tower,
  fixed overheads, as functions of the context;
* ``fit_devices``: usable GPUs (multi-GPU, unified memory never added to RAM: case C6), the RAM
  budget with its headroom rule (comfortable vs tight), bandwidths;
* ``fit_placement``: full GPU / partial offload (N of M layers) / experts on CPU / CPU only and
  the decode time per token;
* ``fit_context``: the largest context that fits each way;
* ``measurements``: a measured speed replaces the estimate, scaled to the context.

Verdicts use LM Studio's vocabulary (memory-fit.md): ``full_gpu``, ``partial_gpu``, ``cpu_only``,
``wont_fit``. Speeds assume the KV cache half full (a typical mid-conversation fill).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from qwen_desktop.core.catalog import Variant
from qwen_desktop.core.fit_context import MaxContext, max_context
from qwen_desktop.core.fit_devices import (
    BANDWIDTH_EFFICIENCY,
    DEFAULT_CPU_BANDWIDTH_BYTES_PER_SECOND,
    DEFAULT_GPU_BANDWIDTH_BYTES_PER_SECOND,
    ENGINE_GPU_VENDORS,
    GPU_BANDWIDTH_GB_PER_SECOND,
    GPU_MARGIN,
    available_ram_bytes,
    cpu_bandwidth_bytes_per_second,
    engine_gpu,
    gpu_bandwidth_bytes_per_second,
    gpu_overhead_bytes,
    machine_fingerprint,
)
from qwen_desktop.core.fit_engines import (
    DEFAULT_QUANT,
    ENGINES,
    KV_BYTES_PER_ELEMENT,
    KV_TYPES,
    QUANT_BYTES_PER_PARAM,
    TRANSFORMERS_DTYPES,
    check_engine,
    default_quant,
    normalize_quant,
    weights_bytes,
)
from qwen_desktop.core.fit_memory import (
    CPU_OVERHEAD_BYTES,
    CUDA_OVERHEAD_BYTES,
    METAL_OVERHEAD_BYTES,
    ModelCosts,
    graph_bytes,
    kv_cache_bytes,
    model_costs,
)
from qwen_desktop.core.fit_placement import (
    MIN_PARTIAL_GPU_LAYERS,
    DeviceUse,
    MachineView,
    Placement,
    best_placement,
    cpu_overhead_bytes,
    experts_on_cpu,
)
from qwen_desktop.core.fit_report import (
    FitEstimate,
    FitOption,
    FitVerdict,
    MemoryBreakdown,
    Pool,
    context_label,
    max_context_label,
    speed_label,
)
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurements import Measurement, corrected_tokens_per_second
from qwen_desktop.core.units import format_bytes

__all__ = [
    "BANDWIDTH_EFFICIENCY",
    "CPU_OVERHEAD_BYTES",
    "CUDA_OVERHEAD_BYTES",
    "DEFAULT_CPU_BANDWIDTH_BYTES_PER_SECOND",
    "DEFAULT_GPU_BANDWIDTH_BYTES_PER_SECOND",
    "DEFAULT_QUANT",
    "ENGINES",
    "ENGINE_GPU_VENDORS",
    "GPU_BANDWIDTH_GB_PER_SECOND",
    "GPU_MARGIN",
    "KV_BYTES_PER_ELEMENT",
    "KV_TYPES",
    "METAL_OVERHEAD_BYTES",
    "MIN_PARTIAL_GPU_LAYERS",
    "QUANT_BYTES_PER_PARAM",
    "TRANSFORMERS_DTYPES",
    "DeviceUse",
    "FitEstimate",
    "FitOption",
    "FitVerdict",
    "MaxContext",
    "MemoryBreakdown",
    "available_ram_bytes",
    "context_label",
    "cpu_bandwidth_bytes_per_second",
    "default_quant",
    "engine_gpu",
    "estimate_fit",
    "gpu_bandwidth_bytes_per_second",
    "gpu_overhead_bytes",
    "graph_bytes",
    "kv_cache_bytes",
    "max_context_label",
    "normalize_quant",
    "speed_label",
    "weights_bytes",
]


def _gpu_phrase(view: MachineView, placement: Placement | None) -> str:
    pools = view.pools
    if placement is not None and placement.kind != "cpu_only":
        used = {use.name for use in placement.devices if use.kind == "gpu"}
        pools = tuple(pool for pool in pools if pool.name in used) or pools
    if len(pools) == 1:
        pool = pools[0]
        kind = "of shared memory" if pool.unified else "VRAM"
        return f"{pool.name} ({format_bytes(pool.free_bytes)} {kind} free)"
    free = sum(pool.free_bytes for pool in pools)
    names = " and ".join(pool.name for pool in pools)
    return f"{len(pools)} GPUs, {names} ({format_bytes(free)} VRAM free in all)"


BITSANDBYTES_QUANTS = ("int8", "nf4")
"""Transformers quantizations done by bitsandbytes: CUDA only, the whole model on the GPU
(``engines/transformers_quant.py`` refuses the CPU and Apple GPUs)."""


def _has_nvidia_pool(view: MachineView) -> bool:
    return any(pool.gpu.vendor == "nvidia" and not pool.unified for pool in view.pools)


def _bitsandbytes_problem(
    engine: str, quant: str, view: MachineView, placement: Placement | None
) -> str:
    """Why an int8/nf4 Transformers load cannot run here ("" when it can)."""
    if engine != "transformers" or quant not in BITSANDBYTES_QUANTS:
        return ""
    if not _has_nvidia_pool(view):
        return (
            f"Not possible here: {quant} (bitsandbytes) needs an NVIDIA GPU. Use bf16 on this "
            "computer, or the Ollama engine's Q4_K_M or Q8_0."
        )
    if placement is not None and placement.kind != "full_gpu":
        return (
            f"Too large for {quant} on the GPU: bitsandbytes keeps the whole model in VRAM. "
            "Pick a smaller model, a shorter context, or the Ollama engine (GPU + CPU)."
        )
    return ""


def _over_free_ram(placement: Placement, view: MachineView) -> bool:
    """A tight fit that needs more RAM than is free now (full fits on discrete GPUs never are)."""
    if not placement.tight:
        return False
    used = placement.ram_bytes or placement.devices[0].bytes  # unified memory: the GPU's use
    return used > view.ram_available_bytes


def _tight_phrase(placement: Placement, view: MachineView) -> str:
    if not placement.tight:
        return ""
    used = placement.ram_bytes or placement.devices[0].bytes  # unified memory: the GPU's use
    if _over_free_ram(placement, view):
        return (
            f" Tight: close other programs before loading it; only "
            f"{format_bytes(view.ram_available_bytes)} of RAM is free right now."
        )
    left = max(0, view.ram_available_bytes - used)
    return f" Tight: leaves only {format_bytes(left)} of RAM for other programs."


def ram_phrase(view: MachineView) -> str:
    """ "23.5 GiB RAM (2.0 GiB kept for the system, 20.7 GiB free now)"."""
    return (
        f"{format_bytes(view.ram_capacity_bytes)} RAM "
        f"({format_bytes(view.ram_reserve_bytes)} kept for the system, "
        f"{format_bytes(view.ram_available_bytes)} free now)"
    )


def _wont_fit_reason(need: int, ctx: str, view: MachineView) -> str:
    ram = ram_phrase(view)
    if view.discrete_pools:
        free = sum(pool.free_bytes for pool in view.discrete_pools)
        names = " + ".join(pool.name for pool in view.discrete_pools)
        has = f"{ram} and {format_bytes(free)} free VRAM on {names}"
    elif view.pools:
        has = f"{ram}, shared with {view.pools[0].name}"
    elif view.has_gpus:
        has = f"{ram} and no GPU the engine can use"
    else:
        has = f"{ram} and no GPU"
    return f"Too large: needs {format_bytes(need)} at {ctx} context; this machine has {has}."


# ------------------------------------------------------------------------------ estimate


def _tokens_per_second(costs: ModelCosts, placement: Placement, ctx: int) -> float:
    return 1 / placement.seconds_per_token(costs.kv(ctx) / 2)


def _measured_speed(
    costs: ModelCosts, view: MachineView, ctx: int, estimate: float, measurement: Measurement
) -> tuple[float, str]:
    then = best_placement(costs, view, measurement.context_tokens)
    predicted_then = (
        _tokens_per_second(costs, then, measurement.context_tokens) if then else estimate
    )
    speed = corrected_tokens_per_second(measurement.tokens_per_second, predicted_then, estimate)
    note = measurement.describe()
    if measurement.context_tokens != ctx:
        note += (
            f" with {measurement.context_tokens:,} tokens of context, scaled to "
            f"{context_label(ctx)}"
        )
    return speed, note


def _experts_option(
    costs: ModelCosts, view: MachineView, ctx: int, limit: MaxContext
) -> FitOption | None:
    placement = experts_on_cpu(costs, view, ctx)
    if placement is None:
        return None
    speed = _tokens_per_second(costs, placement, ctx)
    n, layers = placement.cpu_expert_layers, placement.total_layers
    text = (
        f"With the routed experts of {n} of {layers} layers in RAM and everything else on the "
        f"GPU (llama.cpp --n-cpu-moe {n}), it would run at {speed_label(speed)}."
    )
    return FitOption(
        "experts_on_cpu",
        placement.gpu_layers,
        n,
        speed,
        placement.devices,
        placement.tight,
        limit.experts_on_cpu,
        text,
    )


def estimate_fit(
    variant: Variant,
    machine: MachineReport,
    *,
    quant: str | None = None,
    context_tokens: int = 8192,
    kv_type: str = "f16",
    engine: str = "ollama",
    measurement: Measurement | None = None,
    parallel: int = 1,
) -> FitEstimate:
    """Where ``variant`` runs on ``machine``, what it needs, and roughly how fast.

    Args:
        variant: The catalog variant.
        machine: The hardware report.
        quant: Weights quantization; default ``Q4_K_M`` (ollama) or ``bf16`` (transformers).
        context_tokens: Context length to plan the KV cache for (tokens); not capped at the
            variant's window (callers do that).
        kv_type: KV cache type (``f16``, ``q8_0``, ``q4_0``; Transformers: ``f16`` only, meaning
            its compute dtype).
        engine: ``ollama`` (llama.cpp, GGUF) or ``transformers``.
        measurement: A measured run of this variant, engine and quantization; applied when it was
            taken on this machine (same :func:`machine_fingerprint`).
        parallel: Sequences served at once (multiplies the KV cache).

    Returns:
        The estimate, with a plain-words reason.

    Raises:
        ValueError: Unknown engine, quantization or KV type, q8_0/q4_0 KV with Transformers, a
            negative context, or a measurement of another model, engine or quantization.
    """
    engine = check_engine(engine)
    quant = normalize_quant(quant if quant is not None else default_quant(engine), engine)
    if context_tokens < 0:
        raise ValueError("context_tokens must be >= 0")
    if measurement is not None and not measurement.matches(variant.id, engine, quant):
        raise ValueError(
            f"the measurement is of {measurement.model_id} ({measurement.engine}, "
            f"{measurement.quant}), not {variant.id} ({engine}, {quant})"
        )
    costs = model_costs(variant, engine, quant, kv_type, parallel)
    view = MachineView.of(machine, engine)
    ctx = context_tokens
    kv, compute, vision = costs.kv(ctx), costs.compute(ctx), costs.vision_bytes
    weights = costs.weights.text_bytes
    limits = max_context(costs, view, max(ctx, variant.context_tokens))
    placement = best_placement(costs, view, ctx)
    bitsandbytes_note = _bitsandbytes_problem(engine, quant, view, placement)
    if bitsandbytes_note:
        placement = None  # the engine refuses to load it this way (transformers_quant.py)
    if engine == "transformers" and quant in BITSANDBYTES_QUANTS:
        # bitsandbytes runs only with everything on an NVIDIA GPU: no offload, no CPU way.
        gpu = limits.full_gpu if _has_nvidia_pool(view) else None
        limits = dataclasses.replace(
            limits, full_gpu=gpu, partial_gpu=gpu, cpu_only=None, experts_on_cpu=None
        )
    option = _experts_option(costs, view, ctx, limits)
    label = context_label(ctx)
    common: dict[str, Any] = {
        "total_layers": costs.layers,
        "weights_bytes": weights,
        "kv_cache_bytes": kv,
        "graph_bytes": compute,
        "quant": quant,
        "context_tokens": ctx,
        "kv_type": costs.kv_type,
        "engine": engine,
        "vision_bytes": vision,
        "max_context": limits,
        "options": (option,) if option else (),
    }

    if placement is None:
        overhead = (
            view.discrete_pools[0].overhead_bytes
            if view.discrete_pools
            else cpu_overhead_bytes(costs)
        )
        need = weights + kv + compute + vision + overhead
        reason = bitsandbytes_note or _wont_fit_reason(need, label, view)
        if option is not None:
            reason += " " + option.description
        pool_free = view.ram_available_bytes + sum(p.free_bytes for p in view.discrete_pools)
        return FitEstimate(
            verdict=FitVerdict.WONT_FIT,
            gpu_layers=0,
            overhead_bytes=overhead,
            total_bytes=need,
            pool="gpu+ram" if view.discrete_pools else "ram",
            pool_name=(" + ".join([*(p.name for p in view.discrete_pools), "RAM"])),
            pool_free_bytes=pool_free,
            tokens_per_second_estimate=None,
            reason=reason,
            **common,
        )

    need = weights + kv + compute + vision + placement.overhead_bytes
    speed = _tokens_per_second(costs, placement, ctx)
    speed_note = ""
    applied = None
    if measurement is not None and measurement.machine_fingerprint == machine_fingerprint(machine):
        speed, speed_note = _measured_speed(costs, view, ctx, speed, measurement)
        applied = measurement
    expect = f"expect {speed_label(speed)}" + (f" ({speed_note})" if speed_note else "")
    verdict, pool, pool_free, pool_name, reason = _describe(placement, view, need, label, expect)
    if option is not None and option.tokens_per_second_estimate > speed:
        reason += " " + option.description
    return FitEstimate(
        verdict=verdict,
        gpu_layers=placement.gpu_layers,
        overhead_bytes=placement.overhead_bytes,
        total_bytes=need,
        pool=pool,
        pool_name=pool_name,
        pool_free_bytes=pool_free,
        tokens_per_second_estimate=speed,
        reason=reason,
        devices=placement.devices,
        tight=placement.tight,
        over_free_ram=_over_free_ram(placement, view),
        measurement=applied,
        cpu_expert_layers=placement.cpu_expert_layers,
        **common,
    )


def _describe(
    placement: Placement, view: MachineView, need: int, label: str, expect: str
) -> tuple[FitVerdict, Pool, int, str, str]:
    """Verdict, pool, pool's free bytes, pool name and reason of a placement that fits."""
    where = _gpu_phrase(view, placement)
    gpu_free = sum(use.free_bytes for use in placement.devices if use.kind == "gpu")
    names = " + ".join(use.name for use in placement.devices)
    result: tuple[FitVerdict, Pool, int, str, str]
    if placement.kind == "full_gpu":
        reason = f"Runs fully on {where}: needs {format_bytes(need)} at {label} context; {expect}."
        result = (FitVerdict.FULL_GPU, "gpu", gpu_free, names, reason)
    elif placement.kind == "partial_gpu":
        gpus = "GPUs" if len(placement.devices) > 2 else "GPU"
        reason = (
            f"Runs partly on {where}: {placement.gpu_layers} of {placement.total_layers} layers "
            f"on the {gpus}, the rest in RAM; needs {format_bytes(need)} in all at {label} "
            f"context; {expect}."
        )
        free = gpu_free + view.ram_available_bytes
        result = (FitVerdict.PARTIAL_GPU, "gpu+ram", free, names, reason)
    else:
        runs = f"Too large for {where}; runs" if view.pools else "Runs"
        reason = (
            f"{runs} on the CPU: needs {format_bytes(need)} at {label} context of "
            f"{format_bytes(view.ram_budget_bytes)} usable RAM "
            f"({format_bytes(view.ram_reserve_bytes)} kept for the system); {expect}."
        )
        result = (FitVerdict.CPU_ONLY, "ram", view.ram_available_bytes, "RAM", reason)
    verdict, pool, free, pool_name, reason = result
    return verdict, pool, free, pool_name, reason + _tight_phrase(placement, view)
