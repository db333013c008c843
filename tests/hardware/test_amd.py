"""The AMD probe: amdsmi (fake module), amd-smi/rocm-smi (recorded JSON) and sysfs (fake trees).

APU cases follow C6: the GPU's pool is carve-out + GTT capped at RAM, reported as a share of
RAM (``unified_memory=True``), never on top of it.
"""

from __future__ import annotations

import enum
import importlib.abc
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from qwen_desktop.hardware import amd
from qwen_desktop.hardware.amd import AMD_SMI_METRIC, AMD_SMI_STATIC, ROCM_SMI, probe_amd
from qwen_desktop.hardware.amd_sources import parse_amd_smi, parse_rocm_smi, size_bytes

Recorded = Callable[[str], str]
Tree = Callable[[str], Path]

GIB = 1024**3
MIB = 1024**2
RAM_16 = 16 * GIB


class _Memory(enum.Enum):
    VRAM = 0
    VIS_VRAM = 1
    GTT = 2


class _VramType(enum.IntEnum):
    UNKNOWN = 0
    GDDR6 = 23
    LPDDR5 = 28


class FakeAmdSmi:
    """Enough of amdsmi's API; each GPU is a dict of its answers."""

    AmdSmiMemoryType = _Memory
    AmdSmiVramType = _VramType
    AmdSmiInitFlags = SimpleNamespace(INIT_AMD_GPUS=2)

    def __init__(self, gpus: list[dict[str, Any]], init_error: Exception | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.calls: list[str] = []

    def amdsmi_init(self, flags: int = 0) -> None:
        self.calls.append(f"init {flags}")
        if self.init_error:
            raise self.init_error

    def amdsmi_shut_down(self) -> None:
        self.calls.append("shutdown")

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.gpus)))

    def amdsmi_get_gpu_asic_info(self, handle: int) -> dict[str, Any]:
        return dict(self.gpus[handle]["asic"])

    def amdsmi_get_gpu_vram_info(self, handle: int) -> dict[str, Any]:
        return dict(self.gpus[handle]["vram"])

    def amdsmi_get_gpu_driver_info(self, handle: int) -> dict[str, Any]:
        return {"driver_name": "amdgpu", "driver_version": "6.10.5", "driver_date": "2024/11/01"}

    def amdsmi_get_gpu_device_bdf(self, handle: int) -> str:
        return str(self.gpus[handle]["bdf"])

    def amdsmi_get_gpu_memory_total(self, handle: int, kind: _Memory) -> int:
        value = self.gpus[handle]["total"][kind.name]
        if isinstance(value, Exception):
            raise value
        return int(value)

    def amdsmi_get_gpu_memory_usage(self, handle: int, kind: _Memory) -> int:
        return int(self.gpus[handle]["used"][kind.name])


