"""Intel GPUs on Linux, from sysfs (``/sys/class/drm/card*/device`` with vendor ``0x8086``).

An Intel integrated GPU sits at PCI address ``0000:00:02.0`` on every Intel platform (Intel's
"Graphics and Display" device 2) and has no memory of its own: it allocates from system RAM
(``i915``/``xe`` GEM objects are shmem-backed), so it is reported with ``unified_memory=True``
and a pool equal to RAM, never added to it (case C6). Intel discrete GPUs (Arc) get a note only:
their local-memory size is not read here. The bundled engine (Ollama's llama.cpp with CUDA,
ROCm or Metal) may not use Intel GPUs at all; the note says so.

Windows Intel GPUs are seen through DXGI (:mod:`qwen_desktop.hardware.windows`).
"""

from __future__ import annotations

from pathlib import Path

from qwen_desktop.core.machine import GpuInfo, ProbeNote
from qwen_desktop.hardware.drm import VENDOR_INTEL, pci_ids_name, read_drm_cards
from qwen_desktop.hardware.gpus import pci_id, system_ram

INTEGRATED_BUS_ID = "0000:00:02.0"
"""Where Intel places its integrated GPU on the PCI bus."""

ENGINE_NOTE = (
    "The bundled engine (llama.cpp with CUDA, ROCm or Metal) may not use Intel GPUs; "
    "models may run on the CPU."
)


def _note(state: str, message: str) -> ProbeNote:
    return ProbeNote(component="intel", state=state, message=message)


def probe_intel(
    *, root: Path = Path("/"), ram: tuple[int, int] | None = None
) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """Intel GPUs seen in sysfs. Never raises (missing files read as absent).

    Args:
        root: File-system root holding ``sys/class/drm`` (a fake tree in tests).
        ram: ``(total, available)`` system RAM in bytes; None reads it with psutil.

    Returns:
        ``(gpus, notes)``: each integrated GPU with ``vram_total_bytes`` = RAM total and
        ``vram_free_bytes`` = RAM available (``unified_memory=True``); notes (component
        ``intel``) explain the shared memory and list discrete GPUs not sized.
    """
    cards = read_drm_cards(root, VENDOR_INTEL)
    if not cards:
        return [], []
    figures = ram if ram is not None else system_ram()
    gpus: list[GpuInfo] = []
    notes: list[ProbeNote] = []
    for card in cards:
        found = pci_ids_name(root, VENDOR_INTEL, card.device_id) if card.device_id else None
        ids = f"PCI id 8086:{card.device_id:04x}" if card.device_id is not None else "PCI id ?"
        if card.pci_bus_id != INTEGRATED_BUS_ID:
            name = f"Intel {found}" if found else f"Intel discrete GPU ({ids})"
            notes.append(
                _note(
                    "not_sized",
                    f"{name} at {card.pci_bus_id or card.card}: its memory is not read on "
                    f"Linux, so it is not counted. {ENGINE_NOTE}",
                )
            )
            continue
        name = f"Intel {found}" if found else f"Intel integrated graphics ({ids})"
        if figures is None:
            notes.append(_note("unknown", f"{name}: the RAM it shares could not be read."))
            continue
        total, available = figures
        gpus.append(
            GpuInfo(
                vendor="intel",
                name=name,
                vram_total_bytes=total,
                vram_free_bytes=min(available, total),
                source="sysfs",
                index=len(gpus),
                unified_memory=True,
                pci_bus_id=card.pci_bus_id,
                pci_id=pci_id(VENDOR_INTEL, card.device_id),
                sources={
                    "name": "pci.ids" if found else f"{card.path}/device",
                    "vram_total_bytes": "system RAM (integrated GPU: no memory of its own)",
                    "vram_free_bytes": "available system RAM",
                },
            )
        )
        notes.append(
            _note(
                "shared_memory",
                f"{name} is integrated: it uses system RAM, reported as a share of RAM, never "
                f"added to it. {ENGINE_NOTE}",
            )
        )
    return gpus, notes
