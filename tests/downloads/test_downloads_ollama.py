"""Ollama pulls in the download queue: same progress model, pause/resume, persisted."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.downloads.hf_plan import DownloadError
from qwen_desktop.downloads.service import DownloadJob, DownloadQueue, resolve_request

LAYER = "sha256:" + "c" * 64
TOTAL = 10_000


class PullServer:
    """A stand-in Ollama whose ``/api/pull`` streams ten progress lines, ``delay_s`` apart."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.pulls: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.pulls.append(body["model"])
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                lines = [{"status": "pulling manifest"}]
                lines += [
                    {"status": "pulling", "digest": LAYER, "total": TOTAL, "completed": done}
                    for done in range(0, TOTAL + 1, TOTAL // 10)
                ]
                lines.append({"status": "success"})
                try:
                    for line in lines:
                        self.wfile.write(json.dumps(line).encode() + b"\n")
                        self.wfile.flush()
                        time.sleep(outer.delay_s)
                except OSError:  # the client went away (pause)
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ollama() -> Iterator[PullServer]:
    server = PullServer()
    yield server
    server.close()


def test_resolve_ollama_requests() -> None:
    catalog = load_catalog()
    assert resolve_request(catalog, "qwen3-0.6b", "ollama") == ("qwen3-0.6b", "qwen3:0.6b")
    assert resolve_request(catalog, "mymodel:latest", "ollama") == (
        "mymodel:latest",
        "mymodel:latest",
    )
    without = next(v for v in catalog if v.ollama is None)
    with pytest.raises(DownloadError, match="not in Ollama's library"):
        resolve_request(catalog, without.id, "ollama")


def test_pull_pause_resume_and_restart(ollama: PullServer, tmp_path: Path) -> None:
    state = tmp_path / "downloads.json"
    seen: list[tuple[str, int, int]] = []

    async def session() -> DownloadJob:
        queue = DownloadQueue(state, tmp_path / "hub", ollama_url=lambda: ollama.url)
        queue.subscribe(lambda job: seen.append((job.state, job.bytes_done, job.total_bytes)))
        queue.start()
        ollama.delay_s = 0.05
        job = queue.add("qwen3-0.6b", "qwen3:0.6b", "ollama")
        while job.bytes_done == 0:
            await asyncio.sleep(0.01)
        queue.pause(job.id)
        paused = await queue.wait(job.id)
        assert paused.state == "paused" and 0 < paused.bytes_done < TOTAL
        ollama.delay_s = 0.0
        queue.resume(job.id)
        return await queue.wait(job.id)

    job = asyncio.run(session())
    assert (job.state, job.bytes_done, job.total_bytes) == ("done", TOTAL, TOTAL)
    assert job.snapshot == f"qwen3:0.6b in the Ollama at {ollama.url}"
    assert ollama.pulls == ["qwen3:0.6b", "qwen3:0.6b"]  # resuming pulls again: Ollama resumes
    # the same progress model as Hugging Face downloads: bytes of the total while pulling
    assert any(state == "downloading" and 0 < done < total == TOTAL for state, done, total in seen)
    reloaded = DownloadQueue(state, tmp_path / "hub").jobs
    assert [(j.format, j.state) for j in reloaded] == [("ollama", "done")]


def test_pull_without_an_ollama_says_what_to_do(tmp_path: Path) -> None:
    async def session() -> DownloadJob:
        queue = DownloadQueue(tmp_path / "downloads.json", tmp_path / "hub")
        queue.start()
        return await queue.wait(queue.add("qwen3-0.6b", "qwen3:0.6b", "ollama").id)

    job = asyncio.run(session())
    assert job.state == "failed"
    assert "No Ollama engine runs" in job.error and "Engine menu" in job.action
