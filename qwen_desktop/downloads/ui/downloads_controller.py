"""Qt face of the download queue (:mod:`qwen_desktop.downloads.service`)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from qwen_desktop.core.catalog import Catalog
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.downloads.service import DownloadJob, DownloadQueue, resolve_request


class DownloadsController(QObject):
    """Adds, pauses, resumes and cancels downloads; reports every change of a job.

    Signals:
        job_changed(DownloadJob): A :class:`~qwen_desktop.downloads.service.DownloadJob` changed
            (state or progress; progress is throttled by the downloader, 4 per second at most).
        request_refused(str, str): A download could not be queued (message, action).
    """

    job_changed = Signal(DownloadJob)
    request_refused = Signal(str, str)

    def __init__(self, queue: DownloadQueue, catalog: Catalog, parent: QObject | None = None):
        super().__init__(parent)
        self.queue = queue
        self.catalog = catalog
        queue.subscribe(self.job_changed.emit)

    @property
    def jobs(self) -> list[DownloadJob]:
        """All jobs, oldest first."""
        return self.queue.jobs

    def start(self) -> None:
        """Resume the queue saved by the last session (call once the event loop runs)."""
        self.queue.start()

    def add(self, name: str, fmt: str = "safetensors", quant: str | None = None) -> None:
        """Queue a download of ``name`` (catalog id, repository or Ollama tag of the catalog)."""
        try:
            model_id, repo_id = resolve_request(self.catalog, name.strip(), fmt)
        except QwenDesktopError as exc:
            self.request_refused.emit(exc.message, exc.action)
            return
        self.queue.add(model_id, repo_id, fmt, quant or None)

    def pause(self, job_id: str) -> None:
        self.queue.pause(job_id)

    def resume(self, job_id: str) -> None:
        self.queue.resume(job_id)

    def cancel(self, job_id: str) -> None:
        self.queue.cancel(job_id)

    async def shutdown(self) -> None:
        """Stop running downloads; they resume at the next start."""
        await self.queue.close()
