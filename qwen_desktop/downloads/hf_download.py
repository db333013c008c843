"""Resumable, verified Hugging Face downloads into huggingface_hub's cache layout.

huggingface_hub 2.x restarts a killed download from byte 0 (its ``<etag>.<uuid>.incomplete`` files
are never resumed across processes). :class:`HfDownloader` fetches each file of a
:class:`~qwen_desktop.downloads.hf_plan.DownloadPlan` itself, with HTTP ``Range`` requests on the
file's resolve URL, into ``blobs/<etag>.part``:

* every received piece is written unbuffered before the next is read, so a killed process loses
  at most the piece in flight (:data:`READ_BYTES`); the part's length is the resume offset, and a
  JSON sidecar (``<etag>.part.json``) records what the part belongs to;
* the part is named by the content's ETag (sha256 for LFS files), so a new commit with the same
  file resumes it, and a different file never does;
* when complete, the content is checked (sha256 for LFS files, the git blob sha1 otherwise); a
  mismatch deletes the part and raises :class:`IntegrityError` (download again); only verified
  content becomes ``blobs/<etag>`` and is linked from ``snapshots/<commit>/<path>``, so an
  incomplete or wrong file is never seen by a loader (case C10);
* dropped connections and HTTP 5xx are retried with exponential backoff, a bounded number of
  times in a row; a full disk (``ENOSPC``) stops with the partial file kept;
* ``pause()``/``resume()``/``cancel()`` act between chunks; progress (bytes, speed, ETA) is
  reported at most every ``progress_interval_s``.

Concurrent downloads of the same blob (this app twice, or huggingface_hub) are excluded with the
same lock file huggingface_hub uses (``<cache>/.locks/<repo folder>/<etag>.lock``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from qwen_desktop.core.units import format_bytes, format_decimal_bytes
from qwen_desktop.downloads.hf_cache import (
    FollowingHasher,
    discard_part,
    link_snapshot,
    prepare_part,
    verify_and_install,
    write_ref,
)
from qwen_desktop.downloads.hf_plan import (
    DownloadError,
    DownloadPlan,
    RemoteFile,
    hub_token,
)
from qwen_desktop.engines.http_clients import http_client

READ_BYTES = 64 * 1024
"""httpcore reads the socket 64 KiB at a time (``READ_NUM_BYTES``); each piece is written as it
arrives, so a kill costs at most one piece (plus what sat in the socket buffer) to fetch again."""
FSYNC_EVERY_BYTES = 64 * 1024 * 1024
"""``os.fsync`` the part every 64 MiB, so a power cut also loses little."""
SPEED_WINDOW_S = 5.0
"""Speed is measured over the last 5 s of progress."""


class DiskFullError(DownloadError):
    """The disk filled up during a download; the partial file is kept for resuming."""


class DownloadCancelledError(DownloadError):
    """The download was cancelled (its partial files are kept unless asked otherwise)."""


@dataclass(frozen=True)
class DownloadProgress:
    """A snapshot of a download's progress.

    Attributes:
        state: ``downloading``, ``retrying``, ``paused``, ``verifying`` or ``done``.
        file: The file in progress (repository path).
        file_bytes: Bytes of that file on disk.
        file_total_bytes: Its size.
        bytes_done: Bytes of the whole plan on disk.
        total_bytes: Size of the whole plan.
        speed_bytes_per_s: Network speed over the last :data:`SPEED_WINDOW_S` seconds.
        eta_s: Seconds left at that speed; ``None`` when unknown.
    """

    state: str
    file: str
    file_bytes: int
    file_total_bytes: int
    bytes_done: int
    total_bytes: int
    speed_bytes_per_s: float
    eta_s: float | None

    @property
    def fraction(self) -> float:
        """``bytes_done / total_bytes`` (1.0 for an empty plan)."""
        return self.bytes_done / self.total_bytes if self.total_bytes else 1.0


ProgressCallback = Callable[[DownloadProgress], None]


class HfDownloader:
    """Fetches one plan; build one per download.

    Args:
        plan: What to fetch (see :func:`~qwen_desktop.downloads.hf_plan.plan_download`).
        token: Access token; default ``HF_TOKEN`` or the stored one.
        on_progress: Called with a :class:`DownloadProgress`, throttled.
        progress_interval_s: Least seconds between two progress calls (state changes always
            report).
        max_retries: Failed attempts in a row (without a new byte) before giving up.
        backoff_s: First retry delay; doubled each time (capped at 30 s).
        client: An ``httpx.AsyncClient`` to use (default: one per run, redirects followed).
    """

    def __init__(
        self,
        plan: DownloadPlan,
        *,
        token: str | None = None,
        on_progress: ProgressCallback | None = None,
        progress_interval_s: float = 0.25,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.plan = plan
        self._token = token
        self._on_progress = on_progress
        self._interval = progress_interval_s
        self._max_retries = max_retries
        self._backoff = backoff_s
        self._client = client
        self._resume_event = asyncio.Event()
        self._resume_event.set()
        self._pause_requested = False
        self._cancel_requested = False
        self._last_report = 0.0
        self._samples: deque[tuple[float, int]] = deque()
        self._done_before_file = 0
        self.bytes_fetched = 0
        """Bytes received from the network in this run (for measurements)."""
        self.state = "queued"
        self._hasher: FollowingHasher

    # -- control -----------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop after the current chunk and wait for :meth:`resume` (the connection is closed)."""
        self._pause_requested = True
        self._resume_event.clear()

    def resume(self) -> None:
        """Continue a paused download from the bytes on disk."""
        self._pause_requested = False
        self._resume_event.set()

    def cancel(self) -> None:
        """Stop after the current chunk; :meth:`run` raises :class:`DownloadCancelledError`."""
        self._cancel_requested = True
        self._resume_event.set()

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> Path:
        """Fetch, verify and install every file of the plan.

        Returns:
            The snapshot folder (``…/snapshots/<commit>``), a complete model folder.

        Raises:
            DownloadError: HTTP errors (after retries), access refused, not found.
            IntegrityError: A file does not match its hash (its part was deleted).
            DiskFullError: The disk filled up (partial kept).
            DownloadCancelledError: :meth:`cancel` was called.
        """
        plan = self.plan
        (plan.repo_folder / "blobs").mkdir(parents=True, exist_ok=True)
        headers = {"Accept-Encoding": "identity", "User-Agent": "qwen-desktop"}
        token = hub_token(self._token)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        own_client = self._client is None
        client = self._client or http_client(
            plan.endpoint, follow_redirects=True, read_timeout_s=30.0, connect_timeout_s=15.0
        )
        try:
            for file in plan.files:
                self._done_before_file = sum(
                    plan.bytes_on_disk(f) for f in plan.files if f is not file
                )
                blob = plan.blob_path(file)
                if not blob.is_file() or blob.stat().st_size != file.size_bytes:
                    await self._fetch_locked(client, file, headers)
                link_snapshot(plan, file)
        finally:
            if own_client:
                await client.aclose()
        write_ref(plan)
        self.state = "done"
        total = plan.total_bytes
        self._report("done", plan.files[-1] if plan.files else None, total, force=True)
        return plan.snapshot_dir

    async def _fetch_locked(
        self, client: httpx.AsyncClient, file: RemoteFile, headers: dict[str, str]
    ) -> None:
        from filelock import FileLock, Timeout

        lock_path = (
            self.plan.cache_dir / ".locks" / self.plan.repo_folder.name / f"{file.etag}.lock"
        )
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout as exc:
            raise DownloadError(
                f"{file.path} of {self.plan.repo_id} is being downloaded by another process.",
                "Wait for that download to finish (or stop it), then try again.",
            ) from exc
        try:
            if not self.plan.blob_path(file).is_file():
                await self._fetch(client, file, headers)
        finally:
            lock.release()

    async def _fetch(
        self, client: httpx.AsyncClient, file: RemoteFile, headers: dict[str, str]
    ) -> None:
        plan = self.plan
        part = plan.part_path(file)
        prepare_part(plan, file)
        self._hasher = FollowingHasher(part, file)
        try:
            await self._fetch_loop(client, file, headers)
            self.state = "verifying"
            self._report("verifying", file, file.size_bytes, force=True)
            digest = await asyncio.to_thread(self._hasher.finish)
        finally:
            self._hasher.abort()
        await asyncio.to_thread(verify_and_install, plan, file, digest)

    def _restart_part(self, file: RemoteFile) -> None:
        """Throw the part away and start it again (the server cannot resume it)."""
        self._hasher.abort()
        discard_part(self.plan, file)
        prepare_part(self.plan, file)
        self._hasher = FollowingHasher(self.plan.part_path(file), file)

    async def _fetch_loop(
        self, client: httpx.AsyncClient, file: RemoteFile, headers: dict[str, str]
    ) -> None:
        plan = self.plan
        part = plan.part_path(file)
        failures = 0
        while True:
            await self._wait_if_paused(file)
            offset = part.stat().st_size
            if offset >= file.size_bytes:
                break
            self.state = "downloading"
            try:
                got = await self._stream(client, file, headers, offset)
            except _RetryableError as exc:
                failures = 0 if exc.progressed else failures + 1
                if failures >= self._max_retries:
                    raise DownloadError(
                        f"Downloading {file.path} of {plan.repo_id} failed {failures} times in a "
                        f"row: {exc.reason}. {format_decimal_bytes(part.stat().st_size)} of "
                        f"{format_decimal_bytes(file.size_bytes)} are kept.",
                        "Check your connection and start the download again: it resumes "
                        "where it stopped.",
                    ) from exc
                self.state = "retrying"
                self._report("retrying", file, part.stat().st_size, force=True)
                await asyncio.sleep(min(30.0, self._backoff * 2 ** max(failures - 1, 0)))
                continue
            if got:
                failures = 0

    async def _wait_if_paused(self, file: RemoteFile) -> None:
        if self._cancel_requested:
            raise DownloadCancelledError(
                f"The download of {self.plan.model_id} was cancelled.",
                "Start it again to resume from the bytes already on disk.",
            )
        if self._pause_requested:
            self.state = "paused"
            self._report("paused", file, self.plan.bytes_on_disk(file), force=True)
            await self._resume_event.wait()
            if self._cancel_requested:
                await self._wait_if_paused(file)

    async def _stream(
        self, client: httpx.AsyncClient, file: RemoteFile, headers: dict[str, str], offset: int
    ) -> bool:
        """One request from ``offset``; True when bytes were written. Raises _RetryableError."""
        plan = self.plan
        request_headers = dict(headers)
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        written = 0
        try:
            async with client.stream("GET", plan.url(file), headers=request_headers) as response:
                status = response.status_code
                if status == 416:
                    self._restart_part(file)
                    raise _RetryableError("the server refused the resume offset", False)
                if status >= 500 or status == 429:
                    raise _RetryableError(f"the server answered HTTP {status}", False)
                _raise_for_status(plan, file, status)
                if offset and status == 200:
                    offset = 0  # the server ignored Range: start over
                    self._restart_part(file)
                mode = "ab" if offset else "wb"
                with plan.part_path(file).open(mode, buffering=0) as handle:
                    synced = 0
                    async for chunk in response.aiter_raw():
                        if offset + written + len(chunk) > file.size_bytes:
                            raise _RetryableError("the server sent more bytes than expected", False)
                        _write(handle, chunk, plan, file)
                        written += len(chunk)
                        self._hasher.advance(offset + written)
                        self.bytes_fetched += len(chunk)
                        if written - synced >= FSYNC_EVERY_BYTES:
                            os.fsync(handle.fileno())
                            synced = written
                        self._report("downloading", file, offset + written)
                        if self._pause_requested or self._cancel_requested:
                            break
                    os.fsync(handle.fileno())
        except httpx.TransportError as exc:
            raise _RetryableError(
                f"the connection was lost ({type(exc).__name__})", written > 0
            ) from exc
        if (
            not (self._pause_requested or self._cancel_requested)
            and offset + written < file.size_bytes
        ):
            raise _RetryableError("the connection closed before the end of the file", written > 0)
        return written > 0

    def _report(
        self, state: str, file: RemoteFile | None, file_bytes: int, force: bool = False
    ) -> None:
        now = time.monotonic()
        done = self._done_before_file + file_bytes if state != "done" else self.plan.total_bytes
        samples = self._samples
        samples.append((now, self.bytes_fetched))
        while len(samples) > 2 and now - samples[0][0] > SPEED_WINDOW_S:
            samples.popleft()
        if self._on_progress is None or (not force and now - self._last_report < self._interval):
            return
        self._last_report = now
        span = now - samples[0][0]
        speed = (self.bytes_fetched - samples[0][1]) / span if span > 0 else 0.0
        remaining = self.plan.total_bytes - done
        eta = remaining / speed if speed > 0 else (0.0 if remaining <= 0 else None)
        self._on_progress(
            DownloadProgress(
                state=state,
                file=file.path if file else "",
                file_bytes=file_bytes,
                file_total_bytes=file.size_bytes if file else 0,
                bytes_done=done,
                total_bytes=self.plan.total_bytes,
                speed_bytes_per_s=speed,
                eta_s=eta,
            )
        )


