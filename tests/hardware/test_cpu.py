"""The CPU probe on this machine, and its fallbacks."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from qwen_desktop.hardware import cpu
from qwen_desktop.hardware.cpu import probe_cpu
from qwen_desktop.hardware.cpuinfo import cpu_model_from_cpuinfo, flags_from_cpuinfo

Recorded = Callable[[str], str]

linux_only = pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc/cpuinfo")


@linux_only
def test_probe_cpu_matches_proc_cpuinfo() -> None:
    info, notes = probe_cpu()
    assert notes == []
    text = Path("/proc/cpuinfo").read_text()
    model_names = [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")
    ]
    if model_names and not model_names[0].startswith("ARMv"):
        assert info.model == model_names[0]
        assert info.sources["model"] == "/proc/cpuinfo model name"
    else:  # pragma: no cover - ARM machines
        assert (info.model, info.sources["model"].removeprefix("/proc/cpuinfo ")) == (
            cpu_model_from_cpuinfo(text)
        )
    assert info.logical_cores == os.cpu_count()
    assert info.physical_cores == (psutil.cpu_count(logical=False) or os.cpu_count())
    assert info.usable_cores == len(os.sched_getaffinity(0))
    assert (info.flags, info.sources["flags"].removeprefix("/proc/cpuinfo ")) == (
        flags_from_cpuinfo(text)
    )
    assert info.memory_bandwidth_bytes_per_second is None


def test_physical_cores_unknown_falls_back_to_logical(monkeypatch: pytest.MonkeyPatch) -> None:
    real = psutil.cpu_count

    def cpu_count(logical: bool = True) -> int | None:
        return real(logical=True) if logical else None

    monkeypatch.setattr(psutil, "cpu_count", cpu_count)
    info, notes = probe_cpu()
    assert notes == []
    assert info.physical_cores == info.logical_cores == real(logical=True)
    assert "could not count physical cores" in info.sources["physical_cores"]


@linux_only
def test_unreadable_cpuinfo_falls_back_to_platform_processor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu, "PROC_CPUINFO", tmp_path / "missing")
    monkeypatch.setattr(platform, "processor", lambda: "Fallback CPU 9000")
    info, notes = probe_cpu()
    assert info.model == "Fallback CPU 9000"
    assert info.sources["model"] == "platform.processor()"
    assert info.flags == []
    assert [(n.component, n.state) for n in notes] == [("cpu", "unknown")]
    assert "flags" in notes[0].message


def test_failures_become_notes_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sensor exploded")

    monkeypatch.setattr(cpu, "_model", boom)
    monkeypatch.setattr(cpu, "_flags", boom)
    monkeypatch.setattr(psutil, "cpu_count", boom)
    info, notes = probe_cpu()
    assert (info.model, info.physical_cores, info.logical_cores, info.flags) == (
        "unknown CPU",
        1,
        1,
        [],
    )
    assert [n.state for n in notes] == ["error", "error", "error"]
    assert all("RuntimeError: sensor exploded" in n.message for n in notes)
    assert notes[0].message.startswith("Could not read the CPU model")


def _fake_mac(
    monkeypatch: pytest.MonkeyPatch, machine: str, outputs: dict[str, str | None]
) -> list[list[str]]:
    """Pretend to be a Mac whose ``sysctl`` prints ``outputs[name]`` (None: the call fails)."""
    calls: list[list[str]] = []

    def run_command(args: list[str]) -> str | None:
        calls.append(args)
        name = next(arg for arg in args[1:] if not arg.startswith("-"))
        return outputs.get(name)

    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(cpu, "run_command", run_command)
    return calls


def test_macos_apple_silicon(monkeypatch: pytest.MonkeyPatch, recorded: Recorded) -> None:
    _fake_mac(
        monkeypatch,
        "arm64",
        {
            "machdep.cpu.brand_string": "Apple M2 Pro\n",
            "hw.optional.arm": recorded("sysctl_macos_m2_hw_optional_arm.txt"),
        },
    )
    info, notes = probe_cpu()
    assert notes == []
    assert info.model == "Apple M2 Pro"
    assert info.sources["model"] == "sysctl machdep.cpu.brand_string"
    assert info.flags == ["neon", "dotprod", "i8mm", "bf16"]


def test_macos_intel(monkeypatch: pytest.MonkeyPatch, recorded: Recorded) -> None:
    calls = _fake_mac(
        monkeypatch,
        "x86_64",
        {
            "machdep.cpu.brand_string": "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz",
            "machdep.cpu.features": recorded("sysctl_macos_intel_i9_9880h_features.txt"),
        },
    )
    info, notes = probe_cpu()
    assert notes == []
    assert info.model == "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz"
    assert info.flags == ["avx", "avx2", "fma", "f16c"]
    assert ["sysctl", "hw.optional.arm"] not in calls


def test_macos_x86_python_under_rosetta_reads_arm_features(
    monkeypatch: pytest.MonkeyPatch, recorded: Recorded
) -> None:
    _fake_mac(
        monkeypatch,
        "x86_64",
        {
            "machdep.cpu.brand_string": "Apple M1",
            "hw.optional.arm": recorded("sysctl_macos_m1_hw_optional_arm.txt"),
        },
    )
    info, _ = probe_cpu()
    assert info.flags == ["neon", "dotprod"]
    assert info.sources["flags"].startswith("arm64 (neon)")
