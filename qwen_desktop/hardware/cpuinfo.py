"""Pure parsers for CPU descriptions: Linux ``/proc/cpuinfo`` and macOS ``sysctl`` output.

Every function here takes text and returns plain values, so it is tested with recorded samples
(``tests/fixtures/hardware/``) on any machine. The instruction-set flags are normalized to the
short list that matters for local inference (which kernels llama.cpp/Ollama and PyTorch can use):
:data:`X86_FLAGS` and :data:`ARM_FLAGS`, always in that order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

X86_FLAGS: tuple[str, ...] = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "avx_vnni",
    "amx_bf16",
    "amx_int8",
)
"""x86 flags reported, spelled as the Linux kernel spells them in ``/proc/cpuinfo``."""

ARM_FLAGS: tuple[str, ...] = ("neon", "sve", "sve2", "dotprod", "i8mm", "bf16")
"""ARM features reported (names as llama.cpp's system info prints them)."""

_ARM_KERNEL_NAMES: dict[str, str] = {
    # arm64 kernels call NEON "asimd"; 32-bit kernels say "neon". Source: Linux
    # Documentation/arch/arm64/elf_hwcaps.rst.
    "asimd": "neon",
    "neon": "neon",
    "sve": "sve",
    "sve2": "sve2",
    "asimddp": "dotprod",
    "i8mm": "i8mm",
    "bf16": "bf16",
}

_MACOS_ARM_FEATURES: dict[str, str] = {
    # sysctl hw.optional.arm.FEAT_* (macOS 12+); NEON is architectural on every Apple Silicon.
    "FEAT_DotProd": "dotprod",
    "FEAT_I8MM": "i8mm",
    "FEAT_BF16": "bf16",
    "FEAT_SVE": "sve",
    "FEAT_SVE2": "sve2",
}

_ARM_IMPLEMENTERS: dict[int, str] = {
    0x41: "ARM",
    0x42: "Broadcom",
    0x43: "Cavium",
    0x46: "Fujitsu",
    0x48: "HiSilicon",
    0x4E: "NVIDIA",
    0x50: "APM",
    0x51: "Qualcomm",
    0x61: "Apple",
    0xC0: "Ampere",
}

_ARM_PARTS: dict[tuple[int, int], str] = {
    # (implementer, part) → core name. Source: util-linux sys-utils/lscpu-arm.c.
    (0x41, 0xD03): "Cortex-A53",
    (0x41, 0xD04): "Cortex-A35",
    (0x41, 0xD05): "Cortex-A55",
    (0x41, 0xD07): "Cortex-A57",
    (0x41, 0xD08): "Cortex-A72",
    (0x41, 0xD09): "Cortex-A73",
    (0x41, 0xD0A): "Cortex-A75",
    (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1",
    (0x41, 0xD0D): "Cortex-A77",
    (0x41, 0xD40): "Neoverse-V1",
    (0x41, 0xD41): "Cortex-A78",
    (0x41, 0xD44): "Cortex-X1",
    (0x41, 0xD46): "Cortex-A510",
    (0x41, 0xD47): "Cortex-A710",
    (0x41, 0xD48): "Cortex-X2",
    (0x41, 0xD49): "Neoverse-N2",
    (0x41, 0xD4B): "Cortex-A78C",
    (0x41, 0xD4D): "Cortex-A715",
    (0x41, 0xD4E): "Cortex-X3",
    (0x41, 0xD4F): "Neoverse-V2",
    (0x41, 0xD80): "Cortex-A520",
    (0x41, 0xD81): "Cortex-A720",
    (0x41, 0xD82): "Cortex-X4",
    (0x41, 0xD84): "Neoverse-V3",
    (0x41, 0xD8E): "Neoverse-N3",
    (0x46, 0x001): "A64FX",
    (0x48, 0xD01): "Kunpeng-920",
    (0x4E, 0x004): "Carmel",
    (0xC0, 0xAC3): "Ampere-1",
    (0xC0, 0xAC4): "Ampere-1a",
}


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """Split ``/proc/cpuinfo`` into its blank-line separated blocks of ``key: value`` fields.

    Returns:
        One dict per block (one per logical CPU, plus trailing machine-wide blocks on ARM),
        keys and values stripped. Lines without a colon are ignored.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current.setdefault(key.strip(), value.strip())
    if current:
        blocks.append(current)
    return blocks


def _first(blocks: list[dict[str, str]], key: str) -> str | None:
    for block in blocks:
        value = block.get(key)
        if value:
            return value
    return None


def arm_core_names(blocks: list[dict[str, str]]) -> list[str]:
    """Distinct ARM core names from ``CPU implementer`` + ``CPU part`` fields, in CPU order.

    A big.LITTLE SoC yields several names (``["Cortex-A55", "Cortex-A76"]``). An unknown part
    becomes ``"<vendor> part 0x…"``.
    """
    names: list[str] = []
    for block in blocks:
        implementer_text = block.get("CPU implementer")
        part_text = block.get("CPU part")
        if not implementer_text or not part_text:
            continue
        try:
            implementer = int(implementer_text, 0)
            part = int(part_text, 0)
        except ValueError:
            continue
        vendor = _ARM_IMPLEMENTERS.get(implementer, f"implementer {implementer:#x}")
        core = _ARM_PARTS.get((implementer, part))
        name = f"{vendor} {core}" if core else f"{vendor} part {part:#05x}"
        if name not in names:
            names.append(name)
    return names


def cpu_model_from_cpuinfo(text: str) -> tuple[str, str] | None:
    """The CPU model named by ``/proc/cpuinfo``, with the fields it came from.

    x86 kernels give ``model name``. ARM kernels give a mix of ``Hardware`` (the SoC),
    ``CPU implementer``/``CPU part`` (the cores, decoded with util-linux's table) and ``Model``
    (the board); a 32-bit ARM ``model name`` such as ``"ARMv7 Processor rev 3 (v7l)"`` is generic
    and only used when nothing better is there.

    Returns:
        ``(model, fields)``, e.g. ``("AMD EPYC 7R13", "model name")`` or
        ``("BCM2711 (ARM Cortex-A72)", "Hardware, CPU implementer/part")``; None when the text
        names no model.
    """
    blocks = parse_cpuinfo(text)
    model_name = _first(blocks, "model name")
    if model_name and not model_name.startswith("ARMv"):
        return model_name, "model name"
    hardware = _first(blocks, "Hardware")
    cores = " + ".join(arm_core_names(blocks))
    if hardware and cores:
        return f"{hardware} ({cores})", "Hardware, CPU implementer/part"
    if hardware:
        return hardware, "Hardware"
    if cores:
        return cores, "CPU implementer/part"
    board = _first(blocks, "Model")
    if board:
        return board, "Model"
    if model_name:
        return model_name, "model name"
    return None


def normalize_x86_flags(tokens: Iterable[str]) -> list[str]:
    """The inference-relevant subset of x86 flags, in :data:`X86_FLAGS` order.

    Args:
        tokens: Flag names as ``/proc/cpuinfo`` spells them (case-insensitive).
    """
    present = {token.strip().lower() for token in tokens}
    return [flag for flag in X86_FLAGS if flag in present]


def normalize_arm_features(tokens: Iterable[str]) -> list[str]:
    """The inference-relevant subset of ARM features, in :data:`ARM_FLAGS` order.

    Args:
        tokens: Linux hwcap names from ``/proc/cpuinfo`` ``Features`` (``asimd`` → ``neon``,
            ``asimddp`` → ``dotprod``; ``svei8mm``/``svebf16`` are not ``i8mm``/``bf16``).
    """
    present = {_ARM_KERNEL_NAMES.get(token.strip().lower()) for token in tokens}
    return [flag for flag in ARM_FLAGS if flag in present]


def flags_from_cpuinfo(text: str) -> tuple[list[str], str] | None:
    """The normalized ISA flags of ``/proc/cpuinfo`` and the field they came from.

    Returns:
        ``(flags, "flags")`` on x86, ``(flags, "Features")`` on ARM (first CPU's line: Linux
        reports the features common to all cores), or None when neither field is present.
    """
    blocks = parse_cpuinfo(text)
    x86 = _first(blocks, "flags")
    if x86 is not None:
        return normalize_x86_flags(x86.split()), "flags"
    arm = _first(blocks, "Features")
    if arm is not None:
        return normalize_arm_features(arm.split()), "Features"
    return None


def parse_sysctl(text: str) -> dict[str, str]:
    """``name: value`` lines of ``sysctl`` output (e.g. ``sysctl hw.optional.arm``) as a dict."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            values[name.strip()] = value.strip()
    return values


def macos_arm_flags(sysctl_text: str) -> list[str]:
    """ISA flags of an Apple Silicon Mac from ``sysctl hw.optional.arm`` output.

    NEON is always present on arm64 macOS; the others come from ``hw.optional.arm.FEAT_*`` = 1.
    """
    values = parse_sysctl(sysctl_text)
    present = {"neon"}
    for feature, flag in _MACOS_ARM_FEATURES.items():
        if values.get(f"hw.optional.arm.{feature}") == "1":
            present.add(flag)
    return [flag for flag in ARM_FLAGS if flag in present]


def macos_x86_flags(sysctl_text: str) -> list[str]:
    """ISA flags of an Intel Mac from ``sysctl -n machdep.cpu.features machdep.cpu.leaf7_features``.

    macOS spells flags in upper case without underscores (``AVX1.0``, ``AVX512F``,
    ``AVX512VNNI``); they are matched against :data:`X86_FLAGS` with underscores removed.
    """
    squashed = {flag.replace("_", ""): flag for flag in X86_FLAGS}
    present: set[str] = set()
    for token in sysctl_text.split():
        key = re.sub(r"[^a-z0-9]", "", token.lower())
        if key == "avx10":  # "AVX1.0"
            key = "avx"
        if key in squashed:
            present.add(squashed[key])
    return [flag for flag in X86_FLAGS if flag in present]
