"""``qwen-desktop chat``: a headless streamed answer from a local checkpoint."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from qwen_desktop.core.types import (
    AnswerDelta,
    SamplingSettings,
    ThinkingDelta,
    ThinkingReclassified,
    Usage,
)


def add_parser(subparsers: Any) -> None:
    """Register the ``chat`` verb."""
    parser = subparsers.add_parser(
        "chat",
        help="Ask a local model one question and stream the answer.",
        description="Stream one answer from a local Qwen checkpoint folder. Thinking and answer "
        "are printed apart; --json prints one object at the end instead.",
    )
    parser.add_argument("prompt", help="The question or instruction.")
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        help="A local model folder (config, weights, tokenizer).",
    )
    parser.add_argument(
        "--no-think", action="store_true", help="Answer without thinking (hybrid models)."
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object at the end.")
    parser.add_argument("--system", default="", help="A system prompt.")
    parser.add_argument(
        "--max-tokens", type=int, default=None, help="Most tokens to generate (thinking included)."
    )
    parser.add_argument(
        "--temperature",
        type=float,
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
    from qwen_desktop.backends.base import ModelSpec
    from qwen_desktop.backends.transformers_backend import TransformersBackend
    from qwen_desktop.services.chat import ChatSession, TurnRecord

    backend = TransformersBackend()
    await backend.load(ModelSpec(name=args.model.name, path=args.model))
    thinking = not args.no_think
    overrides: dict[str, Any] = {}
    if args.max_tokens is not None:
        overrides["max_new_tokens"] = args.max_tokens
    if args.temperature is not None:
        overrides["temperature"] = args.temperature
    if args.seed is not None:
        overrides["seed"] = args.seed
    session = ChatSession(backend, system_prompt=args.system)
    if overrides:
        kind = backend.capabilities.thinking_kind
        thinks = thinking if kind.value == "hybrid" else kind.value == "thinking-only"
        session.sampling = SamplingSettings.for_mode(thinks, **overrides)
    record = TurnRecord(args.prompt)
    printer = None if args.json else _Printer(sys.stdout)
    async for event in session.run_turn(args.prompt, thinking=thinking, record=record):
        if printer is None:
            continue
        if isinstance(event, ThinkingDelta):
            printer.write("thinking", event.text)
        elif isinstance(event, AnswerDelta):
            printer.write("answer", event.text)
        elif isinstance(event, ThinkingReclassified):
            printer.write("answer", "\n[the text above was thinking]\n")
    await backend.unload()
    return _report(args, record, printer)


def _report(args: argparse.Namespace, record: Any, printer: _Printer | None) -> int:
    usage: Usage | None = record.usage
    if printer is not None:
        printer.end()
        if usage is not None:
            print(_stats_line(usage), file=sys.stderr)
    else:
        print(json.dumps(_json_result(record), ensure_ascii=False, indent=2))
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


def _json_result(record: Any) -> dict[str, Any]:
    usage: Usage | None = record.usage
    return {
        "thinking": record.thinking,
        "answer": record.answer,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "generated_tokens": usage.generated_tokens if usage else None,
        "thinking_tokens": usage.thinking_tokens if usage else None,
        "ttft_seconds": usage.ttft_seconds if usage else None,
        "tokens_per_second": usage.tokens_per_second if usage else None,
        "total_seconds": usage.total_seconds if usage else None,
        "thinking_seconds": usage.thinking_seconds if usage else None,
        "finish_reason": usage.finish_reason if usage else "error",
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
