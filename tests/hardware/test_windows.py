"""Windows GPUs: NVML first, DXGI for other adapters, the registry as fallback; case C7."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from qwen_desktop.core.machine import GpuInfo, ProbeNote
from qwen_desktop.hardware.winapi import (
    DxgiAdapter,
    RegistryAdapter,
    enumerate_dxgi,
    read_display_registry,
)
from qwen_desktop.hardware.windows import parse_reg_query, probe_windows

Recorded = Callable[[str], str]
GIB = 1024**3
MIB = 1024**2
RAM = (32 * GIB, 24 * GIB)

A4000_NVML = GpuInfo(
    vendor="nvidia",
    name="NVIDIA RTX A4000",
    vram_total_bytes=16 * GIB,
    vram_free_bytes=15 * GIB,
    source="NVML",
    pci_bus_id="0000:01:00.0",
    pci_id="10de:24b0",
)
# DXGI_ADAPTER_DESC1 as a Windows 11 desktop with an RTX A4000 and a UHD 770 reports it.
A4000_DXGI = DxgiAdapter("NVIDIA RTX A4000", 0x10DE, 0x24B0, 17_045_651_456, 0, 17_112_760_320)
UHD770_DXGI = DxgiAdapter(
    "Intel(R) UHD Graphics 770", 0x8086, 0x4680, 134_217_728, 0, 17_112_760_320
)
BASIC_RENDER = DxgiAdapter("Microsoft Basic Render Driver", 0x1414, 0x8C, 0, 0, 17_112_760_320, 2)


def _nvml(*gpus: GpuInfo) -> Callable[[], tuple[list[GpuInfo], list[ProbeNote]]]:
    return lambda: (list(gpus), [])


def _no_nvml() -> tuple[list[GpuInfo], list[ProbeNote]]:
    return [], [ProbeNote(component="nvidia", state="no_library", message="No NVIDIA library.")]


def test_parse_reg_query(recorded: Recorded) -> None:
    adapters = parse_reg_query(recorded("reg_query_display_class_a4000_uhd770.txt"))
    assert [(a.key[-4:], a.description) for a in adapters] == [
        ("0000", "Intel(R) UHD Graphics 770"),
        ("0001", "NVIDIA RTX A4000"),
        ("0002", "Microsoft Basic Display Adapter"),
    ]
    intel, nvidia, basic = adapters
    assert (intel.vendor_id, intel.device_id, intel.memory_size_64) == (0x8086, 0x4680, 128 * MIB)
    assert (nvidia.vendor_id, nvidia.device_id) == (0x10DE, 0x24B0)
    assert nvidia.memory_size_64 == 16 * GIB  # REG_QWORD 0x400000000
    assert nvidia.memory_size_32 == 4_293_918_720  # REG_BINARY 0000F0FF, little-endian
    assert nvidia.driver_version == "31.0.15.5222"
    assert (basic.vendor_id, basic.memory_size_64) == (None, None)


def test_c7_nvml_wins_over_the_32_bit_field_and_says_so(recorded: Recorded) -> None:
    """C7: the OS field says 4,293,918,720 bytes, NVML 16 GiB → 16 GiB from NVML, and a note."""
    registry = parse_reg_query(recorded("reg_query_display_class_a4000_uhd770.txt"))
    gpus, notes = probe_windows(
        nvml_probe=_nvml(A4000_NVML),
        dxgi=lambda: [A4000_DXGI, UHD770_DXGI, BASIC_RENDER],
        registry=lambda: registry,
        ram=RAM,
    )
    nvidia, intel = gpus
    assert nvidia == A4000_NVML  # 16 GiB, from NVML
    assert (intel.vendor, intel.source, intel.unified_memory) == ("intel", "DXGI", True)
    assert intel.vram_total_bytes == 134_217_728 + 17_112_760_320  # ≤ RAM: a share of it (C6)
    assert intel.vram_free_bytes == intel.vram_total_bytes  # below the 24 GiB available
    by_state = {n.state: n for n in notes}
    assert set(by_state) == {"shared_memory", "duplicate", "adapter_ram_capped"}
    assert by_state["duplicate"].message == (
        "NVIDIA RTX A4000 is also seen through DXGI: reported once, from NVML."
    )
    c7 = by_state["adapter_ram_capped"].message
    assert "4,293,918,720 bytes" in c7
    assert "WMI AdapterRAM" in c7
    assert c7.endswith("16.0 GiB from NVML is reported.")


def test_without_nvml_dxgi_sizes_the_nvidia_card_beyond_4_gib() -> None:
    gpus, notes = probe_windows(
        nvml_probe=_no_nvml, dxgi=lambda: [A4000_DXGI], registry=lambda: [], ram=RAM
    )
    (gpu,) = gpus
    assert (gpu.vendor, gpu.source, gpu.vram_total_bytes) == ("nvidia", "DXGI", 17_045_651_456)
    assert gpu.sources["vram_free_bytes"] == "assumed all free (DXGI does not report usage)"
    assert not gpu.unified_memory
    assert [n.state for n in notes] == ["no_library"]


def test_amd_apu_and_discrete_radeon_through_dxgi() -> None:
    apu = DxgiAdapter("AMD Radeon 780M Graphics", 0x1002, 0x15BF, 512 * MIB, 0, 15 * GIB)
    big_vgm = DxgiAdapter("AMD Radeon(TM) 8060S Graphics", 0x1002, 0x1586, 64 * GIB, 0, 31 * GIB)
    radeon = DxgiAdapter("AMD Radeon RX 7900 XTX", 0x1002, 0x744C, 24 * GIB, 0, 15 * GIB)
    gpus, _ = probe_windows(
        nvml_probe=_nvml(), dxgi=lambda: [apu, big_vgm, radeon], registry=lambda: [], ram=RAM
    )
    assert [(g.name, g.unified_memory, g.vram_total_bytes // MIB) for g in gpus] == [
        ("AMD Radeon 780M Graphics", True, 512 + 15 * 1024),
        ("AMD Radeon(TM) 8060S Graphics", True, 32 * 1024),  # known APU, capped at RAM
        ("AMD Radeon RX 7900 XTX", False, 24 * 1024),
    ]


def test_dxgi_failure_falls_back_to_qwmemorysize(recorded: Recorded) -> None:
    registry = parse_reg_query(recorded("reg_query_display_class_a4000_uhd770.txt"))

    def broken() -> list[DxgiAdapter]:
        raise OSError("dxgi.dll not found")

    gpus, notes = probe_windows(
        nvml_probe=_no_nvml, dxgi=broken, registry=lambda: registry, ram=RAM
    )
    assert [(g.name, g.vram_total_bytes, g.unified_memory) for g in gpus] == [
        ("Intel(R) UHD Graphics 770", 128 * MIB, True),
        ("NVIDIA RTX A4000", 16 * GIB, False),  # 64-bit value, never the 32-bit one
    ]
    assert gpus[1].source == "registry HardwareInformation.qwMemorySize"
    assert gpus[1].driver_version == "31.0.15.5222"
    states = [n.state for n in notes]
    assert "fallback" in states
    assert "OSError: dxgi.dll not found" in next(n.message for n in notes if n.state == "fallback")
    # The 64-bit value is used; the note explains why the 32-bit one (4 GiB) is not.
    assert "adapter_ram_capped" in states


def test_only_the_32_bit_size_is_never_used() -> None:
    old_driver = RegistryAdapter(
        key=r"HKEY_LOCAL_MACHINE\...\0000",
        description="Radeon RX 580 Series",
        vendor_id=0x1002,
        device_id=0x67DF,
        memory_size_64=None,
        memory_size_32=4_293_918_720,
        driver_version="27.20.20903.8001",
    )

    def broken() -> list[DxgiAdapter]:
        raise OSError("no DXGI")

    gpus, notes = probe_windows(
        nvml_probe=_nvml(), dxgi=broken, registry=lambda: [old_driver], ram=RAM
    )
    assert gpus == []
    unknown = next(n for n in notes if n.state == "unknown")
    assert "only a 32-bit memory size" in unknown.message


def test_registry_failure_is_harmless() -> None:
    def broken() -> list[RegistryAdapter]:
        raise PermissionError("denied")

    gpus, _ = probe_windows(
        nvml_probe=_nvml(A4000_NVML), dxgi=lambda: [A4000_DXGI], registry=broken, ram=RAM
    )
    assert gpus == [A4000_NVML]


@pytest.mark.skipif(sys.platform == "win32", reason="checks the guard on other systems")
def test_windows_readers_refuse_other_systems() -> None:
    with pytest.raises(OSError, match="Windows only"):
        enumerate_dxgi()
    with pytest.raises(OSError, match="Windows only"):
        read_display_registry()
