"""Where a model's bytes go: full GPU, partial offload, experts on the CPU, CPU only.

Pure arithmetic over :class:`~qwen_desktop.core.fit_memory.ModelCosts` and a
:class:`MachineView`. With ``W`` text weights, ``V`` vision tower (weights + one image), ``K`` KV
cache, ``G`` compute graph or activations, ``F_i`` the fixed minimum of GPU ``i`` and ``u_i`` its
usable memory (free × 0.95)::

    FULL GPU   one GPU:  W + V + K + G + F ≤ u                  (Ollama tries one GPU first)
               several:  layers split in proportion to free VRAM (llama.cpp's default tensor
                         split, s_i = free_i / Σ free): s_i·(W + K) + F_i + G (+ V on the first)
                         ≤ u_i for every GPU, i.e. W + K ≤ D_max = min_i (u_i − F_i − G − V_i)/s_i
    PARTIAL    n layers on the GPUs, the rest in RAM (discrete GPUs only; llama.cpp puts the
               output layer on the GPU first): with a layer = W/(L+1) (Jan's split, the output
               layer weighing one layer) plus its KV share K/L,
               n = floor((D_max − W/(L+1)) / (W/(L+1) + K/L)), 2 ≤ n < L,
               and (L − n) layers ≤ the RAM budget
    EXPERTS    MoE only (llama.cpp ``--n-cpu-moe N`` / ``-ot exps=CPU``): attention, shared weights
    ON CPU     and the KV cache on the GPUs, the routed experts of N layers in RAM, the smallest N
               with W − N·X/L + K ≤ D_max (X = all routed experts); N·X/L ≤ the RAM budget
    CPU ONLY   W + V + K + G + 256 MiB ≤ the RAM budget (available RAM − reserve)

The Transformers engine loads on one device (this project's loader): full GPU on the first GPU
or CPU only; ``G`` is its activation estimate and its fixed overheads differ (fit_memory.py).

Decode time per token (memory-bandwidth bound; memory-fit.md, "Speed estimate")::

    t(fill) = Σ_devices (weights read there + its share of the KV cache at ``fill``) / bandwidth
    weight bytes read = active weights (MoE: the active experts only)

Layer splits run one device after the other, so the times add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from qwen_desktop.core.fit_devices import (
    GpuPool,
    available_ram_bytes,
    comfort_reserve_bytes,
    cpu_effective_bandwidth,
    engine_gpu_pools,
    ram_budget_bytes,
    ram_capacity_bytes,
    ram_reserve_bytes,
)
from qwen_desktop.core.fit_memory import (
    CPU_OVERHEAD_BYTES,
    TRANSFORMERS_CPU_OVERHEAD_BYTES,
    ModelCosts,
)
from qwen_desktop.core.machine import MachineReport

PlacementKind = Literal["full_gpu", "partial_gpu", "experts_on_cpu", "cpu_only"]

MIN_PARTIAL_GPU_LAYERS = 2
"""Fewer layers than this on the GPU is not worth a partial offload (memory-fit.md)."""

TRANSFORMERS_SECONDS_PER_TOKEN_PER_LAYER = 0.0002
"""Per-token framework overhead of the Transformers engine per decoder layer (Python, kernel
launches, the cache's ``torch.cat``): calibrated by ``bench/bench_fit_vs_measured.py``."""


@dataclass(frozen=True)
class MachineView:
    """A machine's pools for one engine, computed once (estimates and context searches reuse it).

    Attributes:
        pools: Usable GPUs, most free memory first (see ``engine_gpu_pools``).
        ram_available_bytes: RAM free right now (container limit applied).
        ram_capacity_bytes: The machine's RAM (its total, or a container limit).
        ram_reserve_bytes: RAM kept for the system and other programs.
        ram_budget_bytes: The capacity minus the reserve: what a model may plan to use.
        comfort_reserve_bytes: RAM a comfortable fit leaves free.
        cpu_bandwidth: Effective CPU decode bandwidth (bytes/s).
        has_gpus: True when the machine lists any GPU (even one the engines cannot use).
    """

    pools: tuple[GpuPool, ...]
    ram_available_bytes: int
    ram_capacity_bytes: int
    ram_reserve_bytes: int
    ram_budget_bytes: int
    comfort_reserve_bytes: int
    cpu_bandwidth: float
    has_gpus: bool

    @classmethod
    def of(cls, machine: MachineReport, engine: str = "ollama") -> MachineView:
        """The view of ``machine`` for ``engine``."""
        return cls(
            pools=tuple(engine_gpu_pools(machine, engine)),
            ram_available_bytes=available_ram_bytes(machine),
            ram_capacity_bytes=ram_capacity_bytes(machine),
            ram_reserve_bytes=ram_reserve_bytes(machine),
            ram_budget_bytes=ram_budget_bytes(machine),
            comfort_reserve_bytes=comfort_reserve_bytes(machine),
            cpu_bandwidth=cpu_effective_bandwidth(machine),
            has_gpus=bool(machine.gpus),
        )

    @property
    def discrete_pools(self) -> tuple[GpuPool, ...]:
        """The pools with their own memory (partial offload needs a second pool: RAM)."""
        return tuple(pool for pool in self.pools if not pool.unified)


@dataclass(frozen=True)
class DeviceUse:
    """What a placement puts on one device.

    Attributes:
        name: GPU name, or ``RAM``.
        kind: ``gpu`` or ``ram``.
        bytes: Planned use.
        free_bytes: Free memory before loading.
        usable_bytes: What the estimate allows itself (free × margin, or RAM budget).
        layers: Transformer layers held (RAM: the CPU's layers; experts on CPU: expert layers).
    """

    name: str
    kind: Literal["gpu", "ram"]
    bytes: int
    free_bytes: int
    usable_bytes: int
    layers: int


@dataclass(frozen=True)
class ReadTerm:
    """One device's part of a decode step: weight bytes read, KV share, bandwidth (bytes/s)."""

    weight_bytes: float
    kv_share: float
    bandwidth: float


@dataclass(frozen=True)
class Placement:
    """One way to run the model at one context length.

    Attributes:
        kind: ``full_gpu``, ``partial_gpu``, ``experts_on_cpu`` or ``cpu_only``.
        gpu_layers: Layers whose attention and dense weights sit on GPUs.
        total_layers: ``num_hidden_layers``.
        cpu_expert_layers: Layers whose routed experts sit in RAM (experts on CPU only).
        devices: Use per device (GPUs first, RAM last).
        overhead_bytes: Fixed overheads counted (all devices).
        tight: True when it fits without comfortable RAM headroom (fit_devices.py); full fits
            on discrete GPUs are never tight (their margin is the headroom).
        reads: Decode-time terms (see :meth:`seconds_per_token`).
        seconds_per_token_overhead: Framework time per token (Transformers), seconds.
    """

    kind: PlacementKind
    gpu_layers: int
    total_layers: int
    cpu_expert_layers: int
    devices: tuple[DeviceUse, ...]
    overhead_bytes: int
    tight: bool
    reads: tuple[ReadTerm, ...]
    seconds_per_token_overhead: float = 0.0

    def seconds_per_token(self, kv_bytes_at_fill: float) -> float:
        """Decode time per token when the KV cache holds ``kv_bytes_at_fill`` bytes."""
        return self.seconds_per_token_overhead + sum(
            (term.weight_bytes + term.kv_share * kv_bytes_at_fill) / term.bandwidth
            for term in self.reads
        )

    @property
    def ram_bytes(self) -> int:
        """Bytes planned in RAM (0 when everything is on GPUs)."""
        return sum(device.bytes for device in self.devices if device.kind == "ram")


def _ram_use(view: MachineView, need: float, layers: int) -> DeviceUse:
    return DeviceUse(
        "RAM", "ram", math.ceil(need), view.ram_available_bytes, view.ram_budget_bytes, layers
    )


def _ram_tight(view: MachineView, need: float) -> bool:
    """Leaves less than the comfort reserve of the RAM free now (or needs more than is free)."""
    return view.ram_available_bytes - need < view.comfort_reserve_bytes


def _shares(pools: tuple[GpuPool, ...]) -> list[float]:
    total = sum(pool.free_bytes for pool in pools)
    return [pool.free_bytes / total for pool in pools]


def _split_room(pools: tuple[GpuPool, ...], fixed: float, first_extra: float) -> float:
    """``D_max``: the most bytes a proportional split can put on ``pools`` when every GPU also
    holds ``fixed`` + its own minimum, and the first one ``first_extra``."""
    return min(
        (pool.usable_bytes - pool.overhead_bytes - fixed - (first_extra if i == 0 else 0)) / share
        for i, (pool, share) in enumerate(zip(pools, _shares(pools), strict=True))
    )


def _gpu_uses(
    pools: tuple[GpuPool, ...], split: float, fixed: float, first_extra: float, layers: int
) -> tuple[DeviceUse, ...]:
    uses = []
    for i, (pool, share) in enumerate(zip(pools, _shares(pools), strict=True)):
        need = share * split + fixed + pool.overhead_bytes + (first_extra if i == 0 else 0)
        uses.append(
            DeviceUse(
                pool.name,
                "gpu",
                math.ceil(need),
                pool.free_bytes,
                int(pool.usable_bytes),
                round(share * layers),
            )
        )
    return tuple(uses)


def _gpu_reads(pools: tuple[GpuPool, ...], weights: float, kv_share: float) -> list[ReadTerm]:
    return [
        ReadTerm(share * weights, share * kv_share, pool.bandwidth_bytes_per_second)
        for pool, share in zip(pools, _shares(pools), strict=True)
    ]


def full_gpu(costs: ModelCosts, view: MachineView, ctx: int) -> Placement | None:
    """Everything on the GPU(s), or ``None`` (module docstring)."""
    if not view.pools:
        return None
    kv, compute, vision = costs.kv(ctx), costs.compute(ctx), costs.vision_bytes
    text, layers = costs.weights.text_bytes, costs.layers
    candidates = [view.pools[:1]]
    if costs.engine == "ollama" and len(view.pools) > 1:
        candidates.append(view.pools)
    for pools in candidates:
        if text + kv > _split_room(pools, compute, vision):
            continue
        uses = _gpu_uses(pools, text + kv, compute, vision, layers)
        # Discrete VRAM keeps its 5 % margin and the GPUs' fixed minimum; only a unified pool
        # (which is the RAM) can leave the rest of the system short.
        tight = pools[0].unified and _ram_tight(view, uses[0].bytes)
        return Placement(
            kind="full_gpu",
            gpu_layers=layers,
            total_layers=layers,
            cpu_expert_layers=0,
            devices=uses,
            overhead_bytes=sum(pool.overhead_bytes for pool in pools),
            tight=tight,
            reads=tuple(_gpu_reads(pools, costs.weights.active_bytes, 1.0)),
            seconds_per_token_overhead=_framework_seconds(costs),
        )
    return None


def partial_gpu(costs: ModelCosts, view: MachineView, ctx: int) -> Placement | None:
    """Some layers on the discrete GPUs, the rest in RAM (ollama only), or ``None``."""
    pools = view.discrete_pools
    if costs.engine != "ollama" or not pools:
        return None
    kv, compute, vision = costs.kv(ctx), costs.compute(ctx), costs.vision_bytes
    text, layers = costs.weights.text_bytes, costs.layers
    layer_weights = text / (layers + 1)
    per_layer = layer_weights + kv / layers
    room = _split_room(pools, compute, vision)
    n = min(layers - 1, max(0, math.floor((room - layer_weights) / per_layer)))
    ram_need = (layers - n) * per_layer
    if n < MIN_PARTIAL_GPU_LAYERS or ram_need > view.ram_budget_bytes:
        return None
    uses = _gpu_uses(pools, n * per_layer + layer_weights, compute, vision, n)
    share = n / layers
    reads = _gpu_reads(pools, costs.weights.active_bytes * share, share)
    reads.append(ReadTerm(costs.weights.active_bytes * (1 - share), 1 - share, view.cpu_bandwidth))
    return Placement(
        kind="partial_gpu",
        gpu_layers=n,
        total_layers=layers,
        cpu_expert_layers=0,
        devices=(*uses, _ram_use(view, ram_need, layers - n)),
        overhead_bytes=sum(pool.overhead_bytes for pool in pools),
        tight=_ram_tight(view, ram_need),
        reads=tuple(reads),
    )


def experts_on_cpu(costs: ModelCosts, view: MachineView, ctx: int) -> Placement | None:
    """MoE: everything but the routed experts of N layers on the GPUs, or ``None`` when it is not
    a MoE, the engine is not llama.cpp, the whole model fits the GPUs anyway, or it cannot fit."""
    pools = view.discrete_pools
    experts = costs.weights.expert_bytes
    if costs.engine != "ollama" or not pools or experts <= 0:
        return None
    kv, compute, vision = costs.kv(ctx), costs.compute(ctx), costs.vision_bytes
    text, layers = costs.weights.text_bytes, costs.layers
    per_layer_experts = experts / layers
    room = _split_room(pools, compute, vision)
    cpu_layers = math.ceil((text + kv - room) / per_layer_experts)
    ram_need = cpu_layers * per_layer_experts
    if cpu_layers < 1 or cpu_layers > layers or ram_need > view.ram_budget_bytes:
        return None
    uses = _gpu_uses(pools, text + kv - ram_need, compute, vision, layers)
    active_experts = costs.weights.active_expert_bytes
    on_cpu = active_experts * cpu_layers / layers
    reads = _gpu_reads(pools, costs.weights.active_bytes - on_cpu, 1.0)
    reads.append(ReadTerm(on_cpu, 0.0, view.cpu_bandwidth))
    return Placement(
        kind="experts_on_cpu",
        gpu_layers=layers,
        total_layers=layers,
        cpu_expert_layers=cpu_layers,
        devices=(*uses, _ram_use(view, ram_need, cpu_layers)),
        overhead_bytes=sum(pool.overhead_bytes for pool in pools),
        tight=_ram_tight(view, ram_need),
        reads=tuple(reads),
    )


def cpu_overhead_bytes(costs: ModelCosts) -> int:
    """Fixed RAM overhead of running on the CPU: 256 MiB (ollama) or the Transformers runtime."""
    return CPU_OVERHEAD_BYTES if costs.engine == "ollama" else TRANSFORMERS_CPU_OVERHEAD_BYTES


def cpu_only(costs: ModelCosts, view: MachineView, ctx: int) -> Placement | None:
    """Everything in RAM, or ``None``."""
    overhead = cpu_overhead_bytes(costs)
    need = costs.weights.text_bytes + costs.vision_bytes + costs.kv(ctx) + costs.compute(ctx)
    need += overhead
    if need > view.ram_budget_bytes:
        return None
    return Placement(
        kind="cpu_only",
        gpu_layers=0,
        total_layers=costs.layers,
        cpu_expert_layers=0,
        devices=(_ram_use(view, need, costs.layers),),
        overhead_bytes=overhead,
        tight=_ram_tight(view, need),
        reads=(ReadTerm(costs.weights.active_bytes, 1.0, view.cpu_bandwidth),),
        seconds_per_token_overhead=_framework_seconds(costs),
    )


def _framework_seconds(costs: ModelCosts) -> float:
    if costs.engine == "transformers":
        return TRANSFORMERS_SECONDS_PER_TOKEN_PER_LAYER * costs.layers
    return 0.0


def best_placement(costs: ModelCosts, view: MachineView, ctx: int) -> Placement | None:
    """The verdict's placement: full GPU, else partial offload, else CPU only, else ``None``."""
    return full_gpu(costs, view, ctx) or partial_gpu(costs, view, ctx) or cpu_only(costs, view, ctx)


def gpu_involved(costs: ModelCosts, view: MachineView, ctx: int) -> bool:
    """True when the model runs at least partly on a GPU (full or partial)."""
    return full_gpu(costs, view, ctx) is not None or partial_gpu(costs, view, ctx) is not None
