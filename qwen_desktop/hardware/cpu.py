"""The CPU probe: model name, core counts and inference-relevant ISA flags.

Sources by platform:

* Model: Linux ``/proc/cpuinfo``; macOS ``sysctl -n machdep.cpu.brand_string``; Windows registry
  ``HKLM\\HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0`` ``ProcessorNameString``; else
  ``platform.processor()``.
* Cores: psutil (``cpu_count``); usable cores: ``os.sched_getaffinity(0)`` where it exists.
* Flags: Linux ``/proc/cpuinfo``; macOS ``sysctl``; Windows ``IsProcessorFeaturePresent``
  (partial).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from qwen_desktop.core.machine import CpuInfo, ProbeNote
from qwen_desktop.hardware.cpuinfo import (
    cpu_model_from_cpuinfo,
    flags_from_cpuinfo,
    macos_arm_flags,
    macos_x86_flags,
)
from qwen_desktop.hardware.notes import failure_note, read_text, run_command

PROC_CPUINFO = Path("/proc/cpuinfo")

_WINDOWS_REGISTRY_KEY = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"

# IsProcessorFeaturePresent constants (winnt.h) for the flags Windows can answer reliably.
_WINDOWS_FEATURES: dict[int, str] = {
    19: "neon",  # PF_ARM_NEON_INSTRUCTIONS_AVAILABLE
    39: "avx",  # PF_AVX_INSTRUCTIONS_AVAILABLE
    40: "avx2",  # PF_AVX2_INSTRUCTIONS_AVAILABLE
    41: "avx512f",  # PF_AVX512F_INSTRUCTIONS_AVAILABLE
    43: "dotprod",  # PF_ARM_V82_DP_INSTRUCTIONS_AVAILABLE
}


def _model() -> tuple[str, str] | None:
    """(model, source) for this platform, or None when nothing names the CPU."""
    system = platform.system()
    if system == "Linux":
        text = read_text(PROC_CPUINFO)
        found = cpu_model_from_cpuinfo(text) if text else None
        if found:
            model, fields = found
            return model, f"/proc/cpuinfo {fields}"
    elif system == "Darwin":
        brand = run_command(["sysctl", "-n", "machdep.cpu.brand_string"])
        if brand and brand.strip():
            return brand.strip(), "sysctl machdep.cpu.brand_string"
    elif sys.platform == "win32":
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, _WINDOWS_REGISTRY_KEY) as key:
            value, _ = winreg.QueryValueEx(key, "ProcessorNameString")
        if str(value).strip():
            return str(value).strip(), f"registry HKLM\\{_WINDOWS_REGISTRY_KEY} ProcessorNameString"
    processor = platform.processor()
    if processor.strip():
        return processor.strip(), "platform.processor()"
    return None


def _windows_flags() -> list[str]:
    import ctypes

    kernel32 = getattr(ctypes, "windll").kernel32  # noqa: B009 (windll exists on Windows only)
    present = {
        flag for code, flag in _WINDOWS_FEATURES.items() if kernel32.IsProcessorFeaturePresent(code)
    }
    order = ("avx", "avx2", "avx512f", "neon", "dotprod")
    return [flag for flag in order if flag in present]


def _flags() -> tuple[list[str], str] | None:
    """(normalized flags, source) for this platform, or None when they cannot be read."""
    system = platform.system()
    if system == "Linux":
        text = read_text(PROC_CPUINFO)
        found = flags_from_cpuinfo(text) if text else None
        if found:
            flags, field = found
            return flags, f"/proc/cpuinfo {field}"
        return None
    if system == "Darwin":
        if platform.machine() != "arm64":
            text = run_command(
                ["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"]
            )
            if text is not None:
                return macos_x86_flags(text), (
                    "sysctl machdep.cpu.features machdep.cpu.leaf7_features"
                )
        # Apple Silicon, including an x86_64 Python under Rosetta 2 (no machdep.cpu.features).
        arm = run_command(["sysctl", "hw.optional.arm"])
        if platform.machine() == "arm64" or arm:
            return macos_arm_flags(arm or ""), "arm64 (neon) + sysctl hw.optional.arm.FEAT_*"
        return None
    if system == "Windows":
        return (
            _windows_flags(),
            "IsProcessorFeaturePresent (only avx, avx2, avx512f, neon, dotprod are checked)",
        )
    return None


def _core_counts(sources: dict[str, str]) -> tuple[int, int, int | None]:
    """(physical, logical, usable) core counts, filling ``sources``."""
    import psutil

    logical = psutil.cpu_count()
    if logical:
        sources["logical_cores"] = "psutil.cpu_count()"
    else:
        logical = os.cpu_count() or 1
        sources["logical_cores"] = "os.cpu_count() (psutil could not count them)"
    physical = psutil.cpu_count(logical=False)
    if physical:
        sources["physical_cores"] = "psutil.cpu_count(logical=False)"
    else:
        physical = logical
        sources["physical_cores"] = (
            "assumed equal to logical cores (psutil could not count physical cores)"
        )
    usable: int | None = None
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
        sources["usable_cores"] = "os.sched_getaffinity(0)"
    return physical, logical, usable


def probe_cpu() -> tuple[CpuInfo, list[ProbeNote]]:
    """Describe this machine's CPU. Never raises.

    Returns:
        The CPU section (model, ``physical_cores``/``logical_cores``/``usable_cores`` as counts,
        normalized ``flags``; ``memory_bandwidth_bytes_per_second`` is left None) with a source
        per field, and a note for each part that could not be read (defaults are kept there).
    """
    notes: list[ProbeNote] = []
    sources: dict[str, str] = {}
    fields: dict[str, object] = {}
    try:
        found_model = _model()
        if found_model:
            fields["model"], sources["model"] = found_model
        else:
            notes.append(
                ProbeNote(
                    component="cpu", state="unknown", message="The CPU model could not be found."
                )
            )
    except Exception as exc:
        notes.append(failure_note("cpu", "the CPU model", exc))
    try:
        physical, logical, usable = _core_counts(sources)
        fields.update(physical_cores=physical, logical_cores=logical, usable_cores=usable)
    except Exception as exc:
        notes.append(failure_note("cpu", "the CPU core counts", exc))
    try:
        found_flags = _flags()
        if found_flags:
            fields["flags"], sources["flags"] = found_flags
        else:
            notes.append(
                ProbeNote(
                    component="cpu",
                    state="unknown",
                    message="The CPU instruction-set flags could not be read on this system.",
                )
            )
    except Exception as exc:
        notes.append(failure_note("cpu", "the CPU instruction-set flags", exc))
    return CpuInfo.model_validate({**fields, "sources": sources}), notes