class _RetryableError(Exception):
    def __init__(self, reason: str, progressed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.progressed = progressed


def _write(handle: Any, chunk: bytes, plan: DownloadPlan, file: RemoteFile) -> None:
    try:
        handle.write(chunk)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            have = plan.part_path(file).stat().st_size
            raise DiskFullError(
                f"The disk holding {plan.cache_dir} is full: {file.path} stopped at "
                f"{format_decimal_bytes(have)} of {format_decimal_bytes(file.size_bytes)}. "
                "The partial file is kept.",
                f"Free up at least {format_decimal_bytes(plan.missing_bytes())}, then resume the "
                "download.",
            ) from exc
        raise DownloadError(
            f"Cannot write {plan.part_path(file)}: {exc.strerror or exc}.",
            "Check the models folder's permissions and the disk, then resume the download.",
        ) from exc


def _raise_for_status(plan: DownloadPlan, file: RemoteFile, status: int) -> None:
    if status in (200, 206):
        return
    where = f"{plan.repo_id}/{file.path} on {plan.endpoint}"
    if status in (401, 403):
        raise DownloadError(
            f"Access to {where} was refused (HTTP {status}).",
            "For a gated or private model, accept its licence on the Hub and set HF_TOKEN to "
            "a token of that account (or run `hf auth login`).",
        )
    if status == 404:
        raise DownloadError(
            f"{where} was not found (HTTP 404).",
            "The repository may have changed: plan the download again.",
        )
    raise DownloadError(f"{where}: unexpected HTTP {status}.", "Try again later.")


def describe_progress(progress: DownloadProgress) -> str:
    """One line for a terminal: ``"42 % 2.1 GB of 5.0 GB, 48.3 MiB/s, 1 min left"``."""
    eta = progress.eta_s
    if eta is None:
        left = "time left unknown"
    elif eta >= 90:
        left = f"{eta / 60:.0f} min left"
    else:
        left = f"{eta:.0f} s left"
    return (
        f"{100 * progress.fraction:3.0f} % {format_decimal_bytes(progress.bytes_done)} of "
        f"{format_decimal_bytes(progress.total_bytes)}, "
        f"{format_bytes(progress.speed_bytes_per_s)}/s, {left} [{progress.state}]"
    )
