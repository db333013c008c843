"""``qwen-desktop recommend``: which Qwen models suit this machine (or a saved profile), ranked.

Examples::

    qwen-desktop recommend
    qwen-desktop recommend --task code --context 32768
    qwen-desktop recommend --hardware laptop.json --json
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from qwen_desktop.core.catalog import TASKS, load_catalog
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.fit import (
    ENGINES,
    KV_TYPES,
    QUANT_BYTES_PER_PARAM,
    TRANSFORMERS_DTYPES,
    FitVerdict,
    available_ram_bytes,
    context_label,
    default_quant,
    normalize_quant,
)
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurements import Measurement, machine_fingerprint
from qwen_desktop.core.recommend import DEFAULT_CONTEXT_TOKENS, Recommendation, recommend
from qwen_desktop.core.units import format_bytes

VERDICT_BADGES: dict[FitVerdict, str] = {
    FitVerdict.FULL_GPU: "GPU",
    FitVerdict.PARTIAL_GPU: "GPU+CPU",
    FitVerdict.CPU_ONLY: "CPU",
    FitVerdict.WONT_FIT: "won't fit",
}
"""Short labels of the verdicts in the human table."""

_REASON_WIDTH = 100


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


_ALL_QUANTS = (*QUANT_BYTES_PER_PARAM, *TRANSFORMERS_DTYPES)


def _quant(text: str) -> str:
    """A quantization some engine offers (checked against ``--engine`` in :func:`run`)."""
    for engine in ENGINES:
        try:
            return normalize_quant(text, engine)
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(
        f"unknown quantization {text!r} (choose from {', '.join(_ALL_QUANTS)})"
    )


def add_parser(subparsers: Any) -> None:
    """Register the ``recommend`` verb on an ``argparse`` sub-parser collection."""
    parser = subparsers.add_parser(
        "recommend",
        help="rank the Qwen models that fit this machine",
        description=(
            "Rank the catalog's Qwen models for a task by how well they fit this machine "
            "(full GPU, partial GPU, CPU only, won't fit) and by estimated speed and size."
        ),
    )
    parser.add_argument(
        "--task", choices=TASKS, default="chat", help="what the model is for (default: chat)"
    )
    parser.add_argument(
        "--context",
        type=_positive_int,
        default=DEFAULT_CONTEXT_TOKENS,
        metavar="N",
        help=f"context length to plan for, in tokens (default: {DEFAULT_CONTEXT_TOKENS})",
    )
    parser.add_argument(
        "--quant",
        type=_quant,
        default=None,
        metavar="Q",
        help=f"weights quantization; ollama: {', '.join(QUANT_BYTES_PER_PARAM)} (default "
        f"Q4_K_M); transformers: {', '.join(TRANSFORMERS_DTYPES)} (default bf16)",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="ollama", help="inference engine (default: ollama)"
    )
    parser.add_argument(
        "--kv-cache", choices=KV_TYPES, default="f16", help="KV cache type (default f16)"
    )
    parser.add_argument(
        "--commercial", action="store_true", help="only models whose licence allows commercial use"
    )
    parser.add_argument(
        "--limit", type=_positive_int, default=None, metavar="N", help="show at most N models"
    )
    parser.add_argument(
        "--hardware",
        type=Path,
        default=None,
        metavar="PROFILE.json",
        help="evaluate a saved hardware report (from `qwen-desktop scan --json`), not this machine",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``recommend``; returns the exit status (0).

    Raises:
        QwenDesktopError: The hardware profile cannot be read, or the catalog is broken.
    """
    try:
        args.quant = normalize_quant(args.quant or default_quant(args.engine), args.engine)
    except ValueError as exc:
        raise QwenDesktopError(f"{exc}.", "Pick a quantization from `--help`.") from None
    machine = load_machine(args.hardware)
    catalog = load_catalog()
    try:
        recommendations = recommend(
            catalog,
            machine,
            args.task,
            quant=args.quant,
            context_tokens=args.context,
            commercial_only=args.commercial,
            limit=args.limit,
            engine=args.engine,
            kv_type=args.kv_cache,
            measurements=_measurements(args.engine, args.quant, machine),
        )
    except ValueError as exc:
        raise QwenDesktopError(f"{exc}.", "Change the options (see `--help`).") from None
    if args.json:
        print(json.dumps(to_json(args, machine, recommendations), indent=2))
    else:
        sys.stdout.write(render_table(args, machine, recommendations))
    return 0


def _measurements(engine: str, quant: str, machine: MachineReport) -> dict[str, Measurement]:
    """Recorded runs on this machine, if a measurement store exists (never created here)."""
    from qwen_desktop.core.measurement_store import (
        MeasurementStore,
        MeasurementStoreError,
        default_path,
    )

    if not default_path().is_file():
        return {}
    try:
        with MeasurementStore(default_path()) as store:
            return store.latest_by_model(engine, quant, machine_fingerprint(machine))
    except MeasurementStoreError:
        return {}


def load_machine(profile: Path | None) -> MachineReport:
    """The saved hardware report at ``profile``, or a probe of this machine when ``None``.

    Raises:
        QwenDesktopError: The profile cannot be read or is not a hardware report.
    """
    if profile is not None:
        return MachineReport.from_file(profile)
    from qwen_desktop.core.paths import AppPaths
    from qwen_desktop.hardware.probe import probe_machine

    return probe_machine(AppPaths.default().models_dir)


