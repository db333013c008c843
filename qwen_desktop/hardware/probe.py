"""The whole-machine probe behind ``qwen-desktop scan``.

:func:`probe_machine` runs each section probe (OS, CPU, memory, disk, then every GPU vendor
probe of :func:`default_gpu_probes`) behind a guard: whatever goes wrong becomes a
:class:`ProbeNote`, and the report is always returned. A GPU vendor probe is any callable
returning ``(list[GpuInfo], list[ProbeNote])``; GPUs seen by two probes are reported once
(:func:`~qwen_desktop.hardware.gpus.dedupe_gpus`). The CPU's memory bandwidth is measured once
per machine and cached (:mod:`qwen_desktop.hardware.bandwidth`).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from qwen_desktop.core.machine import (
    CpuInfo,
    DiskInfo,
    GpuInfo,
    MachineReport,
    MemoryInfo,
    OsInfo,
    ProbeNote,
)
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.units import format_bytes
from qwen_desktop.hardware.amd import probe_amd
from qwen_desktop.hardware.apple import probe_apple
from qwen_desktop.hardware.bandwidth import CACHE_FILE_NAME, memory_bandwidth
from qwen_desktop.hardware.cpu import probe_cpu
from qwen_desktop.hardware.disk import probe_disk
from qwen_desktop.hardware.gpus import dedupe_gpus
from qwen_desktop.hardware.intel import probe_intel
from qwen_desktop.hardware.memory import probe_memory
from qwen_desktop.hardware.notes import failure_note
from qwen_desktop.hardware.nvidia import probe_nvidia
from qwen_desktop.hardware.system import probe_os
from qwen_desktop.hardware.windows import probe_windows

GpuProbe = Callable[[], tuple[list[GpuInfo], list[ProbeNote]]]
"""A GPU vendor probe: the GPUs it sees and its notes. It should not raise (it is guarded)."""


def default_gpu_probes(system: str | None = None) -> tuple[GpuProbe, ...]:
    """The vendor probes :func:`probe_machine` runs on ``system`` (``platform.system()``).

    Windows: NVML then DXGI (one probe, :func:`probe_windows`); macOS: Apple Silicon; Linux and
    others: NVML, AMD (amdsmi / CLIs / sysfs), Intel (sysfs).
    """
    system = platform.system() if system is None else system
    if system == "Windows":
        return (probe_windows,)
    if system == "Darwin":
        return (probe_apple,)
    return (probe_nvidia, probe_amd, probe_intel)


def bandwidth_cache_path() -> Path:
    """Where the measured memory bandwidth is cached: ``<data dir>/hardware-cache.json``."""
    return AppPaths.default().data_dir / CACHE_FILE_NAME


_T = TypeVar("_T")


def _guarded(
    component: str, what: str, probe: Callable[[], tuple[_T, list[ProbeNote]]], fallback: _T
) -> tuple[_T, list[ProbeNote]]:
    """Run a section probe; an unexpected error yields ``fallback`` and a failure note."""
    try:
        return probe()
    except Exception as exc:
        return fallback, [failure_note(component, what, exc)]


def no_gpu_note(cpu: CpuInfo, memory: MemoryInfo) -> ProbeNote:
    """The "no GPU" line: models will run on the CPU, with its cores and usable RAM."""
    cores = cpu.usable_cores or cpu.logical_cores
    return ProbeNote(
        component="gpu",
        state="none",
        message=(
            f"No GPU found: models will run on the CPU ({cores} cores, "
            f"{format_bytes(memory.usable_total_bytes)} RAM)."
        ),
    )


def _with_bandwidth(
    cpu: CpuInfo,
    memory: MemoryInfo,
    machine: str,
    gpus: Sequence[GpuInfo],
    *,
    measure: bool,
    cache: Path | None,
) -> tuple[CpuInfo, list[ProbeNote]]:
    """``cpu`` with its memory bandwidth filled in (see :func:`memory_bandwidth`)."""
    apple = next((gpu for gpu in gpus if gpu.vendor == "apple"), None)
    figure, problem = memory_bandwidth(
        cpu.model,
        memory.total_bytes,
        threads=cpu.usable_cores or cpu.logical_cores,
        cache_path=cache,
        measure=measure and memory.total_bytes > 0,
        ram_available_bytes=memory.available_bytes or None,
        machine=machine,
        gpu_cores=apple.core_count if apple else None,
    )
    notes = (
        [ProbeNote(component="cpu", state="bandwidth", message=f"Memory bandwidth {problem}.")]
        if problem
        else []
    )
    if figure is None:
        return cpu, notes
    single = figure.single_thread_bytes_per_second
    updated = cpu.model_copy(
        update={
            "memory_bandwidth_bytes_per_second": figure.bytes_per_second,
            "memory_bandwidth_single_thread_bytes_per_second": single,
            "memory_bandwidth_method": figure.method,
            "sources": {**cpu.sources, "memory_bandwidth_bytes_per_second": figure.source},
        }
    )
    return updated, notes


def probe_machine(
    models_dir: Path,
    *,
    gpu_probes: Sequence[GpuProbe] | None = None,
    measure_bandwidth: bool = True,
    bandwidth_cache: Path | None = None,
) -> MachineReport:
    """Probe this machine's OS, CPU, RAM, GPUs and the disk holding ``models_dir``.

    Never raises: each failure becomes a note in ``notes`` and the affected section keeps its
    defaults. Takes well under a second; the first run on a machine also measures the memory
    bandwidth (about 0.3 s), later runs read it from the cache.

    Args:
        models_dir: Where models are stored; free space is measured there (or at the nearest
            existing folder above it).
        gpu_probes: Vendor probes to run instead of :func:`default_gpu_probes` (tests).
        measure_bandwidth: Measure (or read the cached) CPU memory bandwidth; False uses the
            table figure only (tests, quick probes).
        bandwidth_cache: The cache file (default :func:`bandwidth_cache_path`).

    Returns:
        The report; each section's ``sources`` names where each figure came from.
    """
    notes: list[ProbeNote] = []
    os_info, found = _guarded("os", "the operating system", probe_os, OsInfo())
    notes += found
    cpu, found = _guarded("cpu", "the CPU", probe_cpu, CpuInfo())
    notes += found
    memory, found = _guarded("memory", "the memory", probe_memory, MemoryInfo())
    notes += found
    gpus: list[GpuInfo] = []
    for probe in default_gpu_probes() if gpu_probes is None else gpu_probes:
        name = getattr(probe, "__name__", "a GPU probe")
        no_gpus: list[GpuInfo] = []
        vendor_gpus, found = _guarded("gpu", f"GPUs ({name})", probe, no_gpus)
        gpus += vendor_gpus
        notes += found
    gpus, found = dedupe_gpus(gpus)
    notes += found
    cache = bandwidth_cache if bandwidth_cache is not None else bandwidth_cache_path()
    cpu, found = _guarded(
        "cpu",
        "the memory bandwidth",
        lambda: _with_bandwidth(
            cpu, memory, os_info.machine, gpus, measure=measure_bandwidth, cache=cache
        ),
        cpu,
    )
    notes += found
    if not gpus:
        notes.append(no_gpu_note(cpu, memory))
    disk, found = _guarded(
        "disk", f"the disk at {models_dir}", lambda: probe_disk(models_dir), DiskInfo()
    )
    notes += found
    return MachineReport(os=os_info, cpu=cpu, memory=memory, gpus=gpus, disk=disk, notes=notes)
