"""The machine as the fit estimate sees it: usable GPUs, RAM budget and headroom, bandwidths.

Pure functions over a :class:`~qwen_desktop.core.machine.MachineReport`.

RAM headroom (an assumption; no published source): a model may plan to use the machine's RAM
(its total, or a container limit) minus a reserve for the operating system, this app and
whatever the user opens next: the smaller of :data:`RAM_RESERVE_MAX_BYTES` (2 GiB) and
:data:`RAM_RESERVE_SHARE` (15 %) of the RAM, so that small boards can still run small models.
The verdict is a property of the machine, not of the moment: what other programs hold *now*
(available RAM) does not turn a model that fits into one that doesn't; instead a fit that needs
more than is free now is *tight* and says to close other programs first. A fit that leaves less
than :data:`COMFORT_RESERVE_MAX_BYTES` (4 GiB, or :data:`COMFORT_RESERVE_SHARE` = 30 % of RAM on
small machines) is *tight* too: it runs, but the machine will swap or the app be killed when the
user opens a browser. Ollama keeps no reserve (it loads whatever fits free memory) and
memory-fit.md suggested ``free RAM × margin``; both let a model take the last gigabyte of a
laptop, and both flip their answer with whatever else happens to be open.

GPUs: only vendors the engines accelerate count (NVIDIA via CUDA, AMD via ROCm, Apple via Metal;
Intel and unknown GPUs are ignored). Unified-memory GPUs (Apple Silicon, APUs, iGPUs) share RAM:
their pool is never added to RAM, and is capped by the RAM budget (case C6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qwen_desktop.core.fit_memory import (
    CUDA_OVERHEAD_BYTES,
    METAL_OVERHEAD_BYTES,
    TRANSFORMERS_GPU_OVERHEAD_BYTES,
    GiB,
)
from qwen_desktop.core.machine import GpuInfo, MachineReport

GPU_MARGIN = 0.95
"""Share of free VRAM a model may plan to use (memory-fit.md: "free VRAM × margin")."""

RAM_RESERVE_MAX_BYTES = 2 * GiB
RAM_RESERVE_SHARE = 0.15
COMFORT_RESERVE_MAX_BYTES = 4 * GiB
COMFORT_RESERVE_SHARE = 0.30
"""RAM headroom rule (see the module docstring)."""

ENGINE_GPU_VENDORS = frozenset({"nvidia", "amd", "apple"})
"""GPU vendors the engines accelerate (llama.cpp: CUDA, ROCm, Metal; torch: CUDA, ROCm, MPS)."""

BANDWIDTH_EFFICIENCY = 0.6
"""Share of peak memory bandwidth decode achieves in practice (llmfit uses 0.55; llama.cpp
typically reaches 50–70 % of peak)."""

CPU_BYTES_PER_SECOND_PER_CORE = 8e9
"""Weight bytes one CPU core streams through a matrix-vector product per second (assumption:
llama.cpp decodes a 4.4 GB Q4_K_M 7B model at about 2 tokens/s on one modern core). Decode on a
few cores is compute-bound before it is bandwidth-bound: the CPU's effective bandwidth is
``min(RAM bandwidth × efficiency, cores × this)``."""

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


@dataclass(frozen=True)
class GpuPool:
    """One GPU as a memory pool for the placement.

    Attributes:
        gpu: The report's entry.
        free_bytes: Free memory (unified: capped by the RAM available).
        usable_bytes: What a model may plan to use: ``free × GPU_MARGIN`` (unified: also capped
            by the RAM budget).
        overhead_bytes: The engine's fixed minimum on this GPU.
        bandwidth_bytes_per_second: Effective decode bandwidth (peak × efficiency).
    """

    gpu: GpuInfo
    free_bytes: int
    usable_bytes: float
    overhead_bytes: int
    bandwidth_bytes_per_second: float

    @property
    def name(self) -> str:
        """The GPU's name."""
        return self.gpu.name

    @property
    def unified(self) -> bool:
        """True when the GPU shares system RAM."""
        return self.gpu.unified_memory


def available_ram_bytes(machine: MachineReport) -> int:
    """RAM a model may use now: ``available_bytes``, capped by a container limit.

    When the probe could not read available memory (0), the usable total is taken instead.
    """
    memory = machine.memory
    available = memory.available_bytes if memory.available_bytes > 0 else memory.usable_total_bytes
    if memory.limit_bytes is not None:
        available = min(available, memory.limit_bytes)
    return max(0, available)


def _ram_total(machine: MachineReport) -> int:
    return machine.memory.usable_total_bytes or available_ram_bytes(machine)


def ram_capacity_bytes(machine: MachineReport) -> int:
    """RAM the machine can give a model at all: its usable total, capped by a container limit.

    When the probe could not read the total (0), the available RAM is taken instead.
    """
    memory = machine.memory
    capacity = memory.usable_total_bytes or available_ram_bytes(machine)
    if memory.limit_bytes is not None:
        capacity = min(capacity, memory.limit_bytes)
    return max(0, capacity)


