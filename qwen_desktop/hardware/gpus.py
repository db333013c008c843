"""Helpers shared by the GPU vendor probes: PCI ids, shared-memory pools and de-duplication.

Shared memory (case C6 in ``shared/cases/README.md``): an integrated GPU or APU takes its memory
from system RAM, so what it may use is reported as a *share of* RAM (``unified_memory=True``),
never as memory on top of it. :func:`unified_pool` computes that share.

The same physical GPU can be seen through several interfaces (NVML and DXGI on Windows; amdsmi
and sysfs on Linux). :func:`dedupe_gpus` keeps one report per device, from the most precise
source (:data:`SOURCE_RANK`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qwen_desktop.core.machine import GpuInfo, ProbeNote

GIB = 1024**3

SMALL_CARVE_OUT_BYTES = 2 * GIB
"""An AMD GPU whose own memory is at most this is taken for an APU's carve-out (the firmware's
"UMA frame buffer", 512 MiB by default on most laptops): its real pool is carve-out + shared."""

SOURCE_RANK: dict[str, int] = {
    "NVML": 0,
    "amdsmi": 1,
    "amd-smi": 2,
    "rocm-smi": 3,
    "Metal": 4,
    "DXGI": 5,
    "registry": 6,
    "sysfs": 7,
}
"""Which probe wins when two see the same GPU: lower is preferred (driver library first)."""

_BUS_ID = re.compile(r"^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")


def normalize_bus_id(text: str | None) -> str | None:
    """A PCI address as ``dddd:bb:dd.f`` in lower case, or None when ``text`` is not one.

    NVML writes an 8-digit domain (``00000000:01:00.0``), sysfs and amdsmi a 4-digit one,
    ``rocm-smi`` upper case (``0000:C4:00.0``); a missing domain means ``0000``.
    """
    if not text:
        return None
    found = _BUS_ID.match(text.strip().lower())
    if not found:
        return None
    domain, bus, device, function = found.groups()
    return f"{int(domain or '0', 16):04x}:{bus}:{device}.{function}"


def pci_id(vendor_id: int | None, device_id: int | None) -> str | None:
    """``vendor:device`` in lower-case hex (``1002:744c``), or None when either is unknown."""
    if vendor_id is None or device_id is None:
        return None
    return f"{vendor_id:04x}:{device_id:04x}"


def parse_int(value: object) -> int | None:
    """An integer from ``12``, ``"12"``, ``"0x744c"`` or ``12.0``; None for "N/A" and the like."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return int(text, 16) if text.startswith("0x") else int(float(text))
        except ValueError:
            return None
    return None


def system_ram() -> tuple[int, int] | None:
    """This machine's ``(total, available)`` RAM in bytes (psutil), or None when unreadable."""
    try:
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.total), int(memory.available)
    except Exception:
        return None


def system_ram_bytes() -> int | None:
    """This machine's RAM in bytes (psutil), or None when it cannot be read."""
    found = system_ram()
    return found[0] if found else None


def unified_pool(
    carve_out_total: int,
    carve_out_used: int,
    shared_total: int,
    shared_used: int,
    ram_total: int | None,
) -> tuple[int, int]:
    """Total and free bytes an integrated GPU or APU may use (case C6).

    The pool is the carve-out plus the shared part (AMD GTT, Windows "shared GPU memory"),
    capped at the system RAM the shared part comes from: ``min(carve-out + shared, RAM)``.

    Args:
        carve_out_total: Memory reserved for the GPU at boot (bytes; 0 when none).
        carve_out_used: Of it, in use (bytes).
        shared_total: System RAM the driver lets the GPU map (bytes).
        shared_used: Of it, in use (bytes).
        ram_total: System RAM (bytes); None leaves the pool uncapped.

    Returns:
        ``(total_bytes, free_bytes)``; free never exceeds total.
    """
    total = carve_out_total + shared_total
    if ram_total:
        total = min(total, ram_total)
    free = max(0, carve_out_total - carve_out_used) + max(0, shared_total - shared_used)
    return total, min(free, total)


def source_rank(gpu: GpuInfo) -> int:
    """Preference of ``gpu.source`` per :data:`SOURCE_RANK` (unknown sources come last)."""
    for name, rank in SOURCE_RANK.items():
        if gpu.source.startswith(name):
            return rank
    return len(SOURCE_RANK)


def _same_device(a: GpuInfo, b: GpuInfo, *, loose: bool) -> bool:
    """True when ``a`` and ``b`` describe one device.

    With PCI addresses on both sides they decide. Otherwise (DXGI has none) and when ``loose``,
    equal PCI ids, or, without ids, the same vendor and name count as a match.
    """
    bus_a, bus_b = normalize_bus_id(a.pci_bus_id), normalize_bus_id(b.pci_bus_id)
    if bus_a and bus_b:
        return bus_a == bus_b
    if not loose or a.vendor != b.vendor:
        return False
    if a.pci_id and b.pci_id:
        return a.pci_id == b.pci_id
    return a.name.casefold() == b.name.casefold()


def dedupe_gpus(gpus: Sequence[GpuInfo]) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """One report per physical GPU, from the preferred source.

    GPUs are matched by PCI address; a report without one (DXGI) is matched once, one to one,
    with a preferred report of the same PCI id (or vendor and name), so two identical cards stay
    two cards.

    Returns:
        The kept GPUs, in order of preference then input order, and one note (component
        ``gpu``, state ``duplicate``) per report dropped.
    """
    order = sorted(range(len(gpus)), key=lambda i: (source_rank(gpus[i]), i))
    kept: list[GpuInfo] = []
    loosely_matched: set[int] = set()
    notes: list[ProbeNote] = []
    for i in order:
        gpu = gpus[i]
        match = next(
            (
                j
                for j, other in enumerate(kept)
                if _same_device(other, gpu, loose=j not in loosely_matched)
            ),
            None,
        )
        if match is None:
            kept.append(gpu)
            continue
        winner = kept[match]
        if not (winner.pci_bus_id and gpu.pci_bus_id):
            loosely_matched.add(match)
        notes.append(
            ProbeNote(
                component="gpu",
                state="duplicate",
                message=(
                    f"{winner.name} is also seen through {gpu.source}: reported once, "
                    f"from {winner.source}."
                ),
            )
        )
    return kept, notes