@pytest.fixture(autouse=True)
def _no_amdsmi_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import amdsmi`` raises ImportError unless a test injects a module."""
    monkeypatch.setitem(sys.modules, "amdsmi", None)


def _no_tools(args: list[str]) -> str | None:
    raise AssertionError(f"no command should run: {args}")


def _which_none(name: str) -> None:
    return None


def test_amdsmi_discrete_gpu(tmp_path: Path) -> None:
    fake = FakeAmdSmi(
        [
            {
                "asic": {
                    "market_name": "AMD Radeon RX 7900 XTX",
                    "device_id": "0x744c",
                    "num_compute_units": 96,
                    "target_graphics_version": "gfx1100",
                },
                "vram": {"vram_type": 23, "vram_size": 24560},
                "bdf": "0000:03:00.0",
                "total": {"VRAM": 25753026560, "GTT": 33535410176},
                "used": {"VRAM": 1093664768, "GTT": 54525952},
            }
        ]
    )
    gpus, notes = probe_amd(fake, runner=_no_tools, root=tmp_path, ram_total_bytes=RAM_16)
    assert notes == []
    (gpu,) = gpus
    assert (gpu.vendor, gpu.name, gpu.source, gpu.unified_memory) == (
        "amd",
        "AMD Radeon RX 7900 XTX",
        "amdsmi",
        False,
    )
    assert (gpu.vram_total_bytes, gpu.vram_free_bytes) == (25753026560, 25753026560 - 1093664768)
    assert (gpu.compute_capability, gpu.core_count, gpu.driver_version) == ("gfx1100", 96, "6.10.5")
    assert (gpu.pci_bus_id, gpu.pci_id) == ("0000:03:00.0", "1002:744c")
    assert gpu.sources["vram_total_bytes"] == "amdsmi amdsmi_get_gpu_memory_total(VRAM)"
    assert fake.calls == ["init 2", "shutdown"]


def test_amdsmi_apu_by_memory_type(tmp_path: Path) -> None:
    """Strix Halo: 512 MiB LPDDR5 carve-out + 62 GiB GTT on a 64 GiB machine → unified."""
    fake = FakeAmdSmi(
        [
            {
                "asic": {"market_name": "AMD Radeon 8060S Graphics", "device_id": "0x1586"},
                "vram": {"vram_type": 28},
                "bdf": "0000:c5:00.0",
                "total": {"VRAM": 512 * MIB, "GTT": 62 * GIB},
                "used": {"VRAM": 455 * MIB, "GTT": 2 * GIB},
            }
        ]
    )
    (gpu,), notes = probe_amd(fake, runner=_no_tools, root=tmp_path, ram_total_bytes=60 * GIB)
    assert gpu.unified_memory
    assert gpu.vram_total_bytes == 60 * GIB  # 512 MiB + 62 GiB, capped at the 60 GiB of RAM
    assert gpu.vram_free_bytes == 60 * GIB  # 57 MiB + 60 GiB free, capped at the pool
    assert [(n.component, n.state) for n in notes] == [("amd", "shared_memory")]
    assert "a known APU" in notes[0].message
    assert "never added to it" in notes[0].message


def test_amdsmi_missing_total_falls_back_to_vram_info(tmp_path: Path) -> None:
    fake = FakeAmdSmi(
        [
            {
                "asic": {"market_name": "N/A", "device_id": 0x7480},
                "vram": {"vram_type": 23, "vram_size": 8176},
                "bdf": "0000:0a:00.0",
                "total": {"VRAM": RuntimeError("not supported"), "GTT": RuntimeError("no")},
                "used": {"VRAM": 0, "GTT": 0},
            }
        ]
    )
    (gpu,), _ = probe_amd(fake, runner=_no_tools, root=tmp_path, ram_total_bytes=RAM_16)
    assert gpu.vram_total_bytes == 8176 * MIB
    assert gpu.name == "AMD Radeon RX 7600/7600 XT (Navi 33)"  # built-in table, no pci.ids
    assert gpu.sources["name"] == "built-in PCI id table"
    assert gpu.sources["vram_total_bytes"] == "amdsmi amdsmi_get_gpu_vram_info vram_size"


def test_amdsmi_init_failure_falls_back_to_sysfs(fixture_tree: Tree) -> None:
    fake = FakeAmdSmi([], init_error=RuntimeError("AMDSMI_STATUS_DRM_ERROR"))
    root = fixture_tree("sysfs_amd_apu_phoenix_16gib")
    gpus, notes = probe_amd(
        fake, runner=_no_tools, which=_which_none, root=root, ram_total_bytes=RAM_16
    )
    assert [g.source for g in gpus] == ["sysfs"]
    states = [(n.component, n.state) for n in notes]
    assert states == [("amd", "error"), ("amd", "fallback"), ("amd", "shared_memory")]
    assert "AMDSMI_STATUS_DRM_ERROR" in notes[0].message


class _KeyErrorFinder(importlib.abc.MetaPathFinder):
    """Makes ``import amdsmi`` fail as it does without ROCm's library: a bare KeyError."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "amdsmi":
            raise KeyError("ROCM_PATH")


