"""Hugging Face downloads against a local Hub (tests/fixtures/hub_server.py) with faults."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop.core.errors import CheckpointError
from qwen_desktop.core.units import format_decimal_bytes
from qwen_desktop.downloads import hf_download
from qwen_desktop.downloads.hf_cache import IntegrityError, clean_stale_partials
from qwen_desktop.downloads.hf_download import (
    DiskFullError,
    DownloadCancelledError,
    DownloadProgress,
    HfDownloader,
)
from qwen_desktop.downloads.hf_plan import (
    DownloadError,
    DownloadPlan,
    NotEnoughDiskError,
    OfflineError,
    check_free_space,
    plan_download,
)
from qwen_desktop.engines.checkpoint import inspect_checkpoint
from tests.fixtures.hub_server import FakeHub, git_blob_sha1, go_online

REPO = "Qwen/Qwen3-0.6B"
GGUF_REPO = "Qwen/Qwen3-14B-GGUF"
CONFIG = json.dumps({"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]}).encode()
WEIGHTS = os.urandom(1_000_000)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A running fake Hub with a small safetensors repo and a GGUF repo; online mode."""
    with FakeHub() as server:
        go_online(monkeypatch, tmp_path, server)
        server.add_repo(
            REPO,
            {
                "config.json": CONFIG,
                "model.safetensors": WEIGHTS,
                "tokenizer.json": b'{"version": "1.0"}',
                "pytorch_model.bin": b"old weights",
                "original/consolidated.pth": b"other format",
            },
        )
        server.add_repo(
            GGUF_REPO,
            {
                "Qwen3-14B-Q4_K_M.gguf": b"GGUF" + os.urandom(2000),
                "Qwen3-14B-Q8_0-00001-of-00002.gguf": b"GGUF" + os.urandom(1000),
                "Qwen3-14B-Q8_0-00002-of-00002.gguf": os.urandom(1000),
                "README.md": b"# card",
            },
        )
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A models folder with a non-ASCII name (accents, CJK, a space)."""
    return tmp_path / "Modèles 模型" / "hub"


def _plan(hub: FakeHub, cache: Path, **kwargs: Any) -> DownloadPlan:
    return plan_download("qwen3-0.6b", REPO, cache_dir=cache, **kwargs)


def _run(downloader: HfDownloader) -> Path:
    return asyncio.run(downloader.run())


def test_plan_lists_the_checkpoint_files_with_sizes_and_hashes(hub: FakeHub, cache: Path) -> None:
    plan = _plan(hub, cache)

    assert [f.path for f in plan.files] == ["config.json", "model.safetensors", "tokenizer.json"]
    weights = plan.files[1]
    assert weights.size_bytes == len(WEIGHTS)
    assert weights.sha256 == hashlib.sha256(WEIGHTS).hexdigest() == weights.etag
    assert plan.files[0].git_oid == git_blob_sha1(CONFIG) == plan.files[0].etag
    assert plan.commit == hub.repos[REPO].commit
    assert plan.total_bytes == len(CONFIG) + len(WEIGHTS) + 18
    assert DownloadPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    assert not hub.requests  # planning fetched metadata only


def test_the_fake_hub_answers_huggingface_hub_metadata_calls(hub: FakeHub) -> None:
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    api = HfApi(endpoint=hub.url)
    (info,) = api.get_paths_info(REPO, ["model.safetensors"])
    assert info.size == len(WEIGHTS)
    assert info.lfs is not None and info.lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    meta = get_hf_file_metadata(hf_hub_url(REPO, "model.safetensors", endpoint=hub.url))
    assert (meta.commit_hash, meta.etag, meta.size) == (
        hub.repos[REPO].commit,
        hashlib.sha256(WEIGHTS).hexdigest(),
        len(WEIGHTS),
    )


def test_gguf_plan_picks_one_quantization_with_all_its_shards(hub: FakeHub, cache: Path) -> None:
    q8 = plan_download("qwen3-14b", GGUF_REPO, "gguf", "q8_0", cache_dir=cache)
    assert [f.path for f in q8.files] == [
        "Qwen3-14B-Q8_0-00001-of-00002.gguf",
        "Qwen3-14B-Q8_0-00002-of-00002.gguf",
    ]
    default = plan_download("qwen3-14b", GGUF_REPO, "gguf", cache_dir=cache)
    assert [f.path for f in default.files] == ["Qwen3-14B-Q4_K_M.gguf"]
    assert default.quant == "Q4_K_M"
    with pytest.raises(DownloadError) as refused:
        plan_download("qwen3-14b", GGUF_REPO, "gguf", "Q2_K", cache_dir=cache)
    assert "it offers: Q4_K_M, Q8_0" in refused.value.message


def test_c9_disk_too_small_is_refused_before_any_byte(hub: FakeHub, cache: Path) -> None:
    hub.add_repo(REPO, {"config.json": CONFIG, "model.safetensors": 5_000_000_000})
    plan = _plan(hub, cache)

    with pytest.raises(NotEnoughDiskError) as refused:
        check_free_space(plan, free_bytes=lambda _folder: 2 * 1024**3)

    assert "qwen3-0.6b needs 5.0 GB, 2.0 GiB free on " in refused.value.message
    assert "Free up 2.9 GB" in refused.value.action
    assert not hub.requests


def test_download_installs_into_the_hub_cache_in_a_non_ascii_folder(
    hub: FakeHub, cache: Path
) -> None:
    from huggingface_hub import hf_hub_download, scan_cache_dir

    events: list[DownloadProgress] = []
    plan = _plan(hub, cache)
    snapshot = _run(HfDownloader(plan, on_progress=events.append, progress_interval_s=10.0))

    assert snapshot == cache / "models--Qwen--Qwen3-0.6B" / "snapshots" / plan.commit
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS
    assert (cache / "models--Qwen--Qwen3-0.6B" / "refs" / "main").read_text() == plan.commit
    assert not list(cache.rglob("*.part*"))
    assert events[-1].state == "done" and events[-1].fraction == 1.0
    assert len(events) <= 8  # throttled: state changes only at a 10 s interval
    # huggingface_hub sees the files as installed: a HEAD, no GET.
    before = len(hub.requests)
    again = hf_hub_download(REPO, "model.safetensors", cache_dir=cache, endpoint=hub.url)
    assert Path(again).read_bytes() == WEIGHTS
    assert [r.method for r in hub.requests[before:]] == ["HEAD"]
    (repo,) = scan_cache_dir(cache).repos
    assert repo.repo_id == REPO and repo.size_on_disk == plan.total_bytes


def test_dropped_connection_resumes_from_the_bytes_on_disk(hub: FakeHub, cache: Path) -> None:
    hub.fault(REPO, "model.safetensors").drop_after = [300_000, 200_000]
    plan = _plan(hub, cache)
    downloader = HfDownloader(plan, backoff_s=0.01)
    snapshot = _run(downloader)

    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS
    gets = hub.resolve_requests("model.safetensors")
    assert [r.range_start for r in gets] == [0, 300_000, 500_000]
    assert hub.bytes_sent("model.safetensors") == len(WEIGHTS)  # no byte fetched twice


def test_http_500_is_retried_then_reported(hub: FakeHub, cache: Path) -> None:
    hub.fault(REPO, "model.safetensors").statuses = [500, 503]
    _run(HfDownloader(_plan(hub, cache), backoff_s=0.01))
    assert [r.status for r in hub.resolve_requests("model.safetensors")] == [500, 503, 200]

    hub.add_repo(REPO, {"model.safetensors": WEIGHTS[:1000] + b"x", "config.json": CONFIG})
    hub.fault(REPO, "model.safetensors").statuses = [500] * 10
    with pytest.raises(DownloadError) as failed:
        _run(HfDownloader(_plan(hub, cache), backoff_s=0.01, max_retries=3))
    assert "failed 3 times in a row: the server answered HTTP 500" in failed.value.message
    assert "resumes where it stopped" in failed.value.action


def test_wrong_bytes_are_deleted_never_installed_and_fetched_again(
    hub: FakeHub, cache: Path
) -> None:
    hub.fault(REPO, "model.safetensors").corrupt = True
    plan = _plan(hub, cache)
    with pytest.raises(IntegrityError) as damaged:
        _run(HfDownloader(plan))
    assert "model.safetensors of Qwen/Qwen3-0.6B is damaged: its sha256 is" in damaged.value.message
    assert not plan.blob_path(plan.files[1]).exists()
    assert not plan.part_path(plan.files[1]).exists()
    assert not (plan.snapshot_dir / "model.safetensors").exists()

    hub.fault(REPO, "model.safetensors").corrupt = False
    snapshot = _run(HfDownloader(plan))
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS


def test_disk_full_keeps_the_partial_file_and_resumes(
    hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = hf_download._write
    written = {"bytes": 0}

    class FullDisk:
        def write(self, _chunk: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def filling_write(handle: Any, chunk: bytes, plan: DownloadPlan, file: Any) -> None:
        if written["bytes"] + len(chunk) > 400_000 and file.path == "model.safetensors":
            real_write(FullDisk(), chunk, plan, file)
        written["bytes"] += len(chunk)
        real_write(handle, chunk, plan, file)

    monkeypatch.setattr(hf_download, "_write", filling_write)
    plan = _plan(hub, cache)
    with pytest.raises(DiskFullError) as full:
        _run(HfDownloader(plan))
    kept = plan.part_path(plan.files[1]).stat().st_size
    assert 0 < kept <= 400_000
    assert f"is full: model.safetensors stopped at {format_decimal_bytes(kept)} of 1.0 MB" in (
        full.value.message
    )
    assert "The partial file is kept." in full.value.message

    monkeypatch.setattr(hf_download, "_write", real_write)
    snapshot = _run(HfDownloader(plan))
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS
    assert hub.resolve_requests("model.safetensors")[-1].range_start == kept


def test_pause_resume_and_cancel(hub: FakeHub, cache: Path) -> None:
    hub.fault(REPO, "model.safetensors").rate_bytes_per_s = 4_000_000
    plan = _plan(hub, cache)
    part = plan.part_path(plan.files[1])

    async def scenario() -> None:
        downloader = HfDownloader(plan)
        task = asyncio.create_task(downloader.run())
        await _until(lambda: part.exists() and part.stat().st_size > 100_000)
        downloader.pause()
        await _until(lambda: downloader.state == "paused")
        paused_at = part.stat().st_size
        await asyncio.sleep(0.2)
        assert part.stat().st_size == paused_at  # nothing arrives while paused
        downloader.resume()
        await _until(lambda: part.stat().st_size > paused_at + 50_000)
        downloader.cancel()
        with pytest.raises(DownloadCancelledError):
            await task
        assert part.stat().st_size > paused_at  # partial kept for later

    asyncio.run(scenario())
    hub.fault(REPO, "model.safetensors").rate_bytes_per_s = None
    snapshot = _run(HfDownloader(plan))
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS
    # Each stop costs at most what the server had already pushed into the socket (one piece).
    assert hub.bytes_sent("model.safetensors") <= len(WEIGHTS) + 2 * 64 * 1024


async def _until(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from qwen_desktop.downloads.hf_plan import plan_download
    from qwen_desktop.downloads.hf_download import HfDownloader
    plan = plan_download("qwen3-0.6b", sys.argv[1], cache_dir=Path(sys.argv[2]))
    asyncio.run(HfDownloader(plan).run())
    """
)


