"""The NVML probe with a fake pynvml module: multi-GPU, bytes names and every error path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pynvml
import pytest

from qwen_desktop.hardware.nvidia import NO_LIBRARY_MESSAGE, probe_nvidia

GIB = 1024**3


@dataclass
class _Memory:
    total: int
    free: int
    used: int = 0


@dataclass
class FakeNvml:
    """Enough of pynvml's API for the probe; errors are the real pynvml classes."""

    names: list[Any] = field(default_factory=list)
    memory: list[_Memory] = field(default_factory=list)
    capabilities: list[tuple[int, int]] = field(default_factory=list)
    driver: Any = "550.54.15"
    init_error: Exception | None = None
    count_error: Exception | None = None
    device_errors: dict[int, Exception] = field(default_factory=dict)
    capability_error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    NVMLError = pynvml.NVMLError
    NVMLError_LibraryNotFound = pynvml.NVMLError_LibraryNotFound
    NVMLError_DriverNotLoaded = pynvml.NVMLError_DriverNotLoaded

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> Any:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        if self.count_error:
            raise self.count_error
        return len(self.names)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        if handle in self.device_errors:
            raise self.device_errors[handle]
        return self.names[handle]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> _Memory:
        return self.memory[handle]

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        if self.capability_error:
            raise self.capability_error
        return self.capabilities[handle]


def _two_gpus(**kwargs: Any) -> FakeNvml:
    return FakeNvml(
        names=["NVIDIA GeForce RTX 4090", b"NVIDIA RTX A4000"],
        memory=[_Memory(24 * GIB, 22 * GIB), _Memory(16 * GIB, 15 * GIB)],
        capabilities=[(8, 9), (8, 6)],
        **kwargs,
    )


def test_two_gpus_with_str_and_bytes_names() -> None:
    fake = _two_gpus(driver=b"550.54.15")
    gpus, notes = probe_nvidia(fake)
    assert notes == []
    assert [(g.index, g.name) for g in gpus] == [
        (0, "NVIDIA GeForce RTX 4090"),
        (1, "NVIDIA RTX A4000"),
    ]
    assert [(g.vram_total_bytes, g.vram_free_bytes) for g in gpus] == [
        (24 * GIB, 22 * GIB),
        (16 * GIB, 15 * GIB),
    ]
    assert [g.compute_capability for g in gpus] == ["8.9", "8.6"]
    assert {g.driver_version for g in gpus} == {"550.54.15"}
    assert {(g.vendor, g.source, g.unified_memory) for g in gpus} == {("nvidia", "NVML", False)}
    assert gpus[0].sources["vram_free_bytes"] == "NVML nvmlDeviceGetMemoryInfo"
    assert fake.calls == ["init", "shutdown"]


def test_library_not_found() -> None:
    fake = FakeNvml(init_error=pynvml.NVMLError_LibraryNotFound())
    gpus, notes = probe_nvidia(fake)
    assert gpus == []
    assert [(n.component, n.state, n.message) for n in notes] == [
        ("nvidia", "no_library", NO_LIBRARY_MESSAGE)
    ]
    assert "shutdown" not in fake.calls  # nothing to shut down after a failed init


def test_driver_not_loaded() -> None:
    gpus, notes = probe_nvidia(FakeNvml(init_error=pynvml.NVMLError_DriverNotLoaded()))
    assert gpus == []
    assert [(n.component, n.state) for n in notes] == [("nvidia", "driver_not_loaded")]
    assert "driver" in notes[0].message


def test_other_init_error_keeps_its_text() -> None:
    gpus, notes = probe_nvidia(FakeNvml(init_error=pynvml.NVMLError_NoPermission()))
    assert gpus == []
    assert [(n.component, n.state) for n in notes] == [("nvidia", "error")]
    assert "Insufficient Permissions" in notes[0].message


