"""Windows GPUs: NVIDIA through NVML first, every other adapter through DXGI.

* NVML (:mod:`qwen_desktop.hardware.nvidia`) gives total and free VRAM of NVIDIA GPUs.
* DXGI (``IDXGIFactory1::EnumAdapters1`` → ``DXGI_ADAPTER_DESC1``, read with ctypes in
  :mod:`qwen_desktop.hardware.dxgi`) gives every adapter's ``DedicatedVideoMemory`` and
  ``SharedSystemMemory``, both ``SIZE_T`` (64-bit), so large cards are not capped at 4 GB.
* The display-class registry keys (``HKLM\\SYSTEM\\CurrentControlSet\\Control\\Class\\{4d36e968-
  e325-11ce-bfc1-08002be10318}\\NNNN``) are the fallback when DXGI fails:
  ``HardwareInformation.qwMemorySize`` (REG_QWORD) sizes an adapter; the 32-bit
  ``HardwareInformation.MemorySize`` — the field WMI ``Win32_VideoController.AdapterRAM``
  reports, capped at 4 GiB (it shows 4,293,918,720 for large cards) — never does (case C7).

An adapter that is also seen by NVML is reported once, from NVML. Integrated GPUs (Intel with at
most 2 GiB dedicated, AMD APUs, other vendors' small adapters) get ``unified_memory=True`` and a
pool of ``min(dedicated + shared, RAM)`` (case C6). Everything here but the two readers is pure,
so it is tested on any OS with recorded ``reg query`` output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from qwen_desktop.core.machine import GpuInfo, GpuVendor, ProbeNote
from qwen_desktop.core.units import format_bytes
from qwen_desktop.hardware.amd import APU_DEVICE_IDS
from qwen_desktop.hardware.gpus import SMALL_CARVE_OUT_BYTES, dedupe_gpus, pci_id, system_ram
from qwen_desktop.hardware.notes import describe_error
from qwen_desktop.hardware.nvidia import probe_nvidia
from qwen_desktop.hardware.winapi import (
    DxgiAdapter,
    RegistryAdapter,
    enumerate_dxgi,
    read_display_registry,
    registry_adapter,
)

VENDORS: dict[int, GpuVendor] = {0x10DE: "nvidia", 0x1002: "amd", 0x8086: "intel"}
MICROSOFT_BASIC_RENDER = 0x1414
DXGI_ADAPTER_FLAG_SOFTWARE = 0x2
UINT32_MAX = 0xFFFFFFFF

_KEY = re.compile(r"\\\d{4}$")


def _reg_value(kind: str, data: str) -> object:
    if kind in {"REG_DWORD", "REG_QWORD"}:
        return int(data, 16)
    if kind == "REG_BINARY":
        return bytes.fromhex(data) if len(data) % 2 == 0 else None
    return data


def parse_reg_query(text: str) -> list[RegistryAdapter]:
    """Adapters in ``reg query "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Class\\{4d36e968-
    e325-11ce-bfc1-08002be10318}" /s`` output.

    Format: a key line at column 0, then ``    Name    REG_TYPE    data`` lines (four-space
    separators; REG_DWORD/QWORD data in ``0x`` hex, REG_BINARY as hex bytes). Only the
    ``\\NNNN`` adapter keys are kept, not their sub-keys.
    """
    adapters: list[RegistryAdapter] = []
    key: str | None = None
    values: dict[str, object] = {}
    for line in [*text.splitlines(), "HKEY_END"]:
        if line.startswith("HKEY_"):
            if key is not None and _KEY.search(key):
                adapters.append(registry_adapter(key, values))
            key, values = line.strip(), {}
            continue
        parts = re.split(r" {4}", line.strip(), maxsplit=2)
        if key is not None and len(parts) == 3 and parts[1].startswith("REG_"):
            try:
                values[parts[0]] = _reg_value(parts[1], parts[2].strip())
            except ValueError:
                continue
    return adapters


def _integrated(vendor: GpuVendor, device_id: int, dedicated: int) -> bool:
    """Integrated GPU or APU: a small dedicated size on Intel/other, or an AMD APU."""
    if vendor == "nvidia":
        return False
    if vendor == "amd" and device_id in APU_DEVICE_IDS:
        return True
    return dedicated <= SMALL_CARVE_OUT_BYTES


def _gpu(
    name: str,
    vendor_id: int,
    device_id: int,
    *,
    dedicated: int,
    shared: int,
    ram: tuple[int, int] | None,
    source: str,
    index: int,
) -> tuple[GpuInfo, ProbeNote | None]:
    """One adapter's report, integrated GPUs as a share of RAM (case C6)."""
    vendor = VENDORS.get(vendor_id, "other")
    ids = pci_id(vendor_id, device_id)
    sources = {"name": source, "vram_total_bytes": f"{source} dedicated video memory"}
    note = None
    if _integrated(vendor, device_id, dedicated):
        ram_total, ram_available = ram if ram else (None, None)
        total = min(dedicated + shared, ram_total) if ram_total else dedicated + shared
        free = min(total, ram_available) if ram_available else total
        sources["vram_total_bytes"] = f"{source} dedicated + shared system memory, capped at RAM"
        sources["vram_free_bytes"] = "available system RAM (usage not reported)"
        note = ProbeNote(
            component="windows",
            state="shared_memory",
            message=(
                f"{name} is integrated: it shares system RAM ({format_bytes(dedicated)} "
                f"reserved + {format_bytes(shared)} shared, at most {format_bytes(total)}), "
                "a share of RAM, never added to it."
            ),
        )
        gpu = GpuInfo(
            vendor=vendor,
            name=name,
            vram_total_bytes=total,
            vram_free_bytes=free,
            source=source,
            index=index,
            unified_memory=True,
            pci_id=ids,
            sources=sources,
        )
        return gpu, note
    sources["vram_free_bytes"] = f"assumed all free ({source} does not report usage)"
    gpu = GpuInfo(
        vendor=vendor,
        name=name,
        vram_total_bytes=dedicated,
        vram_free_bytes=dedicated,
        source=source,
        index=index,
        pci_id=ids,
        sources=sources,
    )
    return gpu, note