def test_amdsmi_import_keyerror_is_a_normal_state(
    fixture_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "amdsmi", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_KeyErrorFinder(), *sys.meta_path])
    root = fixture_tree("sysfs_amd_apu_phoenix_16gib")
    gpus, notes = probe_amd(runner=_no_tools, which=_which_none, root=root, ram_total_bytes=RAM_16)
    assert len(gpus) == 1
    assert notes[0].state == "no_library"
    assert "KeyError: 'ROCM_PATH'" in notes[0].message


def test_sysfs_apu_c6(fixture_tree: Tree) -> None:
    """A 16 GiB laptop (15.2 GiB visible): 512 MiB carve-out + 7695 MiB GTT = 8207 MiB."""
    root = fixture_tree("sysfs_amd_apu_phoenix_16gib")
    ram = int(15.2 * GIB)
    (gpu,), notes = probe_amd(runner=_no_tools, which=_which_none, root=root, ram_total_bytes=ram)
    assert gpu.name == "AMD Radeon 780M (Phoenix)"
    assert gpu.unified_memory
    assert gpu.vram_total_bytes == 536870912 + 8068792320
    assert gpu.vram_total_bytes <= ram  # a share of RAM, never added to it (C6)
    assert gpu.vram_free_bytes == (536870912 - 248713216) + (8068792320 - 94642176)
    assert (gpu.pci_bus_id, gpu.source) == ("0000:c4:00.0", "sysfs")
    assert gpu.sources["vram_total_bytes"].startswith("carve-out (")
    assert "mem_info_gtt_total" in gpu.sources["vram_total_bytes"]
    assert [n.state for n in notes] == ["fallback", "shared_memory"]
    assert notes[0].message == "AMD GPUs read through sysfs (amdsmi not available)."


def test_sysfs_gtt_above_ram_is_capped(tmp_path: Path) -> None:
    device = tmp_path / "sys/class/drm/card0/device"
    device.mkdir(parents=True)
    for name, value in {
        "vendor": "0x1002",
        "device": "0x1638",
        "mem_info_vram_total": str(2 * GIB),
        "mem_info_gtt_total": str(24 * GIB),
    }.items():
        (device / name).write_text(value + "\n")
    (gpu,), _ = probe_amd(
        None,
        runner=_no_tools,
        which=_which_none,
        root=tmp_path,
        ram_total_bytes=RAM_16,
    )
    assert gpu.unified_memory
    assert gpu.vram_total_bytes == RAM_16
    assert gpu.sources["vram_free_bytes"] == "carve-out free + GTT free"


def test_sysfs_big_carve_out_is_dedicated_memory(fixture_tree: Tree) -> None:
    """Strix Halo with 64 GiB reserved in firmware: the OS sees ~62 GiB of RAM besides."""
    root = fixture_tree("sysfs_amd_strix_halo_64gib_carve_out")
    (gpu,), notes = probe_amd(
        None,
        runner=_no_tools,
        which=_which_none,
        root=root,
        ram_total_bytes=62 * GIB,
    )
    assert not gpu.unified_memory
    assert gpu.vram_total_bytes == 64 * GIB
    assert gpu.vram_free_bytes == 64 * GIB - 525336576
    assert notes[-1].state == "carve_out"
    assert "only that reservation is counted" in notes[-1].message


def test_sysfs_discrete_named_from_pci_ids(fixture_tree: Tree) -> None:
    root = fixture_tree("sysfs_desktop_rx7900xtx_intel_uhd770")
    (gpu,), notes = probe_amd(
        None, runner=_no_tools, which=_which_none, root=root, ram_total_bytes=RAM_16
    )
    assert gpu.name == "AMD Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    assert gpu.sources["name"] == "pci.ids"
    assert not gpu.unified_memory
    assert gpu.vram_total_bytes == 25753026560
    assert [n.state for n in notes] == ["fallback"]


