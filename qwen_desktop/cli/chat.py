"""``qwen-desktop chat``: a headless streamed answer from a local checkpoint, an Ollama model, or
a model on an OpenAI-compatible server.

Engines: ``transformers`` runs a local checkpoint folder in this process; ``ollama`` runs an Ollama
tag on the app's own embedded Ollama (started for the duration of the command and stopped at the
end), or on the server given with ``--url`` (a remote Ollama, or one the user already runs);
``openai`` asks the OpenAI-compatible server at ``--url`` (vLLM, llama.cpp server, LM Studio,
Foundry Local) for the model id, with the API key from ``$QWEN_DESKTOP_API_KEY`` or the OS keyring
(``qwen-desktop engine key set --url URL``).
Without ``--engine``, a ``--model`` that names a folder means Transformers, anything else Ollama.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.types import (
    AnswerDelta,
    SamplingSettings,
    ThinkingDelta,
    ThinkingKind,
    ThinkingReclassified,
    Usage,
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


MAX_TEMPERATURE = 2.0
"""Highest sampling temperature accepted (the OpenAI-compatible APIs' range is 0–2)."""


def _temperature(text: str) -> float:
    value = float(text)
    if not 0 <= value <= MAX_TEMPERATURE:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_TEMPERATURE:g}, not {text}")
    return value


def add_parser(subparsers: Any) -> None:
    """Register the ``chat`` verb."""
    parser = subparsers.add_parser(
        "chat",
        help="ask a local model one question and stream the answer",
        description="Stream one answer from a local Qwen checkpoint folder (Transformers) or an "
        "Ollama model tag. Thinking and answer are printed apart; --json prints one object at "
        "the end instead.",
    )
    parser.add_argument("prompt", help="The question or instruction.")
    parser.add_argument(
        "--model",
        required=True,
        help="A local model folder (config, weights, tokenizer) for Transformers, an Ollama "
        "tag such as qwen3:8b, or a server's model id (openai) such as Qwen/Qwen3-8B.",
    )
    parser.add_argument(
        "--engine",
        choices=("ollama", "transformers", "openai"),
        default=None,
        help="Which engine answers (default: transformers for a folder, else ollama); openai: "
        "an OpenAI-compatible server at --url.",
    )
    parser.add_argument(
        "--url",
        default=None,
        metavar="URL",
        help="ollama: use the Ollama server at URL instead of starting the app's own; openai "
        "(required): the server's API root, e.g. http://HOST:8000/v1.",
    )
    parser.add_argument(
        "--context",
        type=_positive_int,
        default=None,
        metavar="TOKENS",
        help="ollama: the context window to load the model with (num_ctx); openai: the "
        "server's context window when its model listing does not say.",
    )
    parser.add_argument(
        "--quant",
        default=None,
        metavar="OPTION",
        help="transformers only: load in bf16, fp16 or fp32, or quantized to int8 or nf4 "
        "(4-bit) through bitsandbytes (NVIDIA GPUs; pip install 'qwen-desktop[cuda]').",
    )
    parser.add_argument(
        "--no-think", action="store_true", help="Answer without thinking (hybrid models)."
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object at the end.")
    parser.add_argument("--system", default="", help="A system prompt.")
    parser.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=None,
        help="Most tokens to generate, thinking included (default 4096).",
    )
    parser.add_argument(
        "--temperature",
        type=_temperature,
        default=None,
        help="0 = greedy; default: Qwen's recommendation.",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="Seed for sampling (repeatable answers)."
    )
    parser.set_defaults(func=run)


