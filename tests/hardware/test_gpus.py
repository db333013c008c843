"""Shared GPU helpers: PCI addresses, the shared-memory pool (C6) and de-duplication."""

from __future__ import annotations

import pytest

from qwen_desktop.core.machine import GpuInfo
from qwen_desktop.hardware.gpus import (
    dedupe_gpus,
    normalize_bus_id,
    parse_int,
    pci_id,
    unified_pool,
)

GIB = 1024**3
MIB = 1024**2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00000000:01:00.0", "0000:01:00.0"),  # NVML
        ("0000:C4:00.0", "0000:c4:00.0"),  # rocm-smi
        ("03:00.0", "0000:03:00.0"),  # lspci short form
        ("0001:65:00.1", "0001:65:00.1"),
        ("not a bus", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_bus_id(text: str | None, expected: str | None) -> None:
    assert normalize_bus_id(text) == expected


def test_pci_id_and_parse_int() -> None:
    assert pci_id(0x1002, 0x744C) == "1002:744c"
    assert pci_id(None, 0x744C) is None
    assert [parse_int(v) for v in ("0x744c", "12", 12.7, "N/A", True, None)] == [
        0x744C,
        12,
        12,
        None,
        None,
        None,
    ]


def test_c6_shared_memory_is_a_share_of_ram_never_added() -> None:
    """C6: 16 GiB RAM and an iGPU reporting 8 GiB shared → at most 16 GiB, here 8.5 GiB."""
    total, free = unified_pool(512 * MIB, 0, 8 * GIB, 0, 16 * GIB)
    assert total == 8 * GIB + 512 * MIB
    assert total <= 16 * GIB
    # A driver that maps more than the RAM there is: capped at RAM, not RAM + shared.
    total, free = unified_pool(512 * MIB, 100 * MIB, 24 * GIB, 4 * GIB, 16 * GIB)
    assert total == 16 * GIB
    assert free == 16 * GIB  # 412 MiB + 20 GiB free, capped at the pool
    assert unified_pool(512 * MIB, 0, 8 * GIB, 0, None)[0] == 8 * GIB + 512 * MIB


def _gpu(name: str, source: str, total: int, **extra: object) -> GpuInfo:
    return GpuInfo.model_validate(
        {
            "vendor": extra.pop("vendor", "nvidia"),
            "name": name,
            "vram_total_bytes": total,
            "vram_free_bytes": total,
            "source": source,
            **extra,
        }
    )


def test_same_bus_id_is_one_gpu_preferring_nvml() -> None:
    sysfs = _gpu("NVIDIA AD102", "sysfs", 0, pci_bus_id="0000:01:00.0")
    nvml = _gpu("NVIDIA GeForce RTX 4090", "NVML", 24 * GIB, pci_bus_id="00000000:01:00.0")
    kept, notes = dedupe_gpus([sysfs, nvml])
    assert kept == [nvml]
    assert [(n.component, n.state) for n in notes] == [("gpu", "duplicate")]
    assert notes[0].message == (
        "NVIDIA GeForce RTX 4090 is also seen through sysfs: reported once, from NVML."
    )


def test_different_bus_ids_stay_two_gpus() -> None:
    a = _gpu("RTX 4090", "NVML", 24 * GIB, pci_bus_id="0000:01:00.0")
    b = _gpu("RTX 4090", "sysfs", 24 * GIB, pci_bus_id="0000:02:00.0")
    assert dedupe_gpus([a, b]) == ([a, b], [])


def test_dxgi_without_bus_ids_matches_one_to_one_by_pci_id() -> None:
    """Two identical cards through NVML and DXGI: two GPUs, not one and not four."""
    nvml = [
        _gpu(
            "NVIDIA GeForce RTX 3090",
            "NVML",
            24 * GIB,
            pci_bus_id=f"0000:0{i}:00.0",
            pci_id="10de:2204",
        )
        for i in (1, 2)
    ]
    dxgi = [_gpu("NVIDIA GeForce RTX 3090", "DXGI", 24 * GIB - 300 * MIB, pci_id="10de:2204")] * 2
    intel = _gpu("Intel(R) UHD Graphics 770", "DXGI", 8 * GIB, vendor="intel", pci_id="8086:4680")
    kept, notes = dedupe_gpus([*dxgi, intel, *nvml])
    assert kept == [*nvml, intel]
    assert len(notes) == 2


def test_without_ids_same_vendor_and_name_match() -> None:
    nvml = _gpu("NVIDIA RTX A4000", "NVML", 16 * GIB)
    registry = _gpu("nvidia rtx a4000", "registry HardwareInformation.qwMemorySize", 16 * GIB)
    other = _gpu("NVIDIA RTX A4000", "DXGI", 16 * GIB, vendor="other")
    kept, _ = dedupe_gpus([registry, nvml, other])
    assert kept == [nvml, other]
