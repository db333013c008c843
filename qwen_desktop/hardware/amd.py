"""The AMD GPU probe: discrete Radeon/Instinct cards and APUs (Radeon integrated graphics).

Sources, in order (the first that lists GPUs wins; sysfs completes what it lacks):

1. the ``amdsmi`` Python bindings, when importable. They need ROCm's ``libamd_smi.so``; without
   it the import fails, sometimes with a bare ``KeyError`` (an unset ``ROCM_PATH``), so every
   exception there is a normal "not available" state;
2. the ``amd-smi`` CLI, else the older ``rocm-smi`` CLI (``--json``), run with a timeout;
3. sysfs ``/sys/class/drm/card*/device`` with vendor ``0x1002``.

On a Linux machine whose sysfs shows no AMD GPU, nothing is imported or run.

APUs (case C6): an APU has a small "carve-out" of RAM reserved at boot (``mem_info_vram_total``,
512 MiB by default) and maps more system RAM through GTT. It is reported with
``unified_memory=True`` and a pool of ``min(carve-out + GTT, RAM)``, never added to RAM. An APU
whose firmware reserves more than :data:`~qwen_desktop.hardware.gpus.SMALL_CARVE_OUT_BYTES`
(e.g. a Ryzen AI Max with 64 GiB "variable graphics memory") is reported by its carve-out alone,
as dedicated memory: that memory is not part of the RAM the OS reports, so it is not counted
twice, and the GTT part (which is) is left out.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qwen_desktop.core.machine import GpuInfo, ProbeNote
from qwen_desktop.core.units import format_bytes
from qwen_desktop.hardware.amd_sources import (
    AmdDevice,
    fill_from_sysfs,
    from_drm_card,
    parse_amd_smi,
    parse_rocm_smi,
    read_amdsmi,
)
from qwen_desktop.hardware.drm import (
    VENDOR_AMD,
    DrmCard,
    drm_class_exists,
    pci_ids_name,
    read_drm_cards,
)
from qwen_desktop.hardware.gpus import SMALL_CARVE_OUT_BYTES, pci_id, system_ram_bytes, unified_pool
from qwen_desktop.hardware.notes import describe_error, run_command

Runner = Callable[[list[str]], str | None]
"""Runs a command, returns its stdout or None (missing, failed, timed out)."""

AMD_SMI_STATIC = ["amd-smi", "static", "--asic", "--bus", "--vram", "--driver", "--json"]
AMD_SMI_METRIC = ["amd-smi", "metric", "--mem-usage", "--json"]
ROCM_SMI = ["rocm-smi", "--showmeminfo", "vram", "gtt", "--showproductname", "--showbus", "--json"]

APU_DEVICE_IDS: dict[int, str] = {
    # PCI device id → graphics name, for APUs (integrated Radeon). Source: pci.ids (pciutils)
    # and the kernel's amdgpu "APU Info" table; used to name the GPU when no pci.ids is installed
    # and to recognise an APU whatever its carve-out.
    0x15DD: "Radeon Vega (Raven Ridge)",
    0x15D8: "Radeon Vega (Picasso)",
    0x1636: "Radeon Graphics (Renoir)",
    0x1638: "Radeon Graphics (Cezanne)",
    0x164C: "Radeon Graphics (Lucienne)",
    0x163F: "Radeon Graphics (Van Gogh)",
    0x1681: "Radeon 680M (Rembrandt)",
    0x164E: "Radeon Graphics (Raphael)",
    0x13C0: "Radeon Graphics (Granite Ridge)",
    0x15BF: "Radeon 780M (Phoenix)",
    0x15C8: "Radeon 740M (Phoenix2)",
    0x1900: "Radeon 780M (Hawk Point)",
    0x150E: "Radeon 880M/890M (Strix Point)",
    0x1114: "Radeon 860M (Krackan Point)",
    0x1586: "Radeon 8060S (Strix Halo)",
}

DISCRETE_DEVICE_IDS: dict[int, str] = {
    # PCI device id → family name for common discrete GPUs (pci.ids), when no database exists.
    0x67DF: "Radeon RX 470/480/570/580/590 (Ellesmere)",
    0x687F: "Radeon RX Vega 56/64 (Vega 10)",
    0x66AF: "Radeon VII (Vega 20)",
    0x731F: "Radeon RX 5600 XT/5700/5700 XT (Navi 10)",
    0x73BF: "Radeon RX 6800/6800 XT/6900 XT (Navi 21)",
    0x73DF: "Radeon RX 6700/6700 XT/6750 XT (Navi 22)",
    0x73FF: "Radeon RX 6600/6600 XT/6650 XT (Navi 23)",
    0x744C: "Radeon RX 7900 XT/7900 XTX/7900 GRE (Navi 31)",
    0x747E: "Radeon RX 7700 XT/7800 XT (Navi 32)",
    0x7480: "Radeon RX 7600/7600 XT (Navi 33)",
    0x7550: "Radeon RX 9070/9070 XT (Navi 48)",
    0x740C: "Instinct MI250X/MI250",
    0x740F: "Instinct MI210",
    0x74A1: "Instinct MI300X",
}


def _note(state: str, message: str) -> ProbeNote:
    return ProbeNote(component="amd", state=state, message=message)


def _import_amdsmi() -> tuple[Any, ProbeNote | None]:
    """The ``amdsmi`` module, or None and why it is not there (never raises)."""
    try:
        import amdsmi
    except ImportError:
        return None, None
    except Exception as exc:  # missing ROCm library: KeyError, OSError, …
        return None, _note(
            "no_library",
            f"The amdsmi module is installed but ROCm's library did not load "
            f"({describe_error(exc)}); falling back to the command-line tools and sysfs.",
        )
    return amdsmi, None


def is_memory_type_of_system_ram(vram_type: str | None) -> bool:
    """True for DDR/LPDDR memory (an APU's carve-out), False for GDDR/HBM and unknown."""
    kind = (vram_type or "").upper()
    return "DDR" in kind and "GDDR" not in kind


def gpu_name(device: AmdDevice, root: Path) -> tuple[str, str]:
    """(display name, its source) of an AMD GPU: the source's name, pci.ids, built-in table."""
    if device.name:
        return device.name, device.sources.get("name", device.source)
    if device.device_id is not None:
        found = pci_ids_name(root, VENDOR_AMD, device.device_id)
        if found:
            return f"AMD {found}", "pci.ids"
        known = APU_DEVICE_IDS.get(device.device_id) or DISCRETE_DEVICE_IDS.get(device.device_id)
        if known:
            return f"AMD {known}", "built-in PCI id table"
        return f"AMD GPU (PCI id 1002:{device.device_id:04x})", "PCI id"
    return "AMD GPU", "no name reported"


def to_gpu_info(
    device: AmdDevice, index: int, ram_total: int | None, root: Path
) -> tuple[GpuInfo | None, list[ProbeNote]]:
    """The report of one AMD device, with the APU rule applied (see the module docstring).

    Returns:
        ``(gpu, notes)``; gpu is None (with a note) when the device's memory size is unknown.
    """
    name, name_source = gpu_name(device, root)
    carve_out = device.vram_total_bytes
    if not carve_out:
        return None, [_note("unknown", f"{name}: its memory size could not be read.")]
    used = device.vram_used_bytes or 0
    gtt = device.gtt_total_bytes or 0
    apu_reason = None
    if device.device_id in APU_DEVICE_IDS:
        apu_reason = "a known APU"
    elif is_memory_type_of_system_ram(device.vram_type):
        apu_reason = f"its memory is {device.vram_type}, i.e. system RAM"
    elif carve_out <= SMALL_CARVE_OUT_BYTES and gtt > 0:
        apu_reason = f"it has only {format_bytes(carve_out)} of its own memory"
    sources = {key: text for key, text in device.sources.items() if key != "gtt_bytes"}
    sources["name"] = name_source
    notes: list[ProbeNote] = []
    unified = apu_reason is not None and carve_out <= SMALL_CARVE_OUT_BYTES
    if unified:
        total, free = unified_pool(carve_out, used, gtt, device.gtt_used_bytes or 0, ram_total)
        gtt_source = device.sources.get("gtt_bytes", "GTT size unknown")
        sources["vram_total_bytes"] = (
            f"carve-out ({sources.get('vram_total_bytes', device.source)}) + GTT ({gtt_source}), "
            "capped at system RAM"
        )
        sources["vram_free_bytes"] = "carve-out free + GTT free"
        shared = (
            f"its {format_bytes(carve_out)} carve-out plus {format_bytes(gtt)} of GTT give it "
            f"at most {format_bytes(total)}"
            if gtt
            else f"its GTT size is unknown, so only its {format_bytes(carve_out)} carve-out counts"
        )
        notes.append(
            _note(
                "shared_memory",
                f"{name} is an APU ({apu_reason}): it shares system RAM; {shared}, "
                "a share of RAM, never added to it.",
            )
        )
    else:
        total, free = carve_out, max(0, carve_out - used)
        if device.vram_used_bytes is None:
            sources["vram_free_bytes"] = "assumed all free (usage not reported)"
        if apu_reason is not None:
            notes.append(
                _note(
                    "carve_out",
                    f"{name} is an APU with {format_bytes(carve_out)} reserved at boot: only "
                    f"that reservation is counted as GPU memory (the {format_bytes(gtt)} of GTT "
                    "it may also map is part of RAM).",
                )
            )
    gpu = GpuInfo(
        vendor="amd",
        name=name,
        vram_total_bytes=total,
        vram_free_bytes=free,
        source=device.source,
        index=index,
        driver_version=device.driver_version,
        compute_capability=device.gfx_target,
        unified_memory=unified,
        pci_bus_id=device.pci_bus_id,
        pci_id=pci_id(VENDOR_AMD, device.device_id),
        core_count=device.compute_units,
        sources=sources,
    )
    return gpu, notes


def _from_tools(
    runner: Runner, which: Callable[[str], str | None], *, have_sysfs: bool
) -> list[AmdDevice]:
    """Devices from ``amd-smi``, else ``rocm-smi`` (each skipped when not on PATH).

    ``amd-smi metric`` (a second, slow call) runs only when sysfs cannot give the usage.
    """
    if which("amd-smi"):
        static = runner(AMD_SMI_STATIC)
        if static:
            devices = parse_amd_smi(static)
            if devices and not have_sysfs:
                devices = parse_amd_smi(static, runner(AMD_SMI_METRIC))
            if devices:
                return devices
    if which("rocm-smi"):
        text = runner(ROCM_SMI)
        if text:
            return parse_rocm_smi(text)
    return []


def probe_amd(
    amdsmi: Any = None,
    *,
    runner: Runner = run_command,
    which: Callable[[str], str | None] = shutil.which,
    root: Path = Path("/"),
    ram_total_bytes: int | None = None,
) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """AMD GPUs with their memory, each figure with its source. Never raises.

    Args:
        amdsmi: A module with amdsmi's API; None imports ``amdsmi`` (tests pass a fake).
        runner: Runs ``amd-smi``/``rocm-smi`` (tests return recorded outputs).
        which: Finds a command on PATH (tests fake it).
        root: File-system root holding ``sys/class/drm`` (a fake tree in tests).
        ram_total_bytes: System RAM, to cap an APU's pool; None reads it with psutil.

    Returns:
        ``(gpus, notes)``. Notes (component ``amd``) say which source was used when it was not
        the first, and explain each APU's shared memory.
    """
    cards: list[DrmCard] = read_drm_cards(root, VENDOR_AMD)
    if drm_class_exists(root) and not cards:
        return [], []
    notes: list[ProbeNote] = []
    if amdsmi is None:
        amdsmi, why = _import_amdsmi()
        notes += [why] if why else []
    devices: list[AmdDevice] = []
    if amdsmi is not None:
        try:
            devices = read_amdsmi(amdsmi)
        except Exception as exc:
            notes.append(
                _note("error", f"amdsmi could not list the AMD GPUs: {describe_error(exc)}")
            )
    if not devices:
        devices = _from_tools(runner, which, have_sysfs=bool(cards))
    if not devices:
        devices = [from_drm_card(card) for card in cards]
    if not devices:  # no AMD GPU anywhere: library and tool failures are not news
        return [], []
    by_bus = {card.pci_bus_id: card for card in cards if card.pci_bus_id}
    for device in devices:
        card = by_bus.get(device.pci_bus_id) if device.pci_bus_id else None
        if card is not None and device.source != "sysfs":
            fill_from_sysfs(device, card)
    if devices and devices[0].source != "amdsmi":
        notes.append(
            _note("fallback", f"AMD GPUs read through {devices[0].source} (amdsmi not available).")
        )
    ram = ram_total_bytes if ram_total_bytes is not None else system_ram_bytes()
    gpus: list[GpuInfo] = []
    for index, device in enumerate(devices):
        gpu, found = to_gpu_info(device, index, ram, root)
        notes += found
        if gpu is not None:
            gpus.append(gpu)
    return gpus, notes