def test_non_nvml_init_error_is_an_error_note() -> None:
    gpus, notes = probe_nvidia(FakeNvml(init_error=OSError("libnvidia-ml.so.1: bad ELF")))
    assert gpus == []
    assert notes[0].state == "error"
    assert "bad ELF" in notes[0].message


def test_zero_devices() -> None:
    fake = FakeNvml()
    gpus, notes = probe_nvidia(fake)
    assert gpus == []
    assert [(n.component, n.state) for n in notes] == [("nvidia", "no_gpu")]
    assert fake.calls == ["init", "shutdown"]


def test_generic_error_while_counting() -> None:
    fake = FakeNvml(count_error=pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN))
    gpus, notes = probe_nvidia(fake)
    assert gpus == []
    assert [(n.component, n.state) for n in notes] == [("nvidia", "error")]
    assert "Unknown Error" in notes[0].message
    assert fake.calls[-1] == "shutdown"


def test_one_broken_device_does_not_hide_the_others() -> None:
    fake = _two_gpus(device_errors={0: pynvml.NVMLError_GpuIsLost()})
    gpus, notes = probe_nvidia(fake)
    assert [g.name for g in gpus] == ["NVIDIA RTX A4000"]
    assert [(n.component, n.state) for n in notes] == [("nvidia", "error")]
    assert "GPU 0" in notes[0].message
    assert "GPU is lost" in notes[0].message


def test_missing_compute_capability_and_driver_are_optional() -> None:
    fake = _two_gpus(capability_error=pynvml.NVMLError_FunctionNotFound(), driver="")
    gpus, notes = probe_nvidia(fake)
    assert notes == []
    assert [g.compute_capability for g in gpus] == [None, None]
    assert [g.driver_version for g in gpus] == [None, None]
    assert "compute_capability" not in gpus[0].sources
    assert "driver_version" not in gpus[0].sources


def test_missing_pynvml_module_is_no_library(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    gpus, notes = probe_nvidia()
    assert gpus == []
    assert [(n.state, n.message) for n in notes] == [("no_library", NO_LIBRARY_MESSAGE)]


def test_real_pynvml_on_this_machine_never_raises() -> None:
    gpus, notes = probe_nvidia()
    assert gpus or notes  # either GPUs, or a note saying why there are none
    if not gpus:
        assert notes[0].component == "nvidia"
        assert notes[0].state in {"no_library", "driver_not_loaded", "no_gpu", "error"}


@dataclass
class _PciInfo:
    busId: Any  # noqa: N815 (pynvml's field name)
    pciDeviceId: int  # noqa: N815


@dataclass
class FakeNvmlWithPci(FakeNvml):
    """pynvml's ``nvmlDeviceGetPciInfo``: busId with an 8-digit domain, device<<16 | vendor."""

    def nvmlDeviceGetPciInfo(self, handle: int) -> _PciInfo:
        return _PciInfo(f"00000000:0{handle + 1}:00.0".encode(), (0x2684 << 16) | 0x10DE)


def test_pci_address_and_ids_identify_the_gpu() -> None:
    gpus, _ = probe_nvidia(_two_gpus_with_pci())
    assert [(g.pci_bus_id, g.pci_id) for g in gpus] == [
        ("0000:01:00.0", "10de:2684"),
        ("0000:02:00.0", "10de:2684"),
    ]


def test_pci_info_is_optional() -> None:
    gpus, notes = probe_nvidia(_two_gpus())  # the plain fake has no nvmlDeviceGetPciInfo
    assert notes == []
    assert [(g.pci_bus_id, g.pci_id) for g in gpus] == [(None, None), (None, None)]


def _two_gpus_with_pci() -> FakeNvmlWithPci:
    return FakeNvmlWithPci(
        names=["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090"],
        memory=[_Memory(24 * GIB, 22 * GIB), _Memory(24 * GIB, 23 * GIB)],
        capabilities=[(8, 9), (8, 9)],
    )