class _Printer:
    """Prints thinking and answer distinctly as they stream (thinking dimmed on a terminal)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.part = ""

    def _switch(self, part: str) -> None:
        if part == self.part:
            return
        if self.part == "thinking":
            self.out.write(("\x1b[0m" if self.tty else "") + "\n--- answer ---\n")
        if part == "thinking":
            self.out.write("--- thinking ---\n" + ("\x1b[2m" if self.tty else ""))
        self.part = part
        self.out.flush()

    def write(self, part: str, text: str) -> None:
        self._switch(part)
        self.out.write(text)
        self.out.flush()

    def end(self) -> None:
        if self.part == "thinking" and self.tty:
            self.out.write("\x1b[0m")
        self.out.write("\n")
        self.out.flush()


async def _chat(args: argparse.Namespace) -> int:
    from qwen_desktop.engines.engine_choice import engine_for_model

    if not args.prompt.strip():
        raise QwenDesktopError("The prompt is empty.", 'Give the question in quotes: chat "…".')
    if args.engine in (None, "transformers"):
        snapshot = _downloaded_snapshot(args.model)
        if snapshot is not None:  # a Hugging Face repository id `models list` shows
            args.model, args.engine = str(snapshot), "transformers"
    args.engine = args.engine or engine_for_model(args.model)
    if args.engine == "transformers" and (args.url or args.context):
        option = "--url" if args.url else "--context"
        raise QwenDesktopError(
            f"{option} applies to the ollama and openai engines only.",
            f"Add --engine ollama (an Ollama tag) or --engine openai (a server's model id), or "
            f"leave out {option}.",
        )
    if args.quant and args.engine != "transformers":
        raise QwenDesktopError(
            "--quant applies to the transformers engine only.",
            "Ollama and servers pick the quantization by model tag or id (e.g. qwen3:8b-q8_0).",
        )
    if args.engine == "openai" and not args.url:
        raise QwenDesktopError(
            "--engine openai needs the server's address.",
            "Add --url http://HOST:PORT/v1 (vLLM, llama.cpp server, LM Studio, Foundry Local).",
        )
    async with contextlib.AsyncExitStack() as stack:
        backend = await _open_backend(args, stack)
        return await _run_turn(args, backend)


def _downloaded_snapshot(model: str) -> Path | None:
    """The local folder of a downloaded Hugging Face repository named ``owner/name`` (as
    ``models list`` shows it), from the models folder in use; None for anything else."""
    from qwen_desktop.engines.engine_choice import looks_like_folder

    if looks_like_folder(model) or ":" in model or model.count("/") != 1:
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    from qwen_desktop.library.service import hub_cache_dir

    try:
        folder = snapshot_download(model, cache_dir=hub_cache_dir(), local_files_only=True)
    except (LocalEntryNotFoundError, ValueError, OSError):
        return None
    return Path(folder)


async def _open_backend(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Any:
    """Load the model on the chosen engine; ``stack`` unloads/stops it at the end."""
    from qwen_desktop.engines.base import ModelSpec

    if args.engine == "transformers":
        from qwen_desktop.engines.transformers_backend import TransformersBackend

        folder = Path(args.model).expanduser()
        backend: Any = TransformersBackend(quantization=args.quant)
        stack.push_async_callback(backend.unload)
        await backend.load(ModelSpec(name=folder.name, path=folder))
        return backend
    if args.engine == "openai":
        from qwen_desktop.engines.openai_backend import OpenAICompatibleBackend
        from qwen_desktop.engines.secrets import ApiKeyStore

        key = ApiKeyStore().resolve(args.url)
        backend = OpenAICompatibleBackend(args.url, api_key=key.key, context_tokens=args.context)
        stack.push_async_callback(backend.aclose)
        await backend.load(ModelSpec(name=args.model))
        return backend
    from qwen_desktop.engines.ollama_backend import OllamaBackend

    if args.url:
        backend = OllamaBackend(args.url, context_tokens=args.context)
    else:
        server = await _start_ollama(stack)
        if isinstance(server, str):  # no binary, but the user's own Ollama runs (case C8)
            backend = OllamaBackend(server, context_tokens=args.context)
        else:
            backend = OllamaBackend(server=server, context_tokens=args.context)
    stack.push_async_callback(backend.aclose)
    await backend.load(ModelSpec(name=args.model))
    return backend


async def _start_ollama(stack: contextlib.AsyncExitStack) -> Any:
    """Start the embedded Ollama (stopped when ``stack`` closes) and return it; or, when there
    is no binary but an Ollama already runs on the default address, return that one's URL.

    Raises:
        EngineUnavailableError: No binary and no running Ollama, or the server failed to start.
    """
    from qwen_desktop.core.errors import EngineUnavailableError
    from qwen_desktop.engines.engine_choice import INSTALL_GUIDE
    from qwen_desktop.engines.ollama_discovery import find_ollama_binary, find_running_ollama
    from qwen_desktop.engines.ollama_server import OllamaServer

    if find_ollama_binary() is None:
        running = await find_running_ollama()
        if running.state == "ollama":
            print(f"note: using the Ollama {running.version} at {running.url}", file=sys.stderr)
            return running.url
        if importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"):
            raise EngineUnavailableError(
                "This names an Ollama model, but the Ollama engine was not found and no Ollama "
                "is running.",
                "For the Transformers engine (installed) give a model folder, or a downloaded "
                "Hugging Face repository as `qwen-desktop models list` shows it (Qwen/…).",
            )
        raise EngineUnavailableError(
            "The Ollama engine was not found, and no Ollama is running.", INSTALL_GUIDE
        )
    server = OllamaServer()
    stack.push_async_callback(server.stop)
    await server.start()
    library = f", {server.compute_library}" if server.compute_library else ""
    print(
        f"note: started the Ollama engine {server.version} at {server.url}{library}",
        file=sys.stderr,
    )
    return server


async def _run_turn(args: argparse.Namespace, backend: Any) -> int:
    from qwen_desktop.chat.service import ChatSession, TurnRecord
    from qwen_desktop.core.conversation import thinking_switch_reason

    kind = backend.capabilities.thinking_kind
    thinking = not args.no_think
    if args.no_think and kind is ThinkingKind.THINKING_ONLY:
        print(
            f"note: --no-think has no effect here. {thinking_switch_reason(kind)}", file=sys.stderr
        )
    session = ChatSession(backend, system_prompt=args.system)
    overrides = {
        key: value
        for key, value in (
            ("max_new_tokens", args.max_tokens),
            ("temperature", args.temperature),
            ("seed", args.seed),
        )
        if value is not None
    }
    if overrides:
        thinks = thinking if kind is ThinkingKind.HYBRID else kind is ThinkingKind.THINKING_ONLY
        session.sampling = SamplingSettings.for_mode(thinks, **overrides)
    record = TurnRecord(args.prompt)
    printer = None if args.json else _Printer(sys.stdout)
    try:
        turn = session.run_turn(args.prompt, thinking=thinking, record=record)
        async with contextlib.aclosing(turn) as events:
            async for event in events:
                if printer is not None:
                    _print_event(printer, event)
    except asyncio.CancelledError:  # Ctrl-C: report what arrived, then let it propagate
        record.cancelled = True
        _report(args, record, printer)
        raise
    return _report(args, record, printer)


def _print_event(printer: _Printer, event: object) -> None:
    if isinstance(event, ThinkingDelta):
        printer.write("thinking", event.text)
    elif isinstance(event, AnswerDelta):
        printer.write("answer", event.text)
    elif isinstance(event, ThinkingReclassified):
        printer.write("answer", "\n[the text above was thinking]\n")


def _report(args: argparse.Namespace, record: Any, printer: _Printer | None) -> int:
    usage: Usage | None = record.usage
    if printer is not None:
        printer.end()
        if usage is not None:
            print(_stats_line(usage), file=sys.stderr)
        if usage is not None and usage.thinking_incomplete and usage.finish_reason == "stop":
            print(
                "note: the model stopped while still thinking, so there is no answer.",
                file=sys.stderr,
            )
    else:
        print(json.dumps(_json_result(record, args.engine), ensure_ascii=False, indent=2))
    if record.error is not None:
        print(f"error: {record.error.message}", file=sys.stderr)
        if record.error.action:
            print(f"  → {record.error.action}", file=sys.stderr)
        return 1
    return 0


def _stats_line(usage: Usage) -> str:
    parts = [
        f"{usage.prompt_tokens} prompt tokens",
        f"{usage.generated_tokens} generated",
        f"{usage.tokens_per_second:.1f} tokens/s",
        f"TTFT {usage.ttft_seconds:.2f} s",
    ]
    if usage.thinking_seconds is not None:
        parts.append(f"thought for {usage.thinking_seconds:.1f} s")
    line = " · ".join(parts)
    if usage.finish_reason == "length":
        where = "while still thinking" if usage.thinking_incomplete else "in the answer"
        if usage.context_window_full:
            line += f"\nstopped {where}: the model's context window is full"
        else:
            line += f"\nstopped at the token limit {where}: raise --max-tokens for a full answer"
    return line


def _json_result(record: Any, engine: str = "") -> dict[str, Any]:
    usage: Usage | None = record.usage
    return {
        "engine": engine,
        "thinking": record.thinking,
        "answer": record.answer,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "generated_tokens": usage.generated_tokens if usage else None,
        "thinking_tokens": usage.thinking_tokens if usage else None,
        "ttft_seconds": usage.ttft_seconds if usage else None,
        "tokens_per_second": usage.tokens_per_second if usage else None,
        "total_seconds": usage.total_seconds if usage else None,
        "thinking_seconds": usage.thinking_seconds if usage else None,
        "finish_reason": usage.finish_reason
        if usage
        else ("cancelled" if record.cancelled else "error"),
        "thinking_incomplete": usage.thinking_incomplete if usage else False,
        "context_window_full": usage.context_window_full if usage else False,
        "error": (
            {"message": record.error.message, "action": record.error.action}
            if record.error
            else None
        ),
    }


def run(args: argparse.Namespace) -> int:
    """Run the ``chat`` verb; 0 on a complete answer, 1 when the engine failed mid-answer."""
    return asyncio.run(_chat(args))
