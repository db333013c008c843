"""``qwen-desktop fit MODEL_ID``: will one model fit this machine (or a saved profile), and how?

Examples::

    qwen-desktop fit qwen3-8b --context 32768
    qwen-desktop fit Qwen/Qwen3-30B-A3B --kv-cache q8_0 --hardware gaming-pc.json --json
    qwen-desktop fit qwen2.5:7b --engine transformers --quant bf16

MODEL_ID is a catalog id, a Hugging Face repository or an Ollama tag. The answer: the verdict
(full GPU, partial GPU with N of M layers, CPU only, won't fit), the memory breakdown and where it
goes, the largest context that fits each way, and the speed (measured on this machine when a run
was recorded, else estimated from memory bandwidth).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from qwen_desktop.cli.recommend import describe_machine, load_machine, machine_summary
from qwen_desktop.core.catalog import Variant, load_catalog
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.fit import (
    ENGINES,
    KV_TYPES,
    FitEstimate,
    context_label,
    default_quant,
    estimate_fit,
    max_context_label,
    normalize_quant,
)
from qwen_desktop.core.fit_engines import QUANT_BYTES_PER_PARAM, TRANSFORMERS_DTYPES
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurements import Measurement, machine_fingerprint
from qwen_desktop.core.units import format_bytes

DEFAULT_CONTEXT_TOKENS = 8192
_WIDTH = 100
_VERDICT_WORDS = {
    "full_gpu": "full GPU",
    "partial_gpu": "partial GPU",
    "cpu_only": "CPU only",
    "wont_fit": "won't fit",
}


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def add_parser(subparsers: Any) -> None:
    """Register the ``fit`` verb on an ``argparse`` sub-parser collection."""
    parser = subparsers.add_parser(
        "fit",
        help="tell whether one model fits this machine, how, and how fast",
        description=(
            "Estimate where one Qwen model runs on this machine (full GPU, partial GPU, CPU only, "
            "won't fit), what memory it needs, the largest context that fits each way, and its "
            "speed."
        ),
    )
    parser.add_argument(
        "model_id",
        metavar="MODEL_ID",
        help="catalog id (qwen3-8b), Hugging Face repository (Qwen/Qwen3-8B) or Ollama tag",
    )
    parser.add_argument(
        "--quant",
        default=None,
        metavar="Q",
        help=f"weights quantization; ollama: {', '.join(QUANT_BYTES_PER_PARAM)} (default "
        f"Q4_K_M); transformers: {', '.join(TRANSFORMERS_DTYPES)} (default bf16)",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="ollama", help="inference engine (default: ollama)"
    )
    parser.add_argument(
        "--context",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"context length in tokens (default: {DEFAULT_CONTEXT_TOKENS}, or the model's "
        "window when smaller)",
    )
    parser.add_argument(
        "--kv-cache",
        choices=KV_TYPES,
        default="f16",
        help="KV cache type (ollama only; default f16)",
    )
    parser.add_argument(
        "--hardware",
        type=Path,
        default=None,
        metavar="PROFILE.json",
        help="evaluate a saved hardware report (from `qwen-desktop scan --json`), not this machine",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``fit``; returns the exit status (0).

    Raises:
        QwenDesktopError: Unknown model (with close matches), an option the engine does not
            offer, an unreadable hardware profile, or a broken catalog.
    """
    variant = load_catalog().resolve(args.model_id)
    try:
        quant = normalize_quant(args.quant or default_quant(args.engine), args.engine)
    except ValueError as exc:
        raise QwenDesktopError(f"{exc}.", "Pick a quantization from `--help`.") from None
    machine = load_machine(args.hardware)
    requested = args.context or DEFAULT_CONTEXT_TOKENS
    context = min(requested, variant.context_tokens)
    measurement = latest_measurement(variant, args.engine, quant, machine)
    try:
        fit = estimate_fit(
            variant,
            machine,
            quant=quant,
            context_tokens=context,
            kv_type=args.kv_cache,
            engine=args.engine,
            measurement=measurement,
        )
    except ValueError as exc:
        raise QwenDesktopError(f"{exc}.", "Change the options (see `--help`).") from None
    if args.json:
        print(json.dumps(to_json(variant, fit, machine, requested), indent=2))
    else:
        sys.stdout.write(render(variant, fit, machine, requested))
    return 0


def latest_measurement(
    variant: Variant, engine: str, quant: str, machine: MachineReport
) -> Measurement | None:
    """The newest recorded run of this model on this machine, if a store exists (never created
    here: ``fit`` only reads)."""
    from qwen_desktop.core.measurement_store import (
        MeasurementStore,
        MeasurementStoreError,
        default_path,
    )

    path = default_path()
    if not path.is_file():
        return None
    try:
        with MeasurementStore(path) as store:
            return store.latest(variant.id, engine, quant, machine_fingerprint(machine))
    except MeasurementStoreError:
        return None


