"""Pulling a model through an Ollama server, with the same progress model as Hugging Face downloads.

Ollama's ``/api/pull`` streams NDJSON status lines; while a layer downloads they carry its
``digest``, ``total`` and ``completed`` bytes (source: Ollama API docs, "Pull a Model"). The
totals over all layers seen so far become a
:class:`~qwen_desktop.downloads.hf_download.DownloadProgress` (bytes, speed over the last 5 s,
ETA), throttled. Ollama itself resumes interrupted layer downloads from its ``-partial`` blobs, as
long as the server is not told to prune them at start (the embedded server runs with
``OLLAMA_NOPRUNE=1``, see :mod:`qwen_desktop.engines.ollama_server`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from qwen_desktop.downloads.hf_download import SPEED_WINDOW_S, DownloadProgress
from qwen_desktop.downloads.hf_plan import DownloadError
from qwen_desktop.engines.http_clients import ollama_session

PULL_IDLE_TIMEOUT_S = 300.0
"""Seconds without a status line before a pull counts as stalled (Ollama sends one per chunk
while downloading, and verifies a multi-GB layer silently for up to a few minutes)."""


async def pull_ollama_model(
    url: str,
    tag: str,
    *,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    progress_interval_s: float = 0.25,
) -> None:
    """Pull ``tag`` into the Ollama server at ``url``; returns when Ollama says ``success``.

    Raises:
        DownloadError: No Ollama answers at ``url``, or Ollama refused the pull (unknown tag,
            no network, disk full: Ollama's own message is quoted).
    """
    layers: dict[str, tuple[int, int]] = {}
    samples: deque[tuple[float, int]] = deque()
    last = 0.0
    status = ""
    async with ollama_session(
        url,
        doing=f"pull {tag}",
        error=DownloadError,
        action="Check the tag (ollama.com/library lists them), the connection and the free disk "
        "space; pulling again resumes the layers already downloaded.",
        read_timeout_s=PULL_IDLE_TIMEOUT_S,
    ) as client:
        async for part in await client.pull(tag, stream=True):
            status = part.status or status
            if part.digest and part.total:
                layers[part.digest] = (int(part.completed or 0), int(part.total))
            done = sum(c for c, _ in layers.values())
            total = sum(t for _, t in layers.values())
            now = time.monotonic()
            samples.append((now, done))
            while len(samples) > 2 and now - samples[0][0] > SPEED_WINDOW_S:
                samples.popleft()
            final = status == "success"
            if on_progress is None or (not final and now - last < progress_interval_s):
                continue
            last = now
            span = now - samples[0][0]
            speed = (done - samples[0][1]) / span if span > 0 else 0.0
            eta = (total - done) / speed if speed > 0 else None
            layer = layers.get(part.digest or "", (0, 0))
            on_progress(
                DownloadProgress(
                    state="done" if final else "downloading",
                    file=part.digest or status,
                    file_bytes=layer[0],
                    file_total_bytes=layer[1],
                    bytes_done=done,
                    total_bytes=total,
                    speed_bytes_per_s=speed,
                    eta_s=0.0 if final else eta,
                )
            )
    if status != "success":
        raise DownloadError(
            f"Ollama at {url} stopped pulling {tag} before the end (last status: {status!r}).",
            "Pull again: Ollama resumes the layers already downloaded.",
        )
