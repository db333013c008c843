"""``qwen-desktop engine status [--json] [--url URL]``: which inference engines can run here, and
the default; ``qwen-desktop engine key set|delete --url URL``: a remote server's API key.

Reports the Ollama binary (where it was found, its version), an Ollama already running on the
default address (case C8), whether torch and transformers are installed, and the default engine
with the reason; with ``--url``, what a remote server answers (an OpenAI-compatible API and the
models it serves, or a remote Ollama) and where its API key comes from. Nothing is started or
downloaded. Keys go to the OS keyring (:mod:`qwen_desktop.engines.secrets`), never to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
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
    status.add_argument(
        "--url",
        default=None,
        metavar="URL",
        help="Also probe a remote server: an OpenAI-compatible API root (http://HOST:8000/v1) "
        "or a remote Ollama (http://HOST:11434).",
    )
    status.set_defaults(func=run)
    key = actions.add_parser(
        "key",
        help="store or forget a remote server's API key (in the OS keyring)",
        description="Store or forget the API key of an OpenAI-compatible server. The key is "
        "read from standard input (or prompted for without echo) and kept in the OS keyring.",
    )
    key.add_argument("key_action", choices=("set", "delete"), metavar="set|delete")
    key.add_argument("--url", required=True, metavar="URL", help="The server's API root.")
    key.set_defaults(func=run_key)


def run(args: argparse.Namespace) -> int:
    """Print the engine status; 0 when some engine can run (and a --url server answered), else 1."""
    from qwen_desktop.engines.engine_choice import engine_status

    status = asyncio.run(engine_status(args.ollama, remote_url=args.url))
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(render_status(status))
    if status.remote is not None and status.remote.kind in ("unreachable", "error"):
        return 1
    return 0 if status.choice.engine is not None else 1


def run_key(args: argparse.Namespace) -> int:
    """Store (``set``) or forget (``delete``) the API key for ``--url``; 0 on success."""
    from qwen_desktop.core.errors import QwenDesktopError
    from qwen_desktop.engines.secrets import ApiKeyStore

    store = ApiKeyStore()
    if args.key_action == "delete":
        if store.delete(args.url):
            print(f"Forgot the API key for {args.url}.")
        else:
            print(f"No API key was stored for {args.url}.")
        return 0
    if sys.stdin.isatty():
        value = getpass.getpass(f"API key for {args.url}: ")
    else:
        value = sys.stdin.readline()
    if not value.strip():
        raise QwenDesktopError(
            "No API key was given.",
            "Type it at the prompt, or pipe it: echo KEY | qwen-desktop engine key set --url URL",
        )
    store.set(args.url, value)
    print(f"Stored the API key for {args.url} in the {store.describe()}.")
    return 0


def render_status(status: Any) -> str:
    """The human report of an :class:`~qwen_desktop.engines.engine_choice.EngineStatus`."""
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
    if status.remote is not None:
        lines += ["", *_render_remote(status.remote)]
    return "\n".join(lines)


def _render_remote(remote: Any) -> list[str]:
    lines = [f"Remote server {remote.url}"]
    if remote.kind == "openai":
        lines.append("  API:           OpenAI-compatible (use --engine openai)")
    elif remote.kind == "ollama":
        lines.append("  API:           Ollama (use --engine ollama)")
    else:
        lines.append(f"  state:         {remote.kind}: {remote.error}")
    if remote.kind in ("openai", "ollama"):
        shown = []
        for model in remote.models:
            window = remote.context_tokens.get(model)
            shown.append(f"{model} ({window:,} tokens)" if window else model)
        lines.append(f"  models:        {', '.join(shown) if shown else 'none listed'}")
    lines.append(f"  API key:       {remote.key_source}")
    lines.append(f"  keyring:       {remote.keyring}")
    return lines
