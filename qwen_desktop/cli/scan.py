"""``qwen-desktop scan [--json] [--models-dir PATH]``: what this machine has for running models.

The human report shows each figure with its source in a dim, parenthesised column; ``--json``
prints :meth:`MachineReport.to_json` (the profile other verbs accept with ``--hardware``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from qwen_desktop.core.machine import GpuInfo, MachineReport
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.units import format_bytes

_DIM = "\033[2m"
_BOLD = "\033[1m"
_RESET = "\033[0m"
_MAX_VALUE_WIDTH = 64

Row = tuple[str, str, str]
"""(label, value, source) of one report line."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``scan`` verb (sets ``func`` to :func:`run`)."""
    parser = subparsers.add_parser(
        "scan",
        help="show this machine's CPU, RAM, GPUs and free disk, with where each figure came from",
        description=(
            "Probe this machine's operating system, CPU, RAM, GPUs and the disk holding the "
            "models folder. Nothing is downloaded or benchmarked."
        ),
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (save it to evaluate this machine elsewhere)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        metavar="PATH",
        help="where models are stored, to measure free space (default: the models folder in "
        "use: $QWEN_DESKTOP_MODELS_DIR, the one chosen with `models folder`, or the Hugging "
        "Face cache)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Probe the machine and print the report; returns the exit status (0)."""
    from qwen_desktop.hardware.probe import probe_machine
    from qwen_desktop.library.service import hub_cache_dir

    models_dir: Path = args.models_dir or hub_cache_dir(AppPaths.default().config_dir)
    report = probe_machine(models_dir)
    if args.json:
        print(report.to_json())
    else:
        print(render_report(report, color=_use_color()), end="")
    return 0


def _use_color() -> bool:
    """ANSI styling only on a terminal, and never with ``NO_COLOR`` (no-color.org) or dumb TERM."""
    return (
        sys.stdout is not None
        and sys.stdout.isatty()
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
    )


def _sources(sources: dict[str, str], fields: Iterable[str]) -> str:
    """The distinct sources of ``fields``, in order, joined by "; "."""
    found: list[str] = []
    for field in fields:
        source = sources.get(field)
        if source and source not in found:
            found.append(source)
    return "; ".join(found)


def _gpu_row(gpu: GpuInfo) -> Row:
    details = [
        f"{format_bytes(gpu.vram_total_bytes)} VRAM, {format_bytes(gpu.vram_free_bytes)} free"
    ]
    if gpu.unified_memory:
        details.append("shares system RAM")
    if gpu.compute_capability:
        details.append(f"compute {gpu.compute_capability}")
    if gpu.driver_version:
        details.append(f"driver {gpu.driver_version}")
    return f"GPU {gpu.index}", f"{gpu.name}: {', '.join(details)}", gpu.source


def report_rows(report: MachineReport) -> list[Row]:
    """The lines of the human report as (label, value, source) rows."""
    system, cpu, memory, disk = report.os, report.cpu, report.memory, report.disk
    os_parts = [system.description, f"{system.system} {system.release}".strip(), system.machine]
    cores = f"{cpu.physical_cores} physical, {cpu.logical_cores} logical"
    if cpu.usable_cores is not None:
        cores += f", {cpu.usable_cores} usable"
    rows: list[Row] = [
        ("System", ", ".join(p for p in os_parts if p), _sources(system.sources, ["description"])),
        ("CPU", cpu.model, _sources(cpu.sources, ["model"])),
        (
            "Cores",
            cores,
            _sources(cpu.sources, ["physical_cores", "logical_cores", "usable_cores"]),
        ),
        ("ISA flags", " ".join(cpu.flags) or "none found", _sources(cpu.sources, ["flags"])),
        (
            "RAM",
            f"{format_bytes(memory.total_bytes)} total, "
            f"{format_bytes(memory.available_bytes)} available",
            _sources(memory.sources, ["total_bytes", "available_bytes"]),
        ),
    ]
    if memory.limit_bytes is not None:
        rows.append(
            ("RAM limit", format_bytes(memory.limit_bytes), memory.sources.get("limit_bytes", ""))
        )
    swap = (
        f"{format_bytes(memory.swap_total_bytes)} total, {format_bytes(memory.swap_free_bytes)} "
        "free"
        if memory.swap_total_bytes
        else "none"
    )
    rows.append(("Swap", swap, _sources(memory.sources, ["swap_total_bytes"])))
    rows += [_gpu_row(gpu) for gpu in report.gpus]
    if not report.gpus:
        no_gpu = next(
            (n.message for n in report.notes if n.component == "gpu" and n.state == "none"),
            "No GPU found: models will run on the CPU.",
        )
        rows.append(("GPU", no_gpu, ""))
    rows.append(
        (
            "Disk",
            f"{format_bytes(disk.free_bytes)} free of {format_bytes(disk.total_bytes)} "
            f"at {disk.path}",
            _sources(disk.sources, ["free_bytes"]),
        )
    )
    return rows


def render_report(report: MachineReport, *, color: bool = False) -> str:
    """The human-readable scan report.

    Args:
        report: The machine report.
        color: Dim the sources column and bold the labels with ANSI codes.

    Returns:
        Lines ``label  value  (source)`` aligned in columns, then the notes (the "no GPU" note
        is already the GPU line and is not repeated); ends with a newline.
    """
    dim, bold, reset = (_DIM, _BOLD, _RESET) if color else ("", "", "")
    rows = report_rows(report)
    label_width = max(len(label) for label, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), _MAX_VALUE_WIDTH)
    lines = []
    for label, value, source in rows:
        line = f"{bold}{label:<{label_width}}{reset}  {value:<{value_width}}"
        if source:
            line += f"  {dim}({source}){reset}"
        lines.append(line.rstrip())
    notes = [n for n in report.notes if not (n.component == "gpu" and n.state == "none")]
    if notes:
        lines += ["", f"{bold}Notes{reset}"]
        lines += [f"  - {n.message} {dim}[{n.component}: {n.state}]{reset}" for n in notes]
    return "\n".join(lines) + "\n"
