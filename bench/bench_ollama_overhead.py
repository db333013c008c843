"""Benchmark: the app's per-token overhead on the Ollama path, and the managed server's start.

Run: ``.venv/bin/python bench/bench_ollama_overhead.py [--tokens 2000] [--rounds 5]``.

The stand-in ``ollama`` (tests/fixtures/ollama_standin.py) is started by
:class:`~qwen_desktop.engines.ollama_server.OllamaServer` in its own process (so the server's
work does not share this process's GIL), and serves the same NDJSON stream (half thinking, half
answer, one line per token) to two readers, alternated round by round:

* raw: ``ollama.AsyncClient.chat(stream=True)``, touching ``message.thinking``/``content``;
* app: :meth:`OllamaBackend.stream_chat` (thinking field trimming, the ThinkingParser on the
  content, stream events, Usage).

Printed, in one run:

1. at ~1,000 tokens/s (the server paces lines like a fast GPU): decode tokens/s of both readers
   and the ratio app/raw (goal ≥ 0.97×);
2. unpaced (the server writes as fast as it can): the reader's CPU time per token
   (``time.process_time``; this process only), and the app's extra microseconds per token;
3. start-to-ready of the managed server with the stand-in (``OllamaServer.start``: spawn, the
   ``/api/version`` probe with backoff), over several starts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ollama

from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    SamplingSettings,
    ThinkingDelta,
    Usage,
)
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.ollama_backend import OllamaBackend
from qwen_desktop.engines.ollama_server import OllamaServer, OllamaServerConfig
from tests.fixtures.ollama_fake_server import FakeModel
from tests.fixtures.ollama_standin import make_standin

PACED, UNPACED = "bench:paced", "bench:unpaced"
RATE = 1000.0


def _text(words: int, stem: str) -> str:
    return "".join(f"{stem}{i} " for i in range(words)).strip()


async def _raw(client: ollama.AsyncClient, model: str) -> tuple[int, float, float]:
    """Tokens, seconds from first to last token, CPU seconds (this process) for one stream."""
    tokens = 0
    t_first = t_last = 0.0
    cpu = time.process_time()
    stream = await client.chat(
        model=model, messages=[{"role": "user", "content": "go"}], stream=True, think=True
    )
    async for part in stream:
        message = part.message
        if message.thinking or message.content:
            t_last = time.perf_counter()
            if not tokens:
                t_first = t_last
            tokens += 1
    cpu = time.process_time() - cpu
    return tokens, t_last - t_first, cpu


async def _app(backend: OllamaBackend, request: ChatRequest) -> tuple[int, float, float, Usage]:
    deltas = 0
    t_first = t_last = 0.0
    usage: Usage | None = None
    cpu = time.process_time()
    async for event in backend.stream_chat(request):
        if isinstance(event, ThinkingDelta | AnswerDelta):
            t_last = time.perf_counter()
            if not deltas:
                t_first = t_last
            deltas += 1
        elif isinstance(event, Usage):
            usage = event
    cpu = time.process_time() - cpu
    assert usage is not None, "the stream did not finish"
    return usage.generated_tokens, t_last - t_first, cpu, usage


async def _compare(url: str, model: str, rounds: int) -> dict[str, list[float]]:
    backend = OllamaBackend(url, trust_env=False)
    await backend.load(ModelSpec(model))
    request = ChatRequest(
        (ChatMessage("user", "go"),),
        thinking=True,
        sampling=SamplingSettings(max_new_tokens=1_000_000),
    )
    results: dict[str, list[float]] = {
        "raw_rate": [],
        "app_rate": [],
        "raw_cpu_us": [],
        "app_cpu_us": [],
    }
    client = ollama.AsyncClient(host=url, trust_env=False)  # one client, as the app keeps one
    await _raw(client, model)  # warm up both paths (connections, imports, caches)
    await _app(backend, request)
    for _ in range(rounds):
        tokens, seconds, cpu = await _raw(client, model)
        results["raw_rate"].append((tokens - 1) / seconds)
        results["raw_cpu_us"].append(cpu / tokens * 1e6)
        tokens, seconds, cpu, _usage = await _app(backend, request)
        results["app_rate"].append((tokens - 1) / seconds)
        results["app_cpu_us"].append(cpu / tokens * 1e6)
    await backend.aclose()
    await client.close()
    return results


async def _start_times(binary: Path, folder: Path, starts: int) -> list[float]:
    times = []
    for index in range(starts):
        server = OllamaServer(
            OllamaServerConfig(
                binary=binary,
                models_dir=folder / "models",
                log_file=folder / "logs" / f"start-{index}.log",
            )
        )
        started = time.perf_counter()
        await server.start()
        times.append(time.perf_counter() - started)
        await server.stop()
    return times


async def main(tokens: int, rounds: int, starts: int) -> None:
    half = tokens // 2
    thinking, answer = _text(half, "think"), _text(tokens - half, "word")
    with tempfile.TemporaryDirectory(prefix="bench-ollama-") as tmp:
        folder = Path(tmp)
        standin = make_standin(
            folder / "ollama",
            models=(
                FakeModel(PACED, thinking=thinking, answer=answer, tokens_per_second=RATE),
                FakeModel(UNPACED, thinking=thinking, answer=answer),
            ),
        )
        server = OllamaServer(
            OllamaServerConfig(
                binary=standin.binary,
                models_dir=folder / "models",
                log_file=folder / "logs" / "ollama.log",
            )
        )
        await server.start()
        try:
            paced = await _compare(server.url, PACED, rounds)
            unpaced = await _compare(server.url, UNPACED, rounds)
        finally:
            await server.stop()
        start_times = await _start_times(standin.binary, folder, starts)

    median = statistics.median
    print(f"Ollama path overhead ({tokens} tokens per answer, {rounds} alternated rounds)")
    print(f"  paced at {RATE:,.0f} tokens/s by the server:")
    raw_rate, app_rate = median(paced["raw_rate"]), median(paced["app_rate"])
    print(f"    raw ollama.AsyncClient.chat   {raw_rate:8.1f} tokens/s")
    print(f"    app OllamaBackend.stream_chat {app_rate:8.1f} tokens/s")
    print(f"    ratio app/raw                 {app_rate / raw_rate:8.3f}x  (goal >= 0.97x)")
    print("  unpaced (as fast as the server writes):")
    raw_cpu, app_cpu = median(unpaced["raw_cpu_us"]), median(unpaced["app_cpu_us"])
    print(f"    raw  {median(unpaced['raw_rate']):9.0f} tokens/s, {raw_cpu:6.1f} us CPU per token")
    print(f"    app  {median(unpaced['app_rate']):9.0f} tokens/s, {app_cpu:6.1f} us CPU per token")
    print(
        f"    app overhead {app_cpu - raw_cpu:+.1f} us CPU per token "
        f"({app_cpu / raw_cpu:.2f}x the raw client's)"
    )
    print(f"Managed server start-to-ready with the stand-in ({starts} starts)")
    print(
        f"  median {median(start_times) * 1000:.0f} ms, min {min(start_times) * 1000:.0f} ms, "
        f"max {max(start_times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000, help="tokens per answer")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds per reader")
    parser.add_argument("--starts", type=int, default=5, help="server starts to time")
    options = parser.parse_args()
    asyncio.run(main(options.tokens, options.rounds, options.starts))