def ram_reserve_bytes(machine: MachineReport) -> int:
    """RAM kept free for everything else: ``min(2 GiB, 15 % of RAM)`` (module docstring)."""
    return int(min(RAM_RESERVE_MAX_BYTES, RAM_RESERVE_SHARE * _ram_total(machine)))


def comfort_reserve_bytes(machine: MachineReport) -> int:
    """RAM a comfortable fit leaves: ``min(4 GiB, 30 % of RAM)`` (module docstring)."""
    return int(min(COMFORT_RESERVE_MAX_BYTES, COMFORT_RESERVE_SHARE * _ram_total(machine)))


def ram_budget_bytes(machine: MachineReport) -> int:
    """RAM a model may plan to use: :func:`ram_capacity_bytes` minus :func:`ram_reserve_bytes`
    (≥ 0). What is free right now only makes a fit *tight* (module docstring)."""
    return max(0, ram_capacity_bytes(machine) - ram_reserve_bytes(machine))


def gpu_overhead_bytes(gpu: GpuInfo, engine: str = "ollama") -> int:
    """Fixed minimum a GPU needs: ollama 512 MiB on Metal, else 457 MiB (CUDA/ROCm);
    transformers :data:`~qwen_desktop.core.fit_memory.TRANSFORMERS_GPU_OVERHEAD_BYTES`."""
    if engine == "transformers":
        return TRANSFORMERS_GPU_OVERHEAD_BYTES
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


def cpu_cores(machine: MachineReport) -> int:
    """Cores decode may use: physical cores (logical when the report has no physical count),
    capped by ``usable_cores`` (CPU affinity or a container quota) when known."""
    cpu = machine.cpu
    cores = cpu.physical_cores if cpu.physical_cores > 1 else cpu.logical_cores
    if cpu.usable_cores:
        cores = min(cores, cpu.usable_cores)
    return max(1, cores)


def cpu_effective_bandwidth(machine: MachineReport) -> float:
    """Decode bandwidth of the CPU: ``min(peak × efficiency, cores × per-core rate)``."""
    return min(
        cpu_bandwidth_bytes_per_second(machine) * BANDWIDTH_EFFICIENCY,
        cpu_cores(machine) * CPU_BYTES_PER_SECOND_PER_CORE,
    )


def _pool(gpu: GpuInfo, machine: MachineReport, engine: str) -> GpuPool:
    free = gpu.vram_free_bytes
    usable = free * GPU_MARGIN
    if gpu.unified_memory:
        free = min(free, ram_capacity_bytes(machine))
        usable = min(free * GPU_MARGIN, ram_budget_bytes(machine))
    return GpuPool(
        gpu=gpu,
        free_bytes=free,
        usable_bytes=usable,
        overhead_bytes=gpu_overhead_bytes(gpu, engine),
        bandwidth_bytes_per_second=gpu_bandwidth_bytes_per_second(gpu) * BANDWIDTH_EFFICIENCY,
    )


def engine_gpu_pools(machine: MachineReport, engine: str = "ollama") -> list[GpuPool]:
    """The GPUs a model may use, most free memory first.

    One backend drives a model (CUDA, ROCm or Metal): the GPUs of the vendor with the most free
    memory in all. A unified-memory GPU is used alone (its memory is the RAM). The Transformers
    engine loads on one device (``device_map="cuda"`` is ``cuda:0``; CUDA numbers the fastest
    device first): the first pool only.
    """
    usable = [
        gpu for gpu in machine.gpus if gpu.vendor in ENGINE_GPU_VENDORS and gpu.vram_free_bytes > 0
    ]
    if not usable:
        return []
    pools = sorted((_pool(gpu, machine, engine) for gpu in usable), key=lambda p: -p.free_bytes)
    by_vendor: dict[str, list[GpuPool]] = {}
    for pool in pools:
        by_vendor.setdefault(pool.gpu.vendor, []).append(pool)
    best = max(by_vendor.values(), key=lambda group: sum(p.free_bytes for p in group))
    discrete = [pool for pool in best if not pool.unified]
    if engine == "transformers" or not discrete:
        return best[:1]
    return discrete


def engine_gpu(machine: MachineReport) -> GpuInfo | None:
    """The main GPU the estimate uses (most free memory), or None."""
    pools = engine_gpu_pools(machine)
    return pools[0].gpu if pools else None


def machine_fingerprint(machine: MachineReport) -> str:
    """A stable description of a machine for matching measurements: CPU model, RAM (GiB, rounded)
    and GPU names, e.g. ``"AMD Ryzen 5 7600 | 32 GiB RAM | NVIDIA GeForce RTX 4060"``."""
    ram_gib = round(machine.memory.usable_total_bytes / GiB)
    gpus = sorted(gpu.name for gpu in machine.gpus) or ["no GPU"]
    return " | ".join([machine.cpu.model.strip(), f"{ram_gib} GiB RAM", *gpus])
