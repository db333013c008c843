"""The download queue and the model library against a local Hub."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.downloads.hf_plan import DownloadError
from qwen_desktop.downloads.service import DownloadQueue, resolve_request
from qwen_desktop.library.service import LibraryError, ModelLibrary, gguf_quant
from tests.fixtures.hub_server import FakeHub, go_online

CONFIG = b'{"model_type": "qwen3"}'


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub() as server:
        go_online(monkeypatch, tmp_path, server)
        for name in ("Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B"):
            server.add_repo(name, {"config.json": CONFIG, "model.safetensors": os.urandom(300_000)})
        yield server


async def _until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_resolve_request_uses_the_catalog() -> None:
    catalog = load_catalog()
    assert resolve_request(catalog, "qwen3:8b", "safetensors") == ("qwen3-8b", "Qwen/Qwen3-8B")
    assert resolve_request(catalog, "qwen3-14b", "gguf") == ("qwen3-14b", "Qwen/Qwen3-14B-GGUF")
    assert resolve_request(catalog, "someone/Model", "gguf") == ("someone/Model", "someone/Model")
    with pytest.raises(DownloadError) as no_gguf:
        resolve_request(catalog, "qwen3-0.6b", "gguf")
    assert "no official GGUF repository" in no_gguf.value.message


def test_queue_runs_a_few_at_once_persists_and_resumes_at_start_up(
    hub: FakeHub, tmp_path: Path
) -> None:
    state = tmp_path / "data" / "downloads.json"
    cache = tmp_path / "hub"
    for name in ("Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B"):
        hub.fault(name, "model.safetensors").rate_bytes_per_s = 150_000

    async def first_session() -> list[str]:
        queue = DownloadQueue(state, cache, max_parallel=2)
        queue.start()
        ids = [queue.add(n, n).id for n in ("Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B")]
        assert queue.add("Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B").id == ids[0]  # no duplicate
        await _until(lambda: any(j.bytes_done > 50_000 for j in queue.jobs))
        assert [j.state for j in queue.jobs].count("downloading") == 2
        assert queue.get(ids[2]).state == "queued"
        queue.pause(ids[1])
        await _until(lambda: queue.get(ids[1]).state == "paused")
        await queue.close()  # the app quits mid-download
        return ids

    ids = asyncio.run(first_session())
    saved = {row["id"]: row["state"] for row in json.loads(state.read_text())["jobs"]}
    assert saved == {ids[0]: "queued", ids[1]: "paused", ids[2]: "queued"}
    part_bytes = sum(p.stat().st_size for p in cache.rglob("*.part"))
    assert part_bytes > 0
    for name in ("Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B"):
        hub.fault(name, "model.safetensors").rate_bytes_per_s = None

    async def second_session() -> None:
        queue = DownloadQueue(state, cache, max_parallel=2)
        queue.start()
        for job_id in (ids[0], ids[2]):
            assert (await queue.wait(job_id)).state == "done"
        assert queue.get(ids[1]).state == "paused"
        queue.resume(ids[1])
        assert (await queue.wait(ids[1])).state == "done"
        assert Path(queue.get(ids[1]).snapshot, "model.safetensors").stat().st_size == 300_000

    asyncio.run(second_session())
    resumed = [r for r in hub.requests if r.method == "GET" and r.range_start > 0]
    assert resumed, "the second session resumed from the bytes on disk"
    sent = sum(r.bytes_sent for r in hub.requests if r.path == "model.safetensors")
    assert sent <= 3 * 300_000 + 3 * 2 * 64 * 1024


def test_failures_are_recorded_with_an_action(hub: FakeHub, tmp_path: Path) -> None:
    hub.fault("Qwen/Qwen3-0.6B", "model.safetensors").corrupt = True

    async def session() -> None:
        queue = DownloadQueue(
            tmp_path / "downloads.json",
            tmp_path / "hub",
            free_bytes=lambda _p: 10**12,
            downloader_options={"backoff_s": 0.01},
        )
        queue.start()
        damaged = await queue.wait(queue.add("qwen3-0.6b", "Qwen/Qwen3-0.6B").id)
        assert damaged.state == "failed" and damaged.refetch
        assert "is damaged" in damaged.error
        missing = await queue.wait(queue.add("nobody/none", "nobody/none").id)
        assert missing.state == "failed" and "was not found" in missing.error
        hub.fault("Qwen/Qwen3-0.6B", "model.safetensors").corrupt = False
        queue.resume(damaged.id)
        assert (await queue.wait(damaged.id)).state == "done"

    asyncio.run(session())


def test_a_damaged_queue_file_is_kept_aside(tmp_path: Path) -> None:
    state = tmp_path / "downloads.json"
    state.write_text("{not json")
    queue = DownloadQueue(state, tmp_path / "hub")
    assert queue.jobs == []
    assert len(list(tmp_path.glob("downloads.json.broken-*"))) == 1


def test_library_lists_the_cache_imports_and_deletes(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "hub"

    async def session() -> None:
        queue = DownloadQueue(tmp_path / "downloads.json", cache)
        queue.start()
        await queue.wait(queue.add("Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B").id)

    asyncio.run(session())
    folder = tmp_path / "Mes modèles" / "local"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x" * 100)
    gguf = tmp_path / "Qwen3-8B-Q5_K_M.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 96)

    library = ModelLibrary(tmp_path / "library.json", cache)
    library.import_path(folder)
    library.import_path(gguf)
    with pytest.raises(LibraryError):
        library.import_path(tmp_path / "nothing-here")
    models = {m.id: m for m in asyncio.run(library.list_all())}
    hf = models["Qwen/Qwen3-0.6B"]
    assert (hf.source, hf.format, hf.complete) == ("huggingface", "safetensors", True)
    assert hf.size_bytes == len(CONFIG) + 300_000
    assert models[str(gguf)].quant == "Q5_K_M"
    assert models[str(folder)].size_bytes == 102

    assert asyncio.run(library.delete("Qwen/Qwen3-0.6B")) == len(CONFIG) + 300_000
    assert asyncio.run(library.delete(str(gguf))) == 0
    assert gguf.exists()  # forgetting an import never deletes the person's file
    assert {m.id for m in asyncio.run(library.list_all())} == {str(folder)}
    with pytest.raises(LibraryError):
        asyncio.run(library.delete("Qwen/Qwen3-0.6B"))


def test_gguf_quant_names() -> None:
    assert gguf_quant("Qwen3-14B-Q4_K_M.gguf") == "Q4_K_M"
    assert gguf_quant("qwen3-8b-iq3_xxs.gguf") == "IQ3_XXS"
    assert gguf_quant("Qwen3-32B-Q8_0-00001-of-00002.gguf") == "Q8_0"
    assert gguf_quant("model.gguf") is None


def test_library_lists_and_deletes_ollama_models(tmp_path: Path) -> None:
    from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama

    library = ModelLibrary(tmp_path / "library.json", tmp_path / "empty-hub")
    with running_fake_ollama(FakeModel("qwen3:8b"), FakeModel("qwen3:0.6b")) as (fake, url):
        models = {m.id: m for m in asyncio.run(library.list_all(url))}
        assert models["qwen3:8b"].source == "ollama"
        assert models["qwen3:8b"].quant == "Q4_K_M"
        assert models["qwen3:8b"].size_bytes == 5_225_376_047
        assert asyncio.run(library.delete("qwen3:0.6b", url)) == 5_225_376_047
        assert set(fake.models) == {"qwen3:8b"}


def test_a_local_gguf_is_imported_into_ollama(tmp_path: Path) -> None:
    import hashlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", ""):
                body = b""
                while size := int(self.rfile.readline().strip(), 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/api/blobs/"):
                received["blob"] = (self.path.removeprefix("/api/blobs/"), body)
                reply = b""
            else:
                received["create"] = json.loads(body)
                reply = b'{"status": "success"}'
            self.send_response(201 if not reply else 200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    gguf = tmp_path / "Qwen3-8B-Q4_K_M.gguf"
    content = b"GGUF" + os.urandom(5000)
    gguf.write_bytes(content)
    try:
        model = asyncio.run(ModelLibrary.import_gguf_into_ollama(url, gguf, "my-qwen:8b"))
        not_gguf = tmp_path / "fake.gguf"
        not_gguf.write_bytes(b"<html>")
        with pytest.raises(LibraryError) as refused:
            asyncio.run(ModelLibrary.import_gguf_into_ollama(url, not_gguf, "x:y"))
    finally:
        server.shutdown()
        server.server_close()
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    assert received["blob"] == (digest, content)
    assert received["create"] == {
        "model": "my-qwen:8b",
        "files": {"Qwen3-8B-Q4_K_M.gguf": digest},
        "stream": False,
    }
    assert (model.id, model.source, model.quant) == ("my-qwen:8b", "ollama", "Q4_K_M")
    assert "is not a GGUF file" in refused.value.message