def gpus_from_dxgi(
    adapters: Sequence[DxgiAdapter], ram: tuple[int, int] | None
) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """Reports of the hardware adapters DXGI lists (software and Basic Render skipped)."""
    gpus: list[GpuInfo] = []
    notes: list[ProbeNote] = []
    for adapter in adapters:
        if (
            adapter.flags & DXGI_ADAPTER_FLAG_SOFTWARE
            or adapter.vendor_id == MICROSOFT_BASIC_RENDER
        ):
            continue
        gpu, note = _gpu(
            adapter.description.strip() or "Display adapter",
            adapter.vendor_id,
            adapter.device_id,
            dedicated=adapter.dedicated_video_memory,
            shared=adapter.shared_system_memory,
            ram=ram,
            source="DXGI",
            index=len(gpus),
        )
        gpus.append(gpu)
        notes += [note] if note else []
    return gpus, notes


def gpus_from_registry(
    adapters: Sequence[RegistryAdapter], ram: tuple[int, int] | None
) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """Reports sized by ``qwMemorySize``; adapters with only the 32-bit size get a note."""
    gpus: list[GpuInfo] = []
    notes: list[ProbeNote] = []
    for adapter in adapters:
        name = adapter.description or adapter.key
        if adapter.vendor_id is None or adapter.vendor_id == MICROSOFT_BASIC_RENDER:
            continue
        if not adapter.memory_size_64:
            notes.append(
                ProbeNote(
                    component="windows",
                    state="unknown",
                    message=(
                        f"{name}: Windows gives only a 32-bit memory size for it, which cannot "
                        "show more than 4 GiB, so its memory is not counted."
                    ),
                )
            )
            continue
        # The registry holds no shared size: integrated adapters get their reserved part only.
        gpu, note = _gpu(
            name,
            adapter.vendor_id,
            adapter.device_id or 0,
            dedicated=adapter.memory_size_64,
            shared=0,
            ram=ram,
            source="registry HardwareInformation.qwMemorySize",
            index=len(gpus),
        )
        gpus.append(gpu.model_copy(update={"driver_version": adapter.driver_version}))
        notes += [note] if note else []
    return gpus, notes


def adapter_ram_notes(
    gpus: Sequence[GpuInfo], adapters: Sequence[RegistryAdapter]
) -> list[ProbeNote]:
    """Case C7: for each discrete GPU above 4 GiB whose 32-bit registry size (what WMI
    ``AdapterRAM`` shows) is lower, a note saying which figure is reported and why.

    Adapters are matched one to one by PCI id, else by name.
    """
    notes: list[ProbeNote] = []
    unused = list(adapters)
    for gpu in gpus:
        match = next(
            (
                a
                for a in unused
                if (gpu.pci_id and gpu.pci_id == pci_id(a.vendor_id, a.device_id))
                or (a.description or "").casefold() == gpu.name.casefold()
            ),
            None,
        )
        if match is None:
            continue
        unused.remove(match)
        small = match.memory_size_32
        total = gpu.vram_total_bytes
        # An integrated GPU's pool includes shared RAM: its registry size is another quantity.
        if gpu.unified_memory or small is None or total <= UINT32_MAX or small >= total:
            continue
        notes.append(
            ProbeNote(
                component="windows",
                state="adapter_ram_capped",
                message=(
                    f"{gpu.name}: Windows' 32-bit adapter memory field (WMI AdapterRAM, "
                    f"registry HardwareInformation.MemorySize) says {small:,} bytes, but it "
                    f"cannot exceed 4 GiB; {format_bytes(gpu.vram_total_bytes)} from "
                    f"{gpu.source} is reported."
                ),
            )
        )
    return notes


def probe_windows(
    *,
    nvml_probe: Callable[[], tuple[list[GpuInfo], list[ProbeNote]]] = probe_nvidia,
    dxgi: Callable[[], list[DxgiAdapter]] = enumerate_dxgi,
    registry: Callable[[], list[RegistryAdapter]] = read_display_registry,
    ram: tuple[int, int] | None = None,
) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """Every GPU of a Windows machine, each once, from its best source. Never raises.

    Args:
        nvml_probe: The NVIDIA probe (tests: a fake).
        dxgi: Lists DXGI adapters (tests: recorded descriptions).
        registry: Reads the display-class registry keys (tests: :func:`parse_reg_query`).
        ram: ``(total, available)`` system RAM in bytes; None reads it with psutil.

    Returns:
        ``(gpus, notes)``: NVML's GPUs, then the other adapters; notes for shared memory,
        duplicates, the DXGI fallback and the 32-bit adapter field (C7).
    """
    gpus, notes = nvml_probe()
    figures = ram if ram is not None else system_ram()
    try:
        adapters = registry()
    except Exception:
        adapters = []
    try:
        others, found = gpus_from_dxgi(dxgi(), figures)
    except Exception as exc:
        others, found = gpus_from_registry(adapters, figures)
        notes.append(
            ProbeNote(
                component="windows",
                state="fallback",
                message=f"DXGI could not list the GPUs ({describe_error(exc)}); "
                "sizes come from the registry.",
            )
        )
    merged, duplicates = dedupe_gpus([*gpus, *others])
    return merged, [*notes, *found, *duplicates, *adapter_ram_notes(merged, adapters)]