@pytest.mark.slow
def test_killed_process_resumes_without_fetching_bytes_twice(hub: FakeHub, cache: Path) -> None:
    big = os.urandom(3_000_000)
    hub.add_repo(REPO, {"config.json": CONFIG, "model.safetensors": big})
    hub.fault(REPO, "model.safetensors").rate_bytes_per_s = 3_000_000
    plan = _plan(hub, cache)
    part = plan.part_path(plan.files[1])
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_TOKEN_PATH": str(cache.parent / "no-token"),  # never the user's token
        "PYTHONPATH": str(Path.cwd()),
    }
    child = subprocess.Popen([sys.executable, "-c", _CHILD, REPO, str(cache)], env=env)
    try:
        deadline = time.monotonic() + 20
        while not (part.exists() and part.stat().st_size >= 0.4 * len(big)):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    on_disk = part.stat().st_size
    assert 0.4 * len(big) <= on_disk < len(big)
    with pytest.raises(CheckpointError) as refused:  # C10: never loaded while incomplete
        inspect_checkpoint(plan.snapshot_dir)
    assert "model.safetensors is incomplete" in refused.value.message

    hub.fault(REPO, "model.safetensors").rate_bytes_per_s = None
    snapshot = _run(HfDownloader(plan))
    assert (snapshot / "model.safetensors").read_bytes() == big
    first, second = hub.resolve_requests("model.safetensors")
    assert second.range_start == on_disk  # every byte on disk kept
    fetched_twice = first.bytes_sent - on_disk
    assert 0 <= fetched_twice <= 2 * 64 * 1024  # only what was in flight at the kill


