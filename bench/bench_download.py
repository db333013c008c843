"""Benchmark: our resumable downloader against plain ``huggingface_hub``, same file, same server.

Run: ``.venv/bin/python bench/bench_download.py [--mb 256] [--repeat 3] [--kill-mb 64]``
(about half a minute; temporary files only; no network beyond 127.0.0.1).

1. **Throughput**: a local Hub (``tests/fixtures/hub_server.py``, in its own process so that it
   does not share the clients' interpreter lock) serves one ``--mb`` MB LFS file.
   :class:`~qwen_desktop.downloads.hf_download.HfDownloader` (Range fetch into a ``.part``,
   sha256 on a following thread, install into the cache layout) and
   ``huggingface_hub.hf_hub_download`` (no hash check) each fetch it into an empty cache,
   alternately, ``--repeat`` times. Reported: median MB/s of each and the ratio ours ÷ hub
   (goal ≥ 0.95).
2. **Kill at 50 %**: a child process downloads a ``--kill-mb`` MB file (the server sends at
   ``--kill-rate`` MB/s so that the kill lands mid-file), is killed with SIGKILL once its
   ``.part`` holds half the file, then a second run finishes it. Reported: bytes on disk at the
   kill, where the second run's Range started, and bytes fetched twice = bytes the server sent
   in the first run minus bytes on disk at the kill (goal: none beyond the last unflushed piece,
   64 KiB, plus what sat in the kernel's socket buffers when the process died).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "0"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

from qwen_desktop.downloads.hf_download import READ_BYTES, HfDownloader  # noqa: E402
from qwen_desktop.downloads.hf_plan import plan_download  # noqa: E402
from tests.fixtures.hub_server import FakeHub  # noqa: E402

REPO = "Qwen/Qwen3-0.6B"
FILE = "model.safetensors"


def _start_server(weights: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.hub_server", "--repo", REPO, str(weights)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    if not line.startswith("HF_ENDPOINT="):
        server.kill()
        raise SystemExit(f"the hub server did not start: {line!r}")
    return server, line.removeprefix("HF_ENDPOINT=")


def throughput(megabytes: int, repeat: int, work: Path) -> None:
    from huggingface_hub import hf_hub_download

    weights = work / FILE
    with weights.open("wb") as handle:
        for _ in range(megabytes):
            handle.write(os.urandom(1_000_000))
    size = weights.stat().st_size
    server, url = _start_server(weights)
    ours: list[float] = []
    theirs: list[float] = []
    try:
        for round_index in range(repeat):
            for who in ("ours", "hub") if round_index % 2 == 0 else ("hub", "ours"):
                cache = work / f"cache-{who}-{round_index}"
                started = time.perf_counter()
                if who == "ours":
                    plan = plan_download("bench", REPO, cache_dir=cache, endpoint=url)
                    started = time.perf_counter()
                    asyncio.run(HfDownloader(plan).run())
                    ours.append(time.perf_counter() - started)
                else:
                    hf_hub_download(REPO, FILE, cache_dir=cache, endpoint=url)
                    theirs.append(time.perf_counter() - started)
                shutil.rmtree(cache)
    finally:
        server.terminate()
        server.wait(10)
    ours_mb_s = size / 1e6 / statistics.median(ours)
    hub_mb_s = size / 1e6 / statistics.median(theirs)
    print(f"throughput, {size / 1e6:.0f} MB file, median of {repeat} (alternating order):")
    print(f"  ours (Range fetch + sha256 + install): {ours_mb_s:8.1f} MB/s")
    print(f"  huggingface_hub hf_hub_download:      {hub_mb_s:8.1f} MB/s")
    print(f"  ratio ours / hub:                      {ours_mb_s / hub_mb_s:8.2f}  (goal >= 0.95)")
    print(f"  runs (s): ours {[round(t, 2) for t in ours]}, hub {[round(t, 2) for t in theirs]}")


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from qwen_desktop.downloads.hf_plan import plan_download
    from qwen_desktop.downloads.hf_download import HfDownloader
    plan = plan_download("bench", sys.argv[1], cache_dir=Path(sys.argv[2]), endpoint=sys.argv[3])
    asyncio.run(HfDownloader(plan).run())
    """
)


def kill_at_half(megabytes: int, rate_mb_s: float, work: Path) -> None:
    content = os.urandom(megabytes * 1_000_000)
    cache = work / "kill-cache"
    with FakeHub() as hub:
        hub.add_repo(REPO, {FILE: content})
        hub.fault(REPO, FILE).rate_bytes_per_s = rate_mb_s * 1e6
        plan = plan_download("bench", REPO, cache_dir=cache, endpoint=hub.url)
        part = plan.part_path(plan.files[0])
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, REPO, str(cache), hub.url], env=env, cwd=ROOT
        )
        while not (part.exists() and part.stat().st_size >= len(content) // 2):
            if child.poll() is not None:
                raise SystemExit("the child finished before it could be killed")
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        on_disk = part.stat().st_size
        first_sent = hub.bytes_sent(FILE)
        hub.fault(REPO, FILE).rate_bytes_per_s = None
        snapshot = asyncio.run(HfDownloader(plan).run())
        requests = hub.resolve_requests(FILE)
        ok = hashlib.sha256((snapshot / FILE).read_bytes()).hexdigest() == plan.files[0].sha256
    total_sent = sum(r.bytes_sent for r in requests)
    print(f"kill at 50 %, {len(content) / 1e6:.0f} MB file served at {rate_mb_s:g} MB/s:")
    share = 100 * on_disk / len(content)
    print(f"  on disk at the kill:            {on_disk:>12,} bytes ({share:.1f} %)")
    print(f"  second run's Range start:       {requests[-1].range_start:>12,} bytes")
    print(f"  sent by the server before kill: {first_sent:>12,} bytes")
    print(
        f"  fetched twice:                  {first_sent - on_disk:>12,} bytes "
        f"(one read piece = {READ_BYTES:,})"
    )
    print(f"  total sent / file size:         {total_sent / len(content):12.5f}")
    print(f"  sha256 of the result matches:   {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=256, help="throughput file size (MB)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kill-mb", type=int, default=64, help="kill-test file size (MB)")
    parser.add_argument(
        "--kill-rate", type=float, default=16.0, help="kill-test serving rate (MB/s)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    try:
        throughput(args.mb, args.repeat, work)
        kill_at_half(args.kill_mb, args.kill_rate, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
