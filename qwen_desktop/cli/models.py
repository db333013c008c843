"""``qwen-desktop models list|rm|import``: the models installed on this computer.

``list [--json] [--ollama URL]`` shows the Hugging Face cache (also what other tools downloaded),
imported folders and GGUF files, and an Ollama server's models when ``--ollama`` is given.
``rm MODEL_ID [--yes]`` deletes one (asking first unless ``--yes``); ``import PATH`` remembers a
local model folder or GGUF file, ``import FILE.gguf --ollama URL [--name NAME]`` copies it into
an Ollama server. ``folder [PATH]`` prints the models folder, or uses PATH from now on (nothing
is moved; PATH must be empty, new with an existing parent, or a models folder); ``move DEST
[--keep]`` moves the models there (copy, verify by sha256, then delete the original; only model
content, refused when the folder holds anything else; an interrupted move resumes when run
again). An empty PATH or DEST is refused (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register the ``models`` verb."""
    parser = subparsers.add_parser(
        "models",
        help="list, delete or import installed models",
        description="The installed models: Hugging Face cache, imported folders/GGUF files, "
        "and an Ollama server's models.",
    )
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list installed models")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--ollama", metavar="URL", help="also list this Ollama server's models")
    listing.set_defaults(func=run_list)
    remove = actions.add_parser("rm", help="delete an installed model")
    remove.add_argument("model", metavar="MODEL_ID", help="an id from `models list`")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    remove.add_argument("--ollama", metavar="URL", help="the Ollama server of an Ollama model")
    remove.set_defaults(func=run_rm)
    add = actions.add_parser("import", help="remember a local model folder or .gguf file")
    add.add_argument("path", type=Path, metavar="PATH")
    add.add_argument(
        "--ollama", metavar="URL", help="copy the .gguf file into this Ollama server instead"
    )
    add.add_argument("--name", help="the Ollama model name for --ollama (default: file name)")
    add.set_defaults(func=run_import)
    folder = actions.add_parser("folder", help="show the models folder, or use another one")
    folder.add_argument("path", nargs="?", metavar="PATH", help="an empty, new or models folder")
    folder.set_defaults(func=run_folder)
    move = actions.add_parser("move", help="move the models to another folder (safely)")
    move.add_argument("dest", metavar="DEST", help="an empty or new folder")
    move.add_argument("--keep", action="store_true", help="keep the original after the copy")
    move.set_defaults(func=run_move)


def _library() -> Any:
    from qwen_desktop.core.paths import AppPaths
    from qwen_desktop.library.service import LIBRARY_FILE_NAME, ModelLibrary, hub_cache_dir

    paths = AppPaths.default()
    return ModelLibrary(paths.data_dir / LIBRARY_FILE_NAME, hub_cache_dir(paths.config_dir))


def _folder_arg(value: str, what: str, verb: str) -> Path:
    """``value`` as an absolute path; an empty or blank one is refused (``Path("")`` would be
    the current folder)."""
    from qwen_desktop.library.models_folder import ModelsFolderError

    if not value.strip():
        raise ModelsFolderError(
            f"The {what} is empty.",
            f"Give the folder's path, e.g. `qwen-desktop models {verb} ~/models` (use `.` for "
            "the current folder).",
        )
    return Path(value).expanduser().absolute()


def run_list(args: argparse.Namespace) -> int:
    """Print the installed models; 0."""
    from qwen_desktop.core.units import format_decimal_bytes

    models = asyncio.run(_library().list_all(args.ollama))
    if args.json:
        print(json.dumps([m.to_json() for m in models], indent=2))
        return 0
    if not models:
        print("No models installed. Download one with `qwen-desktop pull MODEL_ID`.")
        return 0
    print(f"{'ID':<44} {'SOURCE':<12} {'FORMAT':<12} {'QUANT':<10} {'SIZE':>9}  LAST USED")
    for model in models:
        used = (
            datetime.fromtimestamp(model.last_used_s).strftime("%Y-%m-%d")
            if model.last_used_s
            else "-"
        )
        note = "" if model.complete else "  (incomplete: resume with `qwen-desktop pull`)"
        print(
            f"{model.id:<44} {model.source:<12} {model.format:<12} {model.quant or '-':<10} "
            f"{format_decimal_bytes(model.size_bytes):>9}  {used}{note}"
        )
    return 0


