"""``qwen-desktop health [--json]``: is the engine alive, is a model loaded, are answers as fast
as estimated.

Checks an Ollama on the default address (``OLLAMA_HOST`` or 127.0.0.1:11434) and its loaded
models (``/api/ps``: a model partly outside VRAM is explained as "N of M layers on the CPU"),
and the newest measured answer (time to first token, tokens/s) against the fit estimate for that
model here. Exit status 0 when no check failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

_MARKS = {"ok": "ok", "warning": "!!", "failed": "FAIL", "unknown": "?"}


def add_parser(subparsers: Any) -> None:
    """Register the ``health`` verb."""
    parser = subparsers.add_parser(
        "health",
        help="check the engine, the loaded model, and the last answer's speed",
        description="Check that the engine answers, which models it holds, and how the last "
        "answer's time to first token and tokens/s compare with the estimate.",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the health report; 0 when no check failed, else 1."""
    from qwen_desktop.core.measurement_store import default_path
    from qwen_desktop.core.paths import AppPaths
    from qwen_desktop.hardware.live_gpu import LiveGpus
    from qwen_desktop.monitor.health import probe_health

    reader = LiveGpus()
    gpu_present = reader.available
    reader.close()
    report = asyncio.run(
        probe_health(default_path(), AppPaths.default().models_dir, gpu_present=gpu_present)
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for check in report.checks:
            print(f"{_MARKS[check.state]:>4}  {check.name:<7} {check.detail}")
        for item in report.explanations:
            print(f"\n{item.message}\n  → {item.action}")
    return 0 if report.ok else 1
