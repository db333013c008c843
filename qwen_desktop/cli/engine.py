"""``qwen-desktop engine status [--json]``: which inference engines can run here, and the default.

Reports the Ollama binary (where it was found, its version), an Ollama already running on the
default address (case C8), whether torch and transformers are installed, and the default engine
with the reason. Nothing is started or downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register the ``engine`` verb."""
    parser = subparsers.add_parser(
        "engine",
        help="show which inference engines can run here, and the default one",
        description="Inspect the inference engines: the embedded Ollama and Transformers.",
    )
    actions = parser.add_subparsers(dest="engine_action", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status",
        help="Ollama binary and version, a running Ollama, torch/transformers, the default",
        description="Report the Ollama binary (where, version), an Ollama already running on "
        "the default address, torch/transformers availability, and the default engine.",
    )
    status.add_argument("--json", action="store_true", help="Print one JSON object.")
    status.add_argument(
        "--ollama",
        type=Path,
        default=None,
        metavar="PATH",
        help="An ollama executable to use instead of searching for one.",
    )
    status.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the engine status; 0 when some engine can run, 1 when none can."""
    from qwen_desktop.backends.engine_choice import engine_status

    status = asyncio.run(engine_status(args.ollama))
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(render_status(status))
    return 0 if status.choice.engine is not None else 1


def render_status(status: Any) -> str:
    """The human report of an :class:`~qwen_desktop.backends.engine_choice.EngineStatus`."""
    binary = status.ollama_binary
    lines = ["Ollama"]
    if binary is None:
        lines.append("  binary:        not found (bundled, $QWEN_DESKTOP_OLLAMA, PATH)")
    else:
        lines.append(f"  binary:        {binary.path} ({binary.source})")
        lines.append(f"  version:       {status.ollama_version or 'unknown (--version failed)'}")
    running = status.running
    lines.append(f"  running:       {running.offer}")
    lines.append("Transformers")
    lines.append(f"  torch:         {'installed' if status.torch_available else 'not installed'}")
    lines.append(
        f"  transformers:  {'installed' if status.transformers_available else 'not installed'}"
    )
    choice = status.choice
    lines.append("")
    if choice.engine is None:
        lines.append(f"Default engine: none ({choice.reason}).")
        lines.append(choice.guide)
    else:
        where = f" at {choice.url}" if choice.url else ""
        lines.append(f"Default engine: {choice.engine}{where} ({choice.reason}).")
    return "\n".join(lines)