def run_rm(args: argparse.Namespace) -> int:
    """Delete one model after confirmation; 0 when deleted, 1 when declined."""
    from qwen_desktop.core.units import format_decimal_bytes

    library = _library()
    models = asyncio.run(library.list_all(args.ollama))
    match = next((m for m in models if m.id.lower() == args.model.lower()), None)
    if match is not None and not args.yes:
        what = (
            "forget this import (its files stay)"
            if match.source in {"folder", "gguf"}
            else f"delete {format_decimal_bytes(match.size_bytes)}"
        )
        answer = input(f"{match.id}: {what}? [y/N] ") if sys.stdin.isatty() else ""
        if answer.strip().lower() not in {"y", "yes"}:
            print("Not deleted (pass --yes to delete without asking).", file=sys.stderr)
            return 1
    freed = asyncio.run(library.delete(args.model, args.ollama))
    print(f"Removed {args.model} ({format_decimal_bytes(freed)} freed).")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Remember a local folder or GGUF file (or copy a GGUF into Ollama); 0."""
    if args.ollama:
        name = args.name or args.path.stem.lower().replace("_", "-")
        model = asyncio.run(_library().import_gguf_into_ollama(args.ollama, args.path, name))
        print(f"Imported {args.path.name} into the Ollama at {args.ollama} as {model.id}.")
        return 0
    model = _library().import_path(args.path)
    print(f"Imported {model.id} ({model.format}).")
    return 0


def run_folder(args: argparse.Namespace) -> int:
    """Print the models folder, or switch to ``args.path`` without moving anything; 0."""
    from qwen_desktop.core.paths import AppPaths
    from qwen_desktop.library.models_folder import repoint_models_folder
    from qwen_desktop.library.service import hub_cache_dir

    config_dir = AppPaths.default().config_dir
    if args.path is None:
        print(hub_cache_dir(config_dir))
        return 0
    folder = repoint_models_folder(
        config_dir, _folder_arg(args.path, "models folder path", "folder")
    )
    print(f"Models folder: {folder} (nothing was moved; see `qwen-desktop models move`).")
    return 0


def run_move(args: argparse.Namespace) -> int:
    """Move the models folder to ``args.dest`` with progress on stderr; 0."""
    from qwen_desktop.core.paths import AppPaths
    from qwen_desktop.core.units import format_decimal_bytes
    from qwen_desktop.library.models_folder import MoveProgress, move_models_folder
    from qwen_desktop.library.service import hub_cache_dir

    dest = _folder_arg(args.dest, "destination path", "move")
    config_dir = AppPaths.default().config_dir
    source = hub_cache_dir(config_dir)
    tty = sys.stderr.isatty()

    def progress(step: MoveProgress) -> None:
        if tty:
            print(
                f"\r{step.fraction:6.1%}  {format_decimal_bytes(step.bytes_done)} of "
                f"{format_decimal_bytes(step.total_bytes)}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def started(src: Path, dst: Path) -> None:  # only once every check passed
        print(f"Moving {src} to {dst}…", file=sys.stderr)

    result = move_models_folder(
        config_dir, source, dest, on_progress=progress, keep_source=args.keep, on_start=started
    )
    if tty:
        print(file=sys.stderr)
    how = "renamed" if result.renamed else "copied and verified"
    print(f"Moved {format_decimal_bytes(result.bytes_moved)} to {result.destination} ({how}).")
    if result.source_left:
        print(f"warning: {result.source_left}", file=sys.stderr)
    return 0