def test_no_amd_card_in_sysfs_tries_nothing(
    fixture_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(amd, "_import_amdsmi", _no_tools)
    root = fixture_tree("sysfs_nvidia_only")
    assert probe_amd(runner=_no_tools, which=_no_tools, root=root) == ([], [])


def test_amd_smi_cli_desktop_with_igpu(recorded: Recorded) -> None:
    outputs = {
        tuple(AMD_SMI_STATIC): recorded("amd_smi_static_desktop_rx7900xtx_raphael.json"),
        tuple(AMD_SMI_METRIC): recorded("amd_smi_metric_mem_usage_desktop_rx7900xtx_raphael.json"),
    }
    calls: list[list[str]] = []

    def runner(args: list[str]) -> str | None:
        calls.append(args)
        return outputs.get(tuple(args))

    gpus, notes = probe_amd(
        runner=runner,
        which=lambda name: f"/opt/rocm/bin/{name}",
        root=Path("/nonexistent"),
        ram_total_bytes=32 * GIB,
    )
    assert calls == [AMD_SMI_STATIC, AMD_SMI_METRIC]
    dgpu, igpu = gpus
    assert (dgpu.name, dgpu.vram_total_bytes, dgpu.vram_free_bytes) == (
        "AMD Radeon RX 7900 XTX",
        24560 * MIB,
        (24560 - 1043) * MIB,
    )
    assert (dgpu.compute_capability, dgpu.driver_version, dgpu.pci_bus_id) == (
        "gfx1100",
        "6.10.5",
        "0000:03:00.0",
    )
    assert not dgpu.unified_memory
    # The Ryzen 7000 iGPU: DDR5 carve-out of 512 MiB + 31,982 MiB GTT on 32 GiB of RAM.
    assert igpu.unified_memory
    assert igpu.vram_total_bytes == (512 + 31982) * MIB
    assert igpu.sources["vram_total_bytes"].startswith("carve-out (amd-smi metric")
    assert [(n.state) for n in notes] == ["fallback", "shared_memory"]
    assert notes[0].message == "AMD GPUs read through amd-smi (amdsmi not available)."


def test_amd_smi_cli_list_format_strix_halo(recorded: Recorded) -> None:
    devices = parse_amd_smi(
        recorded("amd_smi_static_strix_halo_rocm63_list.json"),
        recorded("amd_smi_metric_mem_usage_strix_halo_rocm63_list.json"),
    )
    (device,) = devices
    assert (device.vram_type, device.gtt_total_bytes, device.pci_bus_id) == (
        "LPDDR5X",
        126976 * MIB,
        "0000:c5:00.0",
    )
    gpu, _notes = amd.to_gpu_info(device, 0, 127 * GIB, Path("/nonexistent"))
    assert gpu is not None and gpu.unified_memory
    assert gpu.vram_total_bytes == (512 + 126976) * MIB  # below the 127 GiB of RAM
    capped, _ = amd.to_gpu_info(device, 0, 96 * GIB, Path("/nonexistent"))
    assert capped is not None and capped.vram_total_bytes == 96 * GIB
    assert gpu.core_count == 40


def test_amd_smi_static_alone_uses_sysfs_for_usage(recorded: Recorded, tmp_path: Path) -> None:
    (device,) = parse_amd_smi(recorded("amd_smi_static_strix_halo_rocm63_list.json"))
    assert (device.vram_total_bytes, device.vram_used_bytes, device.gtt_total_bytes) == (
        512 * MIB,
        None,
        None,
    )
    assert "vram_free_bytes" not in device.sources


def test_rocm_smi_discrete(recorded: Recorded) -> None:
    text = recorded("rocm_smi_meminfo_productname_bus_rx7900xt.json")

    def runner(args: list[str]) -> str | None:
        assert args == ROCM_SMI
        return text

    def which(name: str) -> str | None:
        return "/opt/rocm/bin/rocm-smi" if name == "rocm-smi" else None

    (gpu,), notes = probe_amd(
        runner=runner, which=which, root=Path("/nonexistent"), ram_total_bytes=RAM_16
    )
    assert (gpu.name, gpu.vram_total_bytes, gpu.vram_free_bytes) == (
        "Radeon RX 7900 XT",
        21458059264,
        21458059264 - 27856896,
    )
    assert (gpu.pci_bus_id, gpu.compute_capability, gpu.driver_version) == (
        "0000:0c:00.0",
        "gfx1100",
        "6.8.0-45-generic",
    )
    assert gpu.source == "rocm-smi"
    assert notes[0].message == "AMD GPUs read through rocm-smi (amdsmi not available)."


def test_rocm_smi_apu(recorded: Recorded) -> None:
    (device,) = parse_rocm_smi(recorded("rocm_smi_meminfo_productname_bus_780m_apu.json"))
    gpu, notes = amd.to_gpu_info(device, 0, 30 * GIB, Path("/nonexistent"))
    assert gpu is not None and gpu.unified_memory
    assert gpu.vram_total_bytes == 536870912 + 16324177920
    assert gpu.name == "Phoenix3"
    assert "a known APU" in notes[0].message


def test_unknown_size_is_a_note_not_a_gpu() -> None:
    (device,) = parse_rocm_smi('{"card0": {"Card Series": "Mystery"}}')
    gpu, notes = amd.to_gpu_info(device, 0, RAM_16, Path("/nonexistent"))
    assert gpu is None
    assert notes[0].message == "Mystery: its memory size could not be read."


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"gpu_data": "N/A"}'])
def test_parsers_tolerate_garbage(text: str) -> None:
    assert parse_amd_smi(text, text) == []
    assert parse_rocm_smi(text) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"value": 512, "unit": "MB"}, 512 * MIB),
        ({"value": "N/A", "unit": "MB"}, None),
        ("8176 MB", 8176 * MIB),
        (24560, 24560 * MIB),
        ("N/A", None),
        ({"value": 2, "unit": "parsecs"}, None),
    ],
)
def test_size_bytes(value: object, expected: int | None) -> None:
    assert size_bytes(value) == expected


