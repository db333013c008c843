"""The Apple Silicon probe with recorded ``sysctl``/``system_profiler`` outputs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qwen_desktop.hardware import apple
from qwen_desktop.hardware.apple import (
    DEFAULT_SOURCE,
    default_working_set_bytes,
    parse_displays,
    probe_apple,
)

Recorded = Callable[[str], str]
GIB = 1024**3
MIB = 1024**2


def _runner(outputs: dict[str, str | None]) -> Callable[[list[str]], str | None]:
    """Answers ``sysctl -n NAME`` with ``outputs[NAME]`` and ``system_profiler`` likewise."""

    def run(args: list[str]) -> str | None:
        key = args[-1] if args[0] == "sysctl" else args[0]
        return outputs.get(key)

    return run


@pytest.mark.parametrize(
    ("ram_gib", "expected_bytes"),
    [
        (8, 8 * GIB * 2 // 3),  # M1 8 GB: Metal reports 5461.33 MiB
        (16, 16 * GIB * 2 // 3),  # 10922.67 MiB
        (36, 36 * GIB * 2 // 3),
        (64, 48 * GIB),  # 49152 MiB
        (192, 144 * GIB),  # M2 Ultra: 147456 MiB
    ],
)
def test_default_working_set(ram_gib: int, expected_bytes: int) -> None:
    assert default_working_set_bytes(ram_gib * GIB) == expected_bytes


def test_m2_pro_16gib_default_share(recorded: Recorded) -> None:
    run = _runner(
        {
            "machdep.cpu.brand_string": "Apple M2 Pro\n",
            "system_profiler": recorded("system_profiler_displays_m2_pro.json"),
            "iogpu.wired_limit_mb": "0\n",
        }
    )
    (gpu,), (note,) = probe_apple(runner=run, ram=(16 * GIB, 9 * GIB))
    assert (gpu.vendor, gpu.name, gpu.core_count, gpu.unified_memory) == (
        "apple",
        "Apple M2 Pro",
        19,
        True,
    )
    assert gpu.vram_total_bytes == 16 * GIB * 2 // 3
    assert gpu.vram_free_bytes == 9 * GIB  # capped at the RAM available now
    assert gpu.source == "Metal (estimated)"
    assert gpu.sources["vram_total_bytes"].startswith(DEFAULT_SOURCE)
    assert gpu.sources["core_count"] == "system_profiler SPDisplaysDataType sppci_cores"
    assert (note.component, note.state) == ("apple", "shared_memory")
    assert "16.0 GiB of unified memory" in note.message
    assert "up to 10.7 GiB" in note.message
    assert "iogpu.wired_limit_mb" in note.message


def test_raised_wired_limit_wins(recorded: Recorded) -> None:
    run = _runner(
        {
            "machdep.cpu.brand_string": "Apple M3 Max",
            "system_profiler": recorded("system_profiler_displays_m3_max_30core.json"),
            "iogpu.wired_limit_mb": "57344\n",
        }
    )
    (gpu,), (note,) = probe_apple(runner=run, ram=(64 * GIB, 60 * GIB))
    assert gpu.vram_total_bytes == 57344 * MIB
    assert gpu.source == "sysctl iogpu.wired_limit_mb"
    assert gpu.core_count == 30
    assert "raised with sysctl iogpu.wired_limit_mb to 56.0 GiB" in note.message


def test_wired_limit_above_ram_is_capped_and_macos13_key_read() -> None:
    run = _runner(
        {
            "machdep.cpu.brand_string": "Apple M1",
            "iogpu.wired_limit_mb": None,  # macOS 13: no such sysctl
            "debug.iogpu.wired_limit": str(32 * GIB),
        }
    )
    (gpu,), _ = probe_apple(runner=run, ram=(16 * GIB, 12 * GIB))
    assert gpu.vram_total_bytes == 16 * GIB
    assert gpu.source == "sysctl debug.iogpu.wired_limit"
    assert gpu.name == "Apple M1"  # no system_profiler: the brand string names it
    assert gpu.core_count is None
    assert gpu.sources["name"] == "sysctl machdep.cpu.brand_string"


def test_intel_mac_has_no_metal_gpu_for_the_engine() -> None:
    run = _runner({"machdep.cpu.brand_string": "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz"})
    gpus, (note,) = probe_apple(runner=run, ram=(16 * GIB, 8 * GIB))
    assert gpus == []
    assert note.state == "intel_mac"


def test_rosetta_python_on_apple_silicon() -> None:
    """An x86_64 Python under Rosetta 2: the brand string may be odd, hw.optional.arm64 is 1."""
    run = _runner({"machdep.cpu.brand_string": "VirtualApple @ 2.50GHz", "hw.optional.arm64": "1"})
    (gpu,), _ = probe_apple(runner=run, ram=(8 * GIB, 4 * GIB))
    assert gpu.vendor == "apple"
    assert gpu.vram_total_bytes == 8 * GIB * 2 // 3


def test_ram_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apple, "system_ram", lambda: None)
    gpus, notes = probe_apple(runner=_runner({"machdep.cpu.brand_string": "Apple M4"}))
    assert gpus == []
    assert notes[0].state == "unknown"


@pytest.mark.parametrize("text", ["", "{}", "[]", '{"SPDisplaysDataType": [{"_name": "AMD"}]}'])
def test_parse_displays_without_apple_gpu(text: str) -> None:
    assert parse_displays(text) == (None, None)