def machine_summary(machine: MachineReport) -> dict[str, Any]:
    """The few machine figures the recommendation depends on (for ``--json``)."""
    return {
        "cpu": machine.cpu.model,
        "logical_cores": machine.cpu.logical_cores,
        "ram_total_bytes": machine.memory.usable_total_bytes,
        "ram_available_bytes": available_ram_bytes(machine),
        "gpus": [
            {
                "name": gpu.name,
                "vendor": gpu.vendor,
                "vram_total_bytes": gpu.vram_total_bytes,
                "vram_free_bytes": gpu.vram_free_bytes,
                "unified_memory": gpu.unified_memory,
            }
            for gpu in machine.gpus
        ],
    }


def to_json(
    args: argparse.Namespace, machine: MachineReport, recommendations: list[Recommendation]
) -> dict[str, Any]:
    """The ``--json`` document."""
    return {
        "task": args.task,
        "context_tokens": args.context,
        "quant": args.quant,
        "engine": args.engine,
        "kv_type": args.kv_cache,
        "machine": machine_summary(machine),
        "recommendations": [
            {
                "rank": rec.rank,
                "id": rec.variant.id,
                "display_name": rec.variant.display_name,
                "hf_repo": rec.variant.hf_repo,
                "ollama_tag": rec.variant.ollama.tag if rec.variant.ollama else None,
                "verdict": rec.fit.verdict.value,
                "comfort": rec.fit.comfort,
                "reason": rec.reason,
                "context_tokens": rec.fit.context_tokens,
                "weights_bytes": rec.fit.weights_bytes,
                "kv_cache_bytes": rec.fit.kv_cache_bytes,
                "total_bytes": rec.fit.total_bytes,
                "gpu_layers": rec.fit.gpu_layers,
                "total_layers": rec.fit.total_layers,
                "tokens_per_second_estimate": rec.fit.tokens_per_second_estimate,
                "speed_source": "measured" if rec.fit.measurement else "estimate",
                "max_context_tokens": rec.fit.max_context_tokens,
                "thinking_kind": rec.variant.thinking_kind.value,
                "license": rec.variant.license,
                "commercial_use": rec.variant.commercial_use,
            }
            for rec in recommendations
        ],
    }


def describe_machine(machine: MachineReport) -> str:
    """CPU threads, RAM, GPUs in one line."""
    ram = (
        f"{format_bytes(machine.memory.usable_total_bytes)} RAM "
        f"({format_bytes(available_ram_bytes(machine))} free)"
    )
    parts = [f"{machine.cpu.logical_cores} CPU threads", ram]
    for gpu in machine.gpus:
        if gpu.unified_memory:
            parts.append(f"{gpu.name} (shares RAM)")
        else:
            parts.append(
                f"{gpu.name} ({format_bytes(gpu.vram_total_bytes)} VRAM, "
                f"{format_bytes(gpu.vram_free_bytes)} free)"
            )
    if not machine.gpus:
        parts.append("no GPU")
    return ", ".join(parts)


def _size(rec: Recommendation) -> str:
    variant = rec.variant
    text = f"{variant.parameters / 1e9:.1f}B"
    if variant.active_parameters is not None:
        text += f" (A{variant.active_parameters / 1e9:.1f}B)"
    return text


def _speed(rec: Recommendation) -> str:
    speed = rec.fit.tokens_per_second_estimate
    if speed is None:
        return "-"
    return f"~{speed:.1f} tok/s" if speed < 1 else f"~{round(speed)} tok/s"


def render_table(
    args: argparse.Namespace, machine: MachineReport, recommendations: list[Recommendation]
) -> str:
    """The human output: a header, then one row per model with its reason underneath."""
    lines = [
        f"Qwen models for {args.task} ({context_label(args.context)} context, {args.quant}) "
        f"on: {describe_machine(machine)}",
        "",
    ]
    if not recommendations:
        lines.append("No catalog model matches these filters.")
        return "\n".join(lines) + "\n"
    header = ("#", "Model", "Size", "Fit", "Needs", "Speed")

    def badge(rec: Recommendation) -> str:
        text = VERDICT_BADGES[rec.fit.verdict]
        return f"{text} (tight)" if rec.fit.tight else text

    rows = [
        (
            str(rec.rank),
            rec.variant.display_name,
            _size(rec),
            badge(rec),
            format_bytes(rec.fit.total_bytes),
            _speed(rec),
        )
        for rec in recommendations
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        padded = [
            cell.rjust(width) if i in (0, 4, 5) else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    indent = " " * (widths[0] + 2)
    lines.append(line(header))
    for rec, row in zip(recommendations, rows, strict=True):
        lines.append(line(row))
        tag = f"[{rec.variant.ollama.tag}] " if rec.variant.ollama else f"[{rec.variant.hf_repo}] "
        lines.extend(
            textwrap.wrap(
                tag + rec.reason,
                width=_REASON_WIDTH,
                initial_indent=indent,
                subsequent_indent=indent,
            )
        )
    lines += ["", "Speeds are rough estimates from memory bandwidth; real runs will differ."]
    return "\n".join(lines) + "\n"