def _devices(fit: FitEstimate) -> list[dict[str, Any]]:
    return [
        {
            "name": use.name,
            "kind": use.kind,
            "bytes": use.bytes,
            "free_bytes": use.free_bytes,
            "usable_bytes": use.usable_bytes,
            "layers": use.layers,
        }
        for use in fit.devices
    ]


def to_json(
    variant: Variant, fit: FitEstimate, machine: MachineReport, requested: int
) -> dict[str, Any]:
    """The ``--json`` document."""
    measured = fit.measurement
    return {
        "model": {
            "id": variant.id,
            "display_name": variant.display_name,
            "hf_repo": variant.hf_repo,
            "ollama_tag": variant.ollama.tag if variant.ollama else None,
            "context_window_tokens": variant.context_tokens,
        },
        "engine": fit.engine,
        "quant": fit.quant,
        "kv_type": fit.kv_type,
        "context_tokens": fit.context_tokens,
        "requested_context_tokens": requested,
        "verdict": fit.verdict.value,
        "comfort": fit.comfort,
        "gpu_layers": fit.gpu_layers,
        "total_layers": fit.total_layers,
        "weights_bytes": fit.weights_bytes,
        "kv_cache_bytes": fit.kv_cache_bytes,
        "total_bytes": fit.total_bytes,
        "breakdown": fit.breakdown.as_dict(),
        "devices": _devices(fit),
        "max_context_tokens": fit.max_context_tokens,
        "tokens_per_second_estimate": fit.tokens_per_second_estimate,
        "speed_source": "measured" if measured else "estimate",
        "measurement": None
        if measured is None
        else {
            "tokens_per_second": measured.tokens_per_second,
            "context_tokens": measured.context_tokens,
            "measured_at": measured.measured_at.isoformat(),
            "ttft_seconds": measured.ttft_seconds,
            "peak_memory_bytes": measured.peak_memory_bytes,
        },
        "options": [
            {
                "kind": option.kind,
                "gpu_layers": option.gpu_layers,
                "cpu_expert_layers": option.cpu_expert_layers,
                "tokens_per_second_estimate": option.tokens_per_second_estimate,
                "max_context_tokens": option.max_context_tokens,
                "comfort": "tight" if option.tight else "comfortable",
                "description": option.description,
            }
            for option in fit.options
        ],
        "reason": fit.reason,
        "machine": machine_summary(machine),
    }


def _limits(fit: FitEstimate) -> str:
    words = {"full_gpu": "GPU", "partial_gpu": "GPU+CPU", "cpu_only": "CPU"}
    return " · ".join(
        f"{words[kind]} up to {max_context_label(tokens)}" if tokens else f"{words[kind]}: no"
        for kind, tokens in fit.max_context_tokens.items()
    )


def render(variant: Variant, fit: FitEstimate, machine: MachineReport, requested: int) -> str:
    """The human output."""

    capped = (
        f" (capped at the model's {context_label(variant.context_tokens)} window)"
        if requested > fit.context_tokens
        else ""
    )
    lines = [
        f"{variant.display_name} ({variant.id}): {fit.quant}, {context_label(fit.context_tokens)} "
        f"context{capped}, KV cache {fit.kv_type}, engine {fit.engine}",
        f"Machine: {describe_machine(machine)}",
        "",
    ]
    verdict = _VERDICT_WORDS[fit.verdict.value]
    if fit.verdict.value == "partial_gpu":
        verdict += f": {fit.gpu_layers} of {fit.total_layers} layers on the GPU"
    if fit.comfort:
        verdict += f" ({fit.comfort})"
    lines.append(f"Verdict:  {verdict}")
    parts = fit.breakdown
    rows = [
        ("weights", parts.weights_bytes),
        ("KV cache", parts.kv_cache_bytes),
        ("compute graph" if fit.engine == "ollama" else "activations", parts.compute_bytes),
        ("vision tower", parts.vision_bytes),
        ("fixed overhead", parts.overhead_bytes),
    ]
    lines.append(f"Memory:   {format_bytes(parts.total_bytes)} in all")
    lines += [f"  {name:<15}{format_bytes(size):>11}" for name, size in rows if size]
    if fit.devices:
        lines.append("Where:")
        for use in fit.devices:
            lines.append(
                f"  {use.name:<28}{format_bytes(use.bytes):>11} of "
                f"{format_bytes(use.free_bytes)} free ({use.layers} layers)"
            )
    if fit.tokens_per_second_estimate is not None:
        source = "measured on this machine, scaled" if fit.measurement else "estimate"
        lines.append(f"Speed:    {fit.tokens_per_second_estimate:.1f} tokens/s ({source})")
    lines.append(f"Largest context: {_limits(fit)}")
    lines.append("")
    lines += textwrap.wrap(fit.reason, width=_WIDTH)
    return "\n".join(lines) + "\n"
