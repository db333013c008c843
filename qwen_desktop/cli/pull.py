"""``qwen-desktop pull MODEL_ID [--format safetensors|gguf] [--quant Q] [--engine ollama]``.

MODEL_ID is a catalog id (``qwen3-8b``), a repository of the catalog (``Qwen/Qwen3-8B``) or an
Ollama tag of the catalog (``qwen3:8b``), or any ``owner/name`` Hugging Face repository. The files
go to the Hugging Face cache (``QWEN_DESKTOP_MODELS_DIR`` when set), verified, resumable: run the
same command again after an interruption and it continues from the bytes on disk.

With ``--engine ollama`` the catalog's Ollama tag is pulled into a running Ollama (``--ollama
URL``, else ``$OLLAMA_HOST``, else 127.0.0.1:11434) with the same progress lines.

Progress goes to stderr (one line a second; redrawn in place on a terminal); the model folder is
printed on stdout at the end (``--json``: one object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

PROGRESS_INTERVAL_S = 1.0


def add_parser(subparsers: Any) -> None:
    """Register the ``pull`` verb."""
    parser = subparsers.add_parser(
        "pull",
        help="download a model (resumable, verified) from Hugging Face",
        description="Download a catalog model, or any Hugging Face repository, into the Hugging "
        "Face cache. Interrupted downloads resume from the bytes on disk.",
    )
    parser.add_argument("model", metavar="MODEL_ID", help="catalog id, repository or Ollama tag")
    parser.add_argument(
        "--format",
        choices=("safetensors", "gguf"),
        default="safetensors",
        help="safetensors checkpoint (Transformers engine) or one GGUF file (default: %(default)s)",
    )
    parser.add_argument(
        "--quant", metavar="Q", default=None, help="GGUF quantization, e.g. Q4_K_M (the default)"
    )
    parser.add_argument("--revision", default="main", help="branch or commit (default: main)")
    parser.add_argument(
        "--engine",
        choices=("huggingface", "ollama"),
        default="huggingface",
        help="fetch from Hugging Face (default) or pull the catalog's Ollama tag into an Ollama",
    )
    parser.add_argument(
        "--ollama",
        metavar="URL",
        default=None,
        help="the Ollama server for --engine ollama (default: $OLLAMA_HOST or 127.0.0.1:11434)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan, check the disk, download; 0 when installed."""
    from qwen_desktop.core.catalog import load_catalog
    from qwen_desktop.core.units import format_decimal_bytes
    from qwen_desktop.downloads.hf_cache import clean_stale_partials
    from qwen_desktop.downloads.hf_download import HfDownloader, describe_progress
    from qwen_desktop.downloads.hf_plan import (
        OfflineError,
        check_free_space,
        installed_snapshot,
        plan_download,
    )
    from qwen_desktop.downloads.service import resolve_request
    from qwen_desktop.library.service import hub_cache_dir

    if args.quant and args.format != "gguf":
        print("error: --quant applies to --format gguf only", file=sys.stderr)
        return 2
    if args.engine == "ollama":
        return _run_ollama(args)
    cache = hub_cache_dir()
    model_id, repo_id = resolve_request(load_catalog(), args.model, args.format)
    try:
        plan = plan_download(
            model_id, repo_id, args.format, args.quant, cache_dir=cache, revision=args.revision
        )
    except OfflineError:
        snapshot = installed_snapshot(cache, repo_id, args.revision)
        if snapshot is None:
            raise
        _finish(args, model_id, repo_id, str(snapshot), 0, already=True)
        return 0
    clean_stale_partials(cache)
    missing = check_free_space(plan)
    print(
        f"{model_id}: {repo_id}@{plan.commit[:12]}, {len(plan.files)} files, "
        f"{format_decimal_bytes(plan.total_bytes)} ({format_decimal_bytes(missing)} to fetch) "
        f"→ {plan.snapshot_dir}",
        file=sys.stderr,
    )
    tty = sys.stderr.isatty()

    def show(progress: Any) -> None:
        line = describe_progress(progress)
        print(("\r" + line.ljust(78)) if tty else line, end="" if tty else "\n", file=sys.stderr)

    downloader = HfDownloader(plan, on_progress=show, progress_interval_s=PROGRESS_INTERVAL_S)
    started = time.monotonic()
    try:
        snapshot = asyncio.run(downloader.run())
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the bytes on disk are kept; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    if tty:
        print(file=sys.stderr)
    _finish(args, model_id, repo_id, str(snapshot), downloader.bytes_fetched, started=started)
    return 0


def _ollama_tag(name: str) -> tuple[str, str]:
    """``(model_id, tag)``: the catalog's Ollama tag for ``name``, or ``name`` itself when it is
    a tag (``name:size``) outside the catalog."""
    from qwen_desktop.core.catalog import load_catalog
    from qwen_desktop.core.errors import CatalogError
    from qwen_desktop.downloads.hf_plan import DownloadError

    try:
        variant = load_catalog().resolve(name)
    except CatalogError:
        if ":" in name and "/" not in name:
            return name, name
        raise
    if variant.ollama is None:
        raise DownloadError(
            f"{variant.display_name} has no Ollama tag in the catalog.",
            "Download it from Hugging Face instead (leave out --engine ollama).",
        )
    return variant.id, variant.ollama.tag


def _run_ollama(args: argparse.Namespace) -> int:
    import os

    from qwen_desktop.downloads.hf_download import describe_progress
    from qwen_desktop.downloads.ollama_pull import pull_ollama_model

    model_id, tag = _ollama_tag(args.model)
    url = args.ollama or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
    if "://" not in url:
        url = "http://" + url
    print(f"{model_id}: pulling {tag} into the Ollama at {url}", file=sys.stderr)

    def show(progress: Any) -> None:
        print(describe_progress(progress), file=sys.stderr)

    started = time.monotonic()
    try:
        asyncio.run(
            pull_ollama_model(url, tag, on_progress=show, progress_interval_s=PROGRESS_INTERVAL_S)
        )
    except KeyboardInterrupt:
        print("\ninterrupted: pull again to resume (Ollama keeps the layers)", file=sys.stderr)
        return 130
    if args.json:
        seconds = round(time.monotonic() - started, 3)
        print(json.dumps({"model": model_id, "ollama_tag": tag, "url": url, "seconds": seconds}))
    else:
        print(tag)
    return 0


def _finish(
    args: argparse.Namespace,
    model_id: str,
    repo_id: str,
    snapshot: str,
    fetched: int,
    *,
    already: bool = False,
    started: float | None = None,
) -> None:
    if args.json:
        payload = {
            "model": model_id,
            "repo_id": repo_id,
            "path": snapshot,
            "bytes_fetched": fetched,
            "already_installed": already,
            "seconds": round(time.monotonic() - started, 3) if started else 0.0,
        }
        print(json.dumps(payload))
    else:
        if already:
            print(f"{model_id} is already installed (offline mode).", file=sys.stderr)
        print(snapshot)