def test_no_sysfs_no_library_no_tools_is_silent() -> None:
    """This dev machine's state: no /sys/class/drm, no amdsmi, no amd-smi: no GPU, no note."""
    assert probe_amd(which=_which_none, root=Path("/nonexistent")) == ([], [])


def test_failing_library_without_any_amd_gpu_is_silent() -> None:
    """amdsmi installed in a container without GPUs: nothing to report, not an error."""
    fake = FakeAmdSmi([], init_error=RuntimeError("AMDSMI_STATUS_INIT_ERROR"))
    assert probe_amd(fake, which=_which_none, root=Path("/nonexistent")) == ([], [])


def test_amd_smi_static_plus_sysfs_needs_no_metric_call(
    recorded: Recorded, fixture_tree: Tree
) -> None:
    """With sysfs present, usage and GTT come from sysfs: one slow CLI call instead of two."""
    calls: list[list[str]] = []
    static = recorded("amd_smi_static_desktop_rx7900xtx_raphael.json")

    def runner(args: list[str]) -> str | None:
        calls.append(args)
        return static

    root = fixture_tree("sysfs_desktop_rx7900xtx_intel_uhd770")  # has the RX 7900 XTX only
    gpus, _ = probe_amd(runner=runner, which=lambda name: name, root=root, ram_total_bytes=32 * GIB)
    assert calls == [AMD_SMI_STATIC]
    dgpu = gpus[0]
    assert dgpu.source == "amd-smi"
    assert dgpu.vram_free_bytes == 24560 * MIB - 1093664768  # used from sysfs
    assert dgpu.sources["vram_free_bytes"].endswith("card1/device/mem_info_vram_used")
    # The iGPU has no sysfs card in this tree: its usage is unknown, so it counts as free.
    assert gpus[1].unified_memory
