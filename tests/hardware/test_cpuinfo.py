"""Pure CPU parsers over recorded /proc/cpuinfo and sysctl output."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qwen_desktop.hardware.cpuinfo import (
    ARM_FLAGS,
    X86_FLAGS,
    arm_core_names,
    cpu_model_from_cpuinfo,
    flags_from_cpuinfo,
    macos_arm_flags,
    macos_x86_flags,
    normalize_arm_features,
    normalize_x86_flags,
    parse_cpuinfo,
    parse_sysctl,
)

Recorded = Callable[[str], str]


def test_parse_cpuinfo_splits_blocks_and_keeps_values(recorded: Recorded) -> None:
    blocks = parse_cpuinfo(recorded("cpuinfo_x86_intel_sapphire_rapids.txt"))
    assert len(blocks) == 2
    assert [b["processor"] for b in blocks] == ["0", "1"]
    assert blocks[1]["cpu cores"] == "56"
    assert blocks[0]["address sizes"] == "46 bits physical, 57 bits virtual"


@pytest.mark.parametrize(
    ("name", "model", "fields"),
    [
        (
            "cpuinfo_x86_intel_sapphire_rapids.txt",
            "Intel(R) Xeon(R) Platinum 8480+",
            "model name",
        ),
        (
            "cpuinfo_x86_intel_haswell.txt",
            "Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz",
            "model name",
        ),
        ("cpuinfo_x86_amd_epyc_zen4.txt", "AMD EPYC", "model name"),
        ("cpuinfo_arm64_graviton3.txt", "ARM Neoverse-V1", "CPU implementer/part"),
        ("cpuinfo_arm64_raspberry_pi5.txt", "ARM Cortex-A76", "CPU implementer/part"),
        (
            "cpuinfo_arm64_rk3588_big_little.txt",
            "ARM Cortex-A55 + ARM Cortex-A76",
            "CPU implementer/part",
        ),
        (
            # The 32-bit "model name: ARMv7 Processor rev 3" is generic: the SoC and cores win.
            "cpuinfo_armv7_raspberry_pi4.txt",
            "BCM2711 (ARM Cortex-A72)",
            "Hardware, CPU implementer/part",
        ),
    ],
)
def test_cpu_model_from_recorded_cpuinfo(
    recorded: Recorded, name: str, model: str, fields: str
) -> None:
    assert cpu_model_from_cpuinfo(recorded(name)) == (model, fields)


def test_cpu_model_falls_back_to_board_then_generic_model_name() -> None:
    assert cpu_model_from_cpuinfo("processor\t: 0\n\nModel\t\t: Some Board v2\n") == (
        "Some Board v2",
        "Model",
    )
    assert cpu_model_from_cpuinfo("processor\t: 0\nmodel name\t: ARMv6-compatible rev 7\n") == (
        "ARMv6-compatible rev 7",
        "model name",
    )
    assert cpu_model_from_cpuinfo("") is None
    assert cpu_model_from_cpuinfo("processor\t: 0\nBogoMIPS\t: 38.40\n") is None


def test_unknown_arm_part_is_named_by_vendor_and_number() -> None:
    blocks = parse_cpuinfo("CPU implementer\t: 0x61\nCPU part\t: 0x022\n")
    assert arm_core_names(blocks) == ["Apple part 0x022"]
    blocks = parse_cpuinfo("CPU implementer\t: 0x99\nCPU part\t: 0xabc\n")
    assert arm_core_names(blocks) == ["implementer 0x99 part 0xabc"]
    assert arm_core_names(parse_cpuinfo("CPU implementer\t: junk\nCPU part\t: 0xd0b\n")) == []


@pytest.mark.parametrize(
    ("name", "flags", "field"),
    [
        ("cpuinfo_x86_intel_sapphire_rapids.txt", list(X86_FLAGS), "flags"),
        ("cpuinfo_x86_intel_haswell.txt", ["avx", "avx2", "fma", "f16c"], "flags"),
        (
            "cpuinfo_x86_amd_epyc_zen4.txt",
            ["avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni"],
            "flags",
        ),
        # Graviton3: SVE but not SVE2; "svei8mm"/"svebf16" must not be confused with i8mm/bf16
        # (here both are also present on their own).
        ("cpuinfo_arm64_graviton3.txt", ["neon", "sve", "dotprod", "i8mm", "bf16"], "Features"),
        ("cpuinfo_arm64_raspberry_pi5.txt", ["neon", "dotprod"], "Features"),
        ("cpuinfo_arm64_rk3588_big_little.txt", ["neon", "dotprod"], "Features"),
        ("cpuinfo_armv7_raspberry_pi4.txt", ["neon"], "Features"),
    ],
)
def test_flags_from_recorded_cpuinfo(
    recorded: Recorded, name: str, flags: list[str], field: str
) -> None:
    assert flags_from_cpuinfo(recorded(name)) == (flags, field)


def test_flags_absent_gives_none() -> None:
    assert flags_from_cpuinfo("processor\t: 0\nmodel name\t: Mystery\n") is None


def test_normalizers_keep_canonical_order_and_ignore_lookalikes() -> None:
    assert normalize_x86_flags(["amx_int8", "AVX2", "avx512_fp16", "avx512vl", "avx"]) == [
        "avx",
        "avx2",
        "amx_int8",
    ]
    assert normalize_arm_features(["svebf16", "svei8mm", "sve2", "asimd"]) == ["neon", "sve2"]
    assert normalize_arm_features(ARM_FLAGS) == ["neon", "sve", "sve2", "i8mm", "bf16"]
    assert normalize_x86_flags([]) == []


def test_macos_arm_flags(recorded: Recorded) -> None:
    assert macos_arm_flags(recorded("sysctl_macos_m2_hw_optional_arm.txt")) == [
        "neon",
        "dotprod",
        "i8mm",
        "bf16",
    ]
    assert macos_arm_flags(recorded("sysctl_macos_m1_hw_optional_arm.txt")) == ["neon", "dotprod"]
    # sysctl missing or silent: NEON is architectural on Apple Silicon.
    assert macos_arm_flags("") == ["neon"]


def test_macos_x86_flags(recorded: Recorded) -> None:
    assert macos_x86_flags(recorded("sysctl_macos_intel_i9_9880h_features.txt")) == [
        "avx",
        "avx2",
        "fma",
        "f16c",
    ]
    assert macos_x86_flags(recorded("sysctl_macos_intel_xeon_w_avx512_features.txt")) == [
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512_vnni",
    ]


def test_parse_sysctl() -> None:
    assert parse_sysctl("hw.optional.arm.FEAT_BF16: 1\nnoise\nkern.x:  a b \n") == {
        "hw.optional.arm.FEAT_BF16": "1",
        "kern.x": "a b",
    }
