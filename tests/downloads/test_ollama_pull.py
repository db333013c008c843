"""Ollama pulls: NDJSON progress from ``/api/pull`` into the shared progress model."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qwen_desktop import cli
from qwen_desktop.downloads.hf_download import DownloadProgress
from qwen_desktop.downloads.hf_plan import DownloadError
from qwen_desktop.downloads.ollama_pull import pull_ollama_model

LAYER_A = "sha256:" + "a" * 64
LAYER_B = "sha256:" + "b" * 64
PULL_LINES = [
    {"status": "pulling manifest"},
    {"status": f"pulling {LAYER_A[7:19]}", "digest": LAYER_A, "total": 4000, "completed": 0},
    {"status": f"pulling {LAYER_A[7:19]}", "digest": LAYER_A, "total": 4000, "completed": 2000},
    {"status": f"pulling {LAYER_A[7:19]}", "digest": LAYER_A, "total": 4000, "completed": 4000},
    {"status": f"pulling {LAYER_B[7:19]}", "digest": LAYER_B, "total": 1000, "completed": 1000},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


@pytest.fixture
def ollama_url() -> Iterator[str]:
    """A stand-in Ollama whose ``/api/pull`` streams :data:`PULL_LINES` for ``qwen3:0.6b``,
    an error line for other tags, and stops early for ``qwen3:cut``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model = body.get("model")
            if model == "qwen3:0.6b":
                lines = PULL_LINES
            elif model == "qwen3:cut":
                lines = PULL_LINES[:3]
            else:
                lines = [{"error": "pull model manifest: file does not exist"}]
            payload = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pull_reports_progress_over_all_layers(ollama_url: str) -> None:
    events: list[DownloadProgress] = []
    asyncio.run(
        pull_ollama_model(
            ollama_url, "qwen3:0.6b", on_progress=events.append, progress_interval_s=0
        )
    )
    assert [e.bytes_done for e in events[1:5]] == [0, 2000, 4000, 5000]
    assert events[-1].state == "done" and events[-1].total_bytes == 5000
    assert events[-1].fraction == 1.0


def test_pull_errors_name_the_cause(ollama_url: str) -> None:
    with pytest.raises(DownloadError) as unknown:
        asyncio.run(pull_ollama_model(ollama_url, "qwen3:nope"))
    assert "could not pull qwen3:nope: pull model manifest: file does not exist" in (
        unknown.value.message
    )
    with pytest.raises(DownloadError) as cut:
        asyncio.run(pull_ollama_model(ollama_url, "qwen3:cut"))
    assert "stopped pulling qwen3:cut before the end" in cut.value.message
    with pytest.raises(DownloadError) as nobody:
        asyncio.run(pull_ollama_model("http://127.0.0.1:9", "qwen3:0.6b"))
    assert "No Ollama answers at http://127.0.0.1:9" in nobody.value.message


def test_pull_verb_with_the_ollama_engine(
    ollama_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(["pull", "qwen3-0.6b", "--engine", "ollama", "--ollama", ollama_url]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "qwen3:0.6b"
    assert "100 % 5.0 kB of 5.0 kB" in captured.err
