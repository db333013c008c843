"""The Apple Silicon GPU probe: unified memory and the share of it the GPU may use.

On Apple Silicon the CPU and GPU share one pool of RAM. Metal reports how much the GPU may keep
resident as ``MTLDevice.recommendedMaxWorkingSetSize``; reading it needs Metal (pyobjc), which
is not a dependency, so it is approximated by the default that macOS applies, as observed in the
values Metal reports (llama.cpp's ``ggml_metal_init`` logs them on every start): about **2/3 of
RAM on Macs with up to 36 GiB, about 3/4 above** (e.g. 16 GiB → 10.67 GiB, 64 GiB → 48 GiB).
This is an observation, not an Apple specification. Users can raise the limit with
``sudo sysctl iogpu.wired_limit_mb=N`` (macOS 14+; ``debug.iogpu.wired_limit`` in bytes on
macOS 13); a value above 0 replaces the default.

Sources: chip name ``sysctl -n machdep.cpu.brand_string`` (``Apple M2 Pro``) and
``system_profiler SPDisplaysDataType -json`` (``sppci_model``, ``sppci_cores`` = GPU cores);
RAM from psutil (``sysctl hw.memsize``). Commands go through an injectable runner, so tests
use recorded outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from qwen_desktop.core.machine import GpuInfo, ProbeNote
from qwen_desktop.core.units import format_bytes
from qwen_desktop.hardware.gpus import parse_int, system_ram
from qwen_desktop.hardware.notes import run_command

Runner = Callable[[list[str]], str | None]

MIB = 1024**2
GIB = 1024**3

SMALL_MAC_RAM_BYTES = 36 * GIB
"""Up to this much RAM, Metal's default working set is about 2/3 of RAM; above, about 3/4."""

SMALL_MAC_SHARE = Fraction(2, 3)
LARGE_MAC_SHARE = Fraction(3, 4)

DEFAULT_SOURCE = (
    "Metal default working set, estimated: 2/3 of RAM up to 36 GiB, 3/4 above "
    "(observed recommendedMaxWorkingSetSize values)"
)


def _note(state: str, message: str) -> ProbeNote:
    return ProbeNote(component="apple", state=state, message=message)


def default_working_set_bytes(ram_total: int) -> int:
    """Metal's default ``recommendedMaxWorkingSetSize`` estimate for a Mac with ``ram_total``
    bytes of RAM (see the module docstring for the source of the 2/3 and 3/4 shares)."""
    share = SMALL_MAC_SHARE if ram_total <= SMALL_MAC_RAM_BYTES else LARGE_MAC_SHARE
    return int(ram_total * share)


def wired_limit_bytes(runner: Runner) -> tuple[int, str] | None:
    """A user-set GPU wired-memory limit, in bytes, and its sysctl; None when unset (0)."""
    text = runner(["sysctl", "-n", "iogpu.wired_limit_mb"])
    value = parse_int(text) if text else None
    if value:
        return value * MIB, "sysctl iogpu.wired_limit_mb"
    text = runner(["sysctl", "-n", "debug.iogpu.wired_limit"])
    value = parse_int(text) if text else None
    if value:
        return value, "sysctl debug.iogpu.wired_limit"
    return None


def parse_displays(text: str) -> tuple[str | None, int | None]:
    """(GPU name, GPU core count) of the built-in GPU in ``system_profiler SPDisplaysDataType
    -json`` output; (None, None) when the text holds no Apple GPU."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None, None
    entries = data.get("SPDisplaysDataType") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        model = str(entry.get("sppci_model") or entry.get("_name") or "").strip()
        if model.startswith("Apple"):
            return model, parse_int(entry.get("sppci_cores"))
    return None, None


def probe_apple(
    *, runner: Runner = run_command, ram: tuple[int, int] | None = None
) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """The Apple Silicon GPU and the unified memory it may use. Never raises.

    Args:
        runner: Runs ``sysctl``/``system_profiler``, returns stdout or None (tests: recordings).
        ram: ``(total, available)`` RAM in bytes; None reads it with psutil.

    Returns:
        ``(gpus, notes)``: one GPU (``vendor="apple"``, ``unified_memory=True``,
        ``vram_total_bytes`` = the working-set estimate or the wired limit, capped at RAM;
        ``vram_free_bytes`` = that, capped at available RAM) and a note explaining the share;
        on an Intel Mac no GPU and a note.
    """
    brand = (runner(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
    if not brand.startswith("Apple"):
        arm64 = (runner(["sysctl", "-n", "hw.optional.arm64"]) or "").strip() == "1"
        if not arm64:
            return [], [
                _note(
                    "intel_mac",
                    "This Mac has an Intel CPU: the bundled engine runs models on the CPU "
                    "(Metal acceleration needs Apple Silicon).",
                )
            ]
    figures = ram if ram is not None else system_ram()
    if figures is None:
        return [], [_note("unknown", "The unified memory size could not be read.")]
    ram_total, ram_available = figures
    name, cores = parse_displays(runner(["system_profiler", "SPDisplaysDataType", "-json"]) or "{}")
    name = name or brand or "Apple Silicon GPU"
    sources = {
        "name": "system_profiler SPDisplaysDataType" if cores else "sysctl machdep.cpu.brand_string"
    }
    if cores:
        sources["core_count"] = "system_profiler SPDisplaysDataType sppci_cores"
    limit = wired_limit_bytes(runner)
    if limit is not None:
        total, source = min(limit[0], ram_total), limit[1]
        how = f"raised with {source} to {format_bytes(limit[0])}"
    else:
        total, source = default_working_set_bytes(ram_total), DEFAULT_SOURCE
        how = "Metal's default share, estimated; raise it with `sudo sysctl iogpu.wired_limit_mb=N`"
    sources["vram_total_bytes"] = f"{source}; RAM from sysctl hw.memsize (psutil)"
    sources["vram_free_bytes"] = "the GPU share, capped at available RAM"
    gpu = GpuInfo(
        vendor="apple",
        name=name,
        vram_total_bytes=total,
        vram_free_bytes=min(total, ram_available),
        source="Metal (estimated)" if limit is None else source,
        unified_memory=True,
        core_count=cores,
        sources=sources,
    )
    note = _note(
        "shared_memory",
        f"{name} shares {format_bytes(ram_total)} of unified memory with the system; the GPU may "
        f"use up to {format_bytes(total)} of it ({how}). It is a share of RAM, never added to it.",
    )
    return [gpu], [note]
