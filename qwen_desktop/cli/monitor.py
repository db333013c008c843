"""``qwen-desktop monitor [--samples N] [--interval S] [--json]``: live resource readings.

Prints one line per sample: CPU, RAM, swap traffic, disk throughput, this process's memory and
every GPU NVML can read (utilisation, VRAM, temperature, power). ``--json`` prints JSON lines
(one object per sample: :meth:`~qwen_desktop.core.samples.Sample.to_json` plus the explanations
that apply, e.g. ``swapping`` or ``vram_full``). Without ``--samples`` it runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from qwen_desktop.core.samples import Sample
from qwen_desktop.core.units import format_bytes


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--samples must be at least 1 (got {value})")
    return value


def _interval(text: str) -> float:
    from qwen_desktop.monitor.sampler import check_interval

    try:
        return check_interval(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any) -> None:
    """Register the ``monitor`` verb."""
    parser = subparsers.add_parser(
        "monitor",
        help="print live CPU, RAM, swap, disk and GPU readings (JSON lines with --json)",
        description="Sample this machine's resources at an interval and print each sample. "
        "Runs until Ctrl-C unless --samples is given.",
    )
    parser.add_argument(
        "--samples", type=_count, default=None, metavar="N", help="stop after N samples"
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        default=1.0,
        metavar="S",
        help="seconds between samples (0.1-3600; default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Sample and print until ``--samples`` are printed (or Ctrl-C); returns 0."""
    from qwen_desktop.core.explanations import explain
    from qwen_desktop.monitor.sampler import ResourceSampler, SampleHistory

    sampler = ResourceSampler(interval_s=args.interval)
    history = SampleHistory()
    if not args.json and sampler.gpu_note:
        print(f"note: {sampler.gpu_note}", file=sys.stderr)
    printed = 0
    try:
        while args.samples is None or printed < args.samples:
            time.sleep(args.interval)  # CPU use is measured over the interval before a sample
            sample = sampler.sample()
            history.add(sample)
            explanations = explain(history.window(60.0))
            if args.json:
                line = sample.to_json()
                line["explanations"] = [item.to_json() for item in explanations]
                print(json.dumps(line), flush=True)
            else:
                print(render_sample(sample), flush=True)
                for item in explanations:
                    print(f"  ! {item.message} {item.action}", flush=True)
            printed += 1
    finally:
        sampler.close()
    return 0


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{format_bytes(value)}/s"


def render_sample(sample: Sample) -> str:
    """One human line: ``CPU 12 % · RAM 7.1 of 31.2 GiB (23.9 GiB free) · swap … · GPU0 …``."""
    parts = [
        f"CPU {sample.cpu_percent:5.1f} %",
        f"RAM {format_bytes(sample.memory_used_bytes)} of "
        f"{format_bytes(sample.memory_total_bytes)} "
        f"({format_bytes(sample.memory_available_bytes)} available)",
        f"swap in {_rate(sample.swap_in_bytes_per_s)} out {_rate(sample.swap_out_bytes_per_s)}",
        f"disk read {_rate(sample.disk_read_bytes_per_s)} "
        f"write {_rate(sample.disk_write_bytes_per_s)}",
    ]
    for gpu in sample.gpus:
        figures = [f"GPU{gpu.index}"]
        if gpu.util_percent is not None:
            figures.append(f"{gpu.util_percent:.0f} %")
        if gpu.vram_used_bytes is not None and gpu.vram_total_bytes is not None:
            figures.append(
                f"VRAM {format_bytes(gpu.vram_used_bytes)} of {format_bytes(gpu.vram_total_bytes)}"
            )
        if gpu.temperature_c is not None:
            figures.append(f"{gpu.temperature_c:.0f} °C")
        if gpu.power_watts is not None:
            figures.append(f"{gpu.power_watts:.0f} W")
        parts.append(" ".join(figures))
    return " · ".join(parts)