def test_c10_snapshot_with_an_unfinished_file_is_incomplete(hub: FakeHub, cache: Path) -> None:
    hub.fault(REPO, "model.safetensors").drop_after = [600_000] + [0] * 5
    plan = _plan(hub, cache)
    with pytest.raises(DownloadError):
        _run(HfDownloader(plan, backoff_s=0.001, max_retries=2))
    with pytest.raises(CheckpointError) as refused:
        inspect_checkpoint(plan.snapshot_dir)
    assert refused.value.message == (
        "model.safetensors is incomplete: 600,000 of 1,000,000 bytes (60 %). It will not be loaded."
    )
    assert "resume it" in refused.value.action


def test_offline_mode_and_gated_repositories(
    hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    hub.add_repo(REPO, {"config.json": CONFIG, "model.safetensors": WEIGHTS}, token="hf_secret")
    with pytest.raises(DownloadError) as gated:
        _plan(hub, cache)
    assert "gated" in gated.value.message and "HF_TOKEN" in gated.value.action

    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    snapshot = _run(HfDownloader(_plan(hub, cache)))
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OfflineError) as offline:
        _plan(hub, cache)
    assert "HF_HUB_OFFLINE" in offline.value.message


def test_stale_partials_are_cleaned(cache: Path) -> None:
    blobs = cache / "models--Qwen--Qwen3-0.6B" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "aaa.part").write_bytes(b"orphan")  # no sidecar
    (blobs / "bbb.part.json").write_text("{}")  # no part
    (blobs / "ccc").write_bytes(b"done")
    (blobs / "ccc.part").write_bytes(b"do")  # blob already complete
    (blobs / "ccc.part.json").write_text("{}")
    (blobs / "ddd.part").write_bytes(b"resumable")
    (blobs / "ddd.part.json").write_text("{}")
    (blobs / "fff.part").write_bytes(b"being written")  # fresh: may be in use, kept
    for path in blobs.iterdir():
        if path.name != "fff.part":
            os.utime(path, (time.time() - 120,) * 2)
    old = blobs / "eee.abc.incomplete"
    old.write_bytes(b"hub leftovers")
    os.utime(old, (time.time() - 30 * 86400,) * 2)

    deleted = {p.name for p in clean_stale_partials(cache)}

    assert deleted == {
        "aaa.part",
        "bbb.part.json",
        "ccc.part",
        "ccc.part.json",
        "eee.abc.incomplete",
    }
    assert (blobs / "ddd.part").exists() and (blobs / "ccc").exists()
    assert (blobs / "fff.part").exists()
