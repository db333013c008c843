"""The whole-machine probe on this machine, GPU vendor probes, and its guards."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from qwen_desktop.core.machine import GpuInfo, MachineReport, ProbeNote
from qwen_desktop.hardware import probe as probe_module
from qwen_desktop.hardware.probe import probe_machine

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
    return probe_machine(tmp_path_factory.mktemp("probe") / "models")


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
