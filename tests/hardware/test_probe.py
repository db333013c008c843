"""The whole-machine probe on this machine, GPU vendor probes, and its guards."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import pytest

from qwen_desktop.core.machine import GpuInfo, MachineReport, ProbeNote
from qwen_desktop.hardware import probe as probe_module
from qwen_desktop.hardware.probe import default_gpu_probes, probe_machine

linux_only = pytest.mark.skipif(platform.system() != "Linux", reason="compares with /proc")


def _meminfo_total_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def _cpuinfo_model_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    pytest.skip("no 'model name' in /proc/cpuinfo (ARM)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> MachineReport:
    # Module-scoped fixtures run before the per-test data-dir isolation: name the cache here.
    folder = tmp_path_factory.mktemp("probe")
    return probe_machine(folder / "models", bandwidth_cache=folder / "hardware-cache.json")


@linux_only
def test_real_probe_matches_the_kernel(report: MachineReport) -> None:
    assert report.memory.total_bytes == _meminfo_total_bytes()
    assert report.memory.sources["total_bytes"] == "/proc/meminfo (psutil)"
    assert 0 < report.memory.available_bytes <= report.memory.total_bytes
    assert report.cpu.logical_cores == os.cpu_count()
    assert report.cpu.model == _cpuinfo_model_name()
    assert report.os.system == "Linux"
    assert report.disk.free_bytes > 0
    assert report.disk.path.endswith("models")


def test_every_figure_names_its_source(report: MachineReport) -> None:
    assert {"model", "physical_cores", "logical_cores", "flags"} <= set(report.cpu.sources)
    assert {"total_bytes", "available_bytes", "swap_total_bytes"} <= set(report.memory.sources)
    assert {"free_bytes", "total_bytes"} <= set(report.disk.sources)
    assert {"system", "description"} <= set(report.os.sources)


def test_gpu_or_clear_notes(report: MachineReport) -> None:
    states = {(n.component, n.state) for n in report.notes}
    if report.gpus:  # pragma: no cover - a machine with an NVIDIA GPU
        assert all(g.source == "NVML" and g.vram_total_bytes > 0 for g in report.gpus)
        return
    # This machine has no GPU: NVML says why, and the report says the CPU will be used.
    assert any(component == "nvidia" for component, _ in states)
    assert ("gpu", "none") in states
    none = next(n for n in report.notes if n.component == "gpu")
    cores = report.cpu.usable_cores or report.cpu.logical_cores
    assert none.message.startswith(f"No GPU found: models will run on the CPU ({cores} cores, ")
    assert "GiB RAM)." in none.message


def test_report_round_trips_through_json(report: MachineReport) -> None:
    assert MachineReport.model_validate_json(report.to_json()) == report


def test_vendor_probes_are_plain_functions(tmp_path: Path) -> None:
    gpu = GpuInfo(
        vendor="amd",
        name="Radeon RX 7900 XTX",
        vram_total_bytes=24 * 1024**3,
        vram_free_bytes=23 * 1024**3,
        source="sysfs",
    )
    note = ProbeNote(component="amd", state="ok", message="seen through sysfs")

    def amd() -> tuple[list[GpuInfo], list[ProbeNote]]:
        return [gpu], [note]

    def nothing() -> tuple[list[GpuInfo], list[ProbeNote]]:
        return [], []

    report = probe_machine(tmp_path, gpu_probes=[nothing, amd])
    assert report.gpus == [gpu]
    assert note in report.notes
    assert not any(n.component == "gpu" for n in report.notes)


def test_probe_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> object:
        raise RuntimeError("kaput")

    for name in ("probe_os", "probe_cpu", "probe_memory"):
        monkeypatch.setattr(probe_module, name, boom)
    monkeypatch.setattr(probe_module, "probe_disk", lambda path: boom())

    report = probe_machine(tmp_path, gpu_probes=[boom])  # type: ignore[list-item]
    assert report.gpus == []
    assert report.cpu.model == "unknown CPU"
    errors = [(n.component, n.state) for n in report.notes]
    assert errors == [
        ("os", "error"),
        ("cpu", "error"),
        ("memory", "error"),
        ("gpu", "error"),
        ("gpu", "none"),
        ("disk", "error"),
    ]
    assert all("RuntimeError: kaput" in n.message for n in report.notes if n.state == "error")
    assert "boom" in report.notes[3].message


def test_real_report_measures_memory_bandwidth(report: MachineReport) -> None:
    cpu = report.cpu
    assert cpu.memory_bandwidth_method == "measured"
    assert cpu.memory_bandwidth_bytes_per_second is not None
    assert cpu.memory_bandwidth_single_thread_bytes_per_second is not None
    # More threads never report less than one (the better of the two is kept).
    assert (
        cpu.memory_bandwidth_bytes_per_second >= cpu.memory_bandwidth_single_thread_bytes_per_second
    )
    assert 1e8 < cpu.memory_bandwidth_bytes_per_second < 1e13  # 0.1 GB/s … 10 TB/s
    assert cpu.sources["memory_bandwidth_bytes_per_second"].startswith("measured 20")


def test_warm_cache_probe_is_fast_and_reuses_the_figure(tmp_path: Path) -> None:
    cache = tmp_path / "hardware-cache.json"
    first = probe_machine(tmp_path, bandwidth_cache=cache)
    assert cache.is_file()
    started = time.perf_counter()
    second = probe_machine(tmp_path, bandwidth_cache=cache)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert second.cpu.memory_bandwidth_bytes_per_second == (
        first.cpu.memory_bandwidth_bytes_per_second
    )
    assert second.cpu.sources == first.cpu.sources


def test_bandwidth_disabled_uses_the_table_and_no_cache(tmp_path: Path) -> None:
    cache = tmp_path / "hardware-cache.json"
    report = probe_machine(tmp_path, measure_bandwidth=False, bandwidth_cache=cache)
    assert not cache.exists()
    if platform.machine().lower() in {"x86_64", "amd64"}:
        assert report.cpu.memory_bandwidth_method == "table"
        assert report.cpu.memory_bandwidth_bytes_per_second == 51_200_000_000
        assert report.cpu.sources["memory_bandwidth_bytes_per_second"].startswith(
            "table: typical dual-channel DDR4-3200"
        )


def test_bandwidth_failure_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("bandwidth kaput")

    monkeypatch.setattr(probe_module, "memory_bandwidth", boom)
    report = probe_machine(tmp_path, bandwidth_cache=tmp_path / "c.json", gpu_probes=[])
    assert report.cpu.memory_bandwidth_bytes_per_second is None
    assert report.cpu.model != "unknown CPU"  # the rest of the CPU section is kept
    (note,) = [n for n in report.notes if n.component == "cpu"]
    assert note.message == "Could not read the memory bandwidth: RuntimeError: bandwidth kaput"


def test_same_gpu_from_two_probes_is_reported_once(tmp_path: Path) -> None:
    nvml = GpuInfo(
        vendor="nvidia",
        name="NVIDIA GeForce RTX 4090",
        vram_total_bytes=24 * 1024**3,
        vram_free_bytes=23 * 1024**3,
        source="NVML",
        pci_bus_id="0000:01:00.0",
    )
    sysfs = nvml.model_copy(update={"source": "sysfs", "name": "AD102"})

    def first() -> tuple[list[GpuInfo], list[ProbeNote]]:
        return [sysfs], []

    def second() -> tuple[list[GpuInfo], list[ProbeNote]]:
        return [nvml], []

    report = probe_machine(tmp_path, gpu_probes=[first, second], measure_bandwidth=False)
    assert report.gpus == [nvml]
    assert [(n.component, n.state) for n in report.notes] == [("gpu", "duplicate")]


@pytest.mark.parametrize(
    ("system", "names"),
    [
        ("Linux", ["probe_nvidia", "probe_amd", "probe_intel"]),
        ("Windows", ["probe_windows"]),
        ("Darwin", ["probe_apple"]),
        ("FreeBSD", ["probe_nvidia", "probe_amd", "probe_intel"]),
    ],
)
def test_default_gpu_probes_by_system(system: str, names: list[str]) -> None:
    assert [probe.__name__ for probe in default_gpu_probes(system)] == names
