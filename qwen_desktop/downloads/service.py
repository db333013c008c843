"""The download queue: a few downloads at once, persisted, resumed at start-up.

Jobs are Hugging Face downloads (``safetensors`` or ``gguf``) or Ollama pulls (format
``ollama``: the tag is pulled through the Ollama server :class:`DownloadQueue` is told about;
Ollama keeps the layers already fetched, so pausing and resuming re-fetches nothing).

Jobs live in ``<data dir>/downloads.json`` (written atomically on every state change and at most
once a second while bytes arrive). A job that was downloading when the app stopped (or crashed)
is queued again by :meth:`DownloadQueue.load` and :meth:`DownloadQueue.start` picks it up; its
bytes already on disk are kept (see :mod:`qwen_desktop.downloads.hf_download`). Pausing stops a
job between chunks and frees its slot; resuming queues it again.

A damaged queue file is moved aside (``downloads.json.broken-<unix time>``) with a logged
warning, never overwritten silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_desktop.core.catalog import Catalog
from qwen_desktop.core.errors import CatalogError, QwenDesktopError
from qwen_desktop.downloads.hf_cache import IntegrityError, clean_stale_partials
from qwen_desktop.downloads.hf_plan import (
    DownloadError,
    DownloadPlan,
    check_free_space,
    free_bytes_at,
    plan_download,
)

if TYPE_CHECKING:  # hf_download (httpx) loads with the first download: the window paints first
    from qwen_desktop.downloads.hf_download import DownloadProgress, HfDownloader

_log = logging.getLogger(__name__)

QUEUE_FILE_NAME = "downloads.json"
DEFAULT_PARALLEL = 2
"""Downloads at once: two keep a home connection busy without splitting it into slivers."""
PERSIST_INTERVAL_S = 1.0

ACTIVE_STATES = frozenset({"queued", "downloading"})


@dataclass
class DownloadJob:
    """One queued download (the persisted record).

    Attributes:
        id: Stable id (12 hex digits).
        model_id: What was asked for (catalog id or repository).
        repo_id: The repository fetched.
        format: ``safetensors``, ``gguf`` or ``ollama`` (``repo_id`` is then the Ollama tag).
        quant: GGUF quantization, else ``None``.
        revision: Branch or commit.
        state: ``queued``, ``downloading``, ``paused``, ``done``, ``failed`` or ``cancelled``.
        bytes_done: Bytes on disk (last report).
        total_bytes: Size of the download (0 until planned).
        speed_bytes_per_s: Last measured speed.
        eta_s: Seconds left at that speed, when known.
        error: The error message of a failed job.
        action: What to do about it.
        refetch: True when the failure was damaged data (downloading again is the fix).
        snapshot: The installed model folder of a finished job.
        added_at: Unix time the job was added.
    """

    id: str
    model_id: str
    repo_id: str
    format: str = "safetensors"
    quant: str | None = None
    revision: str = "main"
    state: str = "queued"
    bytes_done: int = 0
    total_bytes: int = 0
    speed_bytes_per_s: float = 0.0
    eta_s: float | None = None
    error: str = ""
    action: str = ""
    refetch: bool = False
    snapshot: str = ""
    added_at: float = field(default_factory=time.time)

    @property
    def fraction(self) -> float:
        """Share done, 0…1."""
        return self.bytes_done / self.total_bytes if self.total_bytes else 0.0


def resolve_request(catalog: Catalog, name: str, fmt: str) -> tuple[str, str]:
    """``(model_id, repo_id)`` for what a person typed: a catalog id, repository or Ollama tag
    of the catalog, or any ``owner/name`` repository.

    For ``fmt == "ollama"`` the second item is the Ollama tag (the catalog's, or any
    ``name:tag`` typed).

    Raises:
        DownloadError: GGUF asked for a variant without an official GGUF repository, or an
            Ollama pull for a variant Ollama's library does not have.
        CatalogError: Not in the catalog and not an ``owner/name`` repository (or tag).
    """
    try:
        variant = catalog.resolve(name)
    except CatalogError:
        if fmt == "ollama" and ":" in name and "/" not in name and " " not in name:
            return name, name
        if fmt != "ollama" and name.count("/") == 1 and " " not in name:
            return name, name
        raise
    if fmt == "ollama":
        if variant.ollama is None:
            raise DownloadError(
                f"{variant.display_name} is not in Ollama's library.",
                "Download it from Hugging Face instead (format safetensors or gguf).",
            )
        return variant.id, variant.ollama.tag
    if fmt != "gguf":
        return variant.id, variant.hf_repo
    if variant.gguf_repo is None:
        raise DownloadError(
            f"{variant.display_name} has no official GGUF repository in the catalog.",
            "Download the safetensors checkpoint (--format safetensors), or name a GGUF "
            "repository directly (owner/name).",
        )
    return variant.id, variant.gguf_repo


Listener = Callable[[DownloadJob], None]


class DownloadQueue:
    """Runs queued downloads, a few at once.

    Args:
        state_file: The persisted queue (``<data dir>/downloads.json``).
        cache_dir: The huggingface_hub cache the models go to.
        max_parallel: Downloads at once.
        endpoint: Hub base URL (default ``HF_ENDPOINT`` or huggingface.co).
        free_bytes: Measures free space (tests pass a stand-in).
        downloader_options: Extra keyword arguments for each
            :class:`~qwen_desktop.downloads.hf_download.HfDownloader`.
        ollama_url: Gives the URL of the Ollama server to pull ``ollama`` jobs into, or
            ``None`` when none runs (such jobs then fail, saying how to start one).
    """

    def __init__(
        self,
        state_file: Path,
        cache_dir: Path,
        *,
        max_parallel: int = DEFAULT_PARALLEL,
        endpoint: str | None = None,
        free_bytes: Callable[[Path], int] = free_bytes_at,
        downloader_options: dict[str, Any] | None = None,
        ollama_url: Callable[[], str | None] | None = None,
    ) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.state_file = state_file
        self.cache_dir = cache_dir
        self.max_parallel = max_parallel
        self._endpoint = endpoint
        self._free_bytes = free_bytes
        self._options = downloader_options or {}
        self.ollama_url = ollama_url or (lambda: None)
        self._jobs: dict[str, DownloadJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._downloaders: dict[str, HfDownloader] = {}
        self._stop_as: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._last_persist = 0.0
        self._started = False
        self._load()

    # -- persistence -------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            raw = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        try:
            rows = json.loads(raw)["jobs"]
            known = {f.name for f in fields(DownloadJob)}
            jobs = [DownloadJob(**{k: v for k, v in row.items() if k in known}) for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            aside = self.state_file.with_name(f"{self.state_file.name}.broken-{int(time.time())}")
            os.replace(self.state_file, aside)
            _log.warning(
                "download queue %s is damaged (%s); moved to %s", self.state_file, exc, aside
            )
            return
        for job in jobs:
            if job.state == "downloading":  # the app stopped mid-download: resume it
                job.state = "queued"
            self._jobs[job.id] = job

    def _persist(self, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._last_persist < PERSIST_INTERVAL_S:
            return
        self._last_persist = now
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        payload = {"version": 1, "jobs": [asdict(job) for job in self._jobs.values()]}
        tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)

    # -- queries and listeners ---------------------------------------------------------------

    @property
    def jobs(self) -> list[DownloadJob]:
        """All jobs, oldest first."""
        return sorted(self._jobs.values(), key=lambda job: job.added_at)

    def get(self, job_id: str) -> DownloadJob:
        """The job with this id (``KeyError`` when unknown)."""
        return self._jobs[job_id]

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(job)`` on every state change and progress report."""
        self._listeners.append(listener)

    def _changed(self, job: DownloadJob, force: bool = True) -> None:
        self._persist(force)
        for listener in self._listeners:
            listener(job)

    # -- commands ----------------------------------------------------------------------------

    def add(
        self, model_id: str, repo_id: str, fmt: str = "safetensors", quant: str | None = None
    ) -> DownloadJob:
        """Queue a download (the same unfinished download is not queued twice)."""
        for job in self._jobs.values():
            same = (job.repo_id, job.format, job.quant) == (repo_id, fmt, quant)
            if same and job.state not in {"done", "cancelled"}:
                if job.state in {"failed", "paused"}:
                    self.resume(job.id)
                return job
        job = DownloadJob(uuid.uuid4().hex[:12], model_id, repo_id, fmt, quant)
        self._jobs[job.id] = job
        self._changed(job)
        self._pump()
        return job

    def start(self) -> None:
        """Clean orphaned partial files, then run queued jobs (call once the event loop runs)."""
        if not self._started:
            try:
                for path in clean_stale_partials(self.cache_dir):
                    _log.info("removed stale partial download %s", path)
            except OSError as exc:
                _log.warning("could not clean partial downloads in %s: %s", self.cache_dir, exc)
        self._started = True
        self._pump()

    def pause(self, job_id: str) -> None:
        """Stop a job between chunks, keeping its bytes; it stays paused until :meth:`resume`."""
        self._stop(job_id, "paused")

    def cancel(self, job_id: str) -> None:
        """Stop a job and drop it from the active list (partial files stay for a later pull)."""
        self._stop(job_id, "cancelled")

    def resume(self, job_id: str) -> None:
        """Queue a paused, failed or cancelled job again."""
        job = self._jobs[job_id]
        if job.state in {"paused", "failed", "cancelled"}:
            job.state, job.error, job.action, job.refetch = "queued", "", "", False
            self._changed(job)
            self._pump()

    def _stop(self, job_id: str, state: str) -> None:
        job = self._jobs[job_id]
        downloader = self._downloaders.get(job_id)
        if downloader is not None:
            self._stop_as[job_id] = state
            downloader.cancel()
        elif job_id in self._tasks:  # still planning
            self._stop_as[job_id] = state
            self._tasks[job_id].cancel()
        elif job.state in ACTIVE_STATES or job.state == "paused":
            job.state = state
            self._changed(job)

    async def wait(self, job_id: str) -> DownloadJob:
        """Wait until the job is no longer queued or downloading; returns it."""
        while self._jobs[job_id].state in ACTIVE_STATES:
            task = self._tasks.get(job_id)
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(task)
            else:
                await asyncio.sleep(0.05)
        return self._jobs[job_id]

    async def close(self) -> None:
        """Stop running jobs (they stay queued, to resume at the next start) and save."""
        self._started = False
        for job_id in list(self._tasks):
            self._stop(job_id, "queued")
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._persist()

    # -- running -----------------------------------------------------------------------------

    def _pump(self) -> None:
        if not self._started:
            return
        for job in self.jobs:
            if len(self._tasks) >= self.max_parallel:
                return
            if job.state == "queued" and job.id not in self._tasks:
                self._tasks[job.id] = asyncio.get_running_loop().create_task(self._run(job))

    async def _pull(self, job: DownloadJob) -> None:
        """Pull an Ollama tag (pause and cancel cancel this task; Ollama keeps the layers)."""
        from qwen_desktop.downloads.ollama_pull import pull_ollama_model

        url = self.ollama_url()
        if not url:
            raise DownloadError(
                f"No Ollama engine runs to pull {job.repo_id} into.",
                "Choose the Ollama engine (Engine menu), then resume the download.",
            )

        def on_progress(progress: DownloadProgress) -> None:
            job.bytes_done, job.total_bytes = progress.bytes_done, progress.total_bytes
            job.speed_bytes_per_s, job.eta_s = progress.speed_bytes_per_s, progress.eta_s
            self._changed(job, force=False)

        await pull_ollama_model(url, job.repo_id, on_progress=on_progress)
        job.state, job.snapshot = "done", f"{job.repo_id} in the Ollama at {url}"
        job.bytes_done = job.total_bytes

    def _plan(self, job: DownloadJob) -> DownloadPlan:
        plan = plan_download(
            job.model_id,
            job.repo_id,
            job.format,
            job.quant,
            cache_dir=self.cache_dir,
            revision=job.revision,
            endpoint=self._endpoint,
        )
        check_free_space(plan, self._free_bytes)
        return plan

    async def _run(self, job: DownloadJob) -> None:
        from qwen_desktop.downloads.hf_download import DownloadCancelledError, HfDownloader

        job.state, job.error, job.action = "downloading", "", ""
        self._changed(job)
        try:
            if job.format == "ollama":
                await self._pull(job)
                return
            plan = await asyncio.to_thread(self._plan, job)
            job.total_bytes = plan.total_bytes
            job.bytes_done = plan.total_bytes - plan.missing_bytes()

            def on_progress(progress: DownloadProgress) -> None:
                job.bytes_done, job.total_bytes = progress.bytes_done, progress.total_bytes
                job.speed_bytes_per_s, job.eta_s = progress.speed_bytes_per_s, progress.eta_s
                self._changed(job, force=False)

            downloader = HfDownloader(plan, on_progress=on_progress, **self._options)
            self._downloaders[job.id] = downloader
            snapshot = await downloader.run()
            job.state, job.snapshot = "done", str(snapshot)
            job.bytes_done = job.total_bytes
        except (DownloadCancelledError, asyncio.CancelledError):
            job.state = self._stop_as.pop(job.id, "cancelled")
        except QwenDesktopError as exc:
            job.state, job.error, job.action = "failed", exc.message, exc.action
            job.refetch = isinstance(exc, IntegrityError)
        except Exception as exc:  # never lose a job silently: record what happened
            _log.exception("download %s failed", job.id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            job.action = "Try again; if it repeats, report it with the log."
        finally:
            self._downloaders.pop(job.id, None)
            self._tasks.pop(job.id, None)
            self._stop_as.pop(job.id, None)
            self._changed(job)
            self._pump()
