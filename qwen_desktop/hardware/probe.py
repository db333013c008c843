"""The whole-machine probe behind ``qwen-desktop scan``.

:func:`probe_machine` runs each section probe (OS, CPU, memory, disk, then every GPU vendor
probe) behind a guard: whatever goes wrong becomes a :class:`ProbeNote`, and the report is
always returned. A GPU vendor probe is any callable returning ``(list[GpuInfo],
list[ProbeNote])``; adding AMD, Apple or DXGI support means adding one to
:data:`DEFAULT_GPU_PROBES`.
"""

from __future__ import annotations

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
from qwen_desktop.core.units import format_bytes
from qwen_desktop.hardware.cpu import probe_cpu
from qwen_desktop.hardware.disk import probe_disk
from qwen_desktop.hardware.memory import probe_memory
from qwen_desktop.hardware.notes import failure_note
from qwen_desktop.hardware.nvidia import probe_nvidia
from qwen_desktop.hardware.system import probe_os

GpuProbe = Callable[[], tuple[list[GpuInfo], list[ProbeNote]]]
"""A GPU vendor probe: the GPUs it sees and its notes. It should not raise (it is guarded)."""

DEFAULT_GPU_PROBES: tuple[GpuProbe, ...] = (probe_nvidia,)
"""Vendor probes run by :func:`probe_machine`, in order."""

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


def probe_machine(
    models_dir: Path, *, gpu_probes: Sequence[GpuProbe] | None = None
) -> MachineReport:
    """Probe this machine's OS, CPU, RAM, GPUs and the disk holding ``models_dir``.

    Never raises: each failure becomes a note in ``notes`` and the affected section keeps its
    defaults. Takes well under a second (no benchmark is run).

    Args:
        models_dir: Where models are stored; free space is measured there (or at the nearest
            existing folder above it).
        gpu_probes: Vendor probes to run instead of :data:`DEFAULT_GPU_PROBES` (tests).

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
    for probe in DEFAULT_GPU_PROBES if gpu_probes is None else gpu_probes:
        name = getattr(probe, "__name__", "a GPU probe")
        no_gpus: list[GpuInfo] = []
        vendor_gpus, found = _guarded("gpu", f"GPUs ({name})", probe, no_gpus)
        gpus += vendor_gpus
        notes += found
    if not gpus:
        notes.append(no_gpu_note(cpu, memory))
    disk, found = _guarded(
        "disk", f"the disk at {models_dir}", lambda: probe_disk(models_dir), DiskInfo()
    )
    notes += found
    return MachineReport(os=os_info, cpu=cpu, memory=memory, gpus=gpus, disk=disk, notes=notes)
