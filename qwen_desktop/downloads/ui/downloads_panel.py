"""The Downloads page: start a download, and one row per job with its progress and controls."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.core.units import format_bytes, format_decimal_bytes
from qwen_desktop.downloads.service import DownloadJob
from qwen_desktop.downloads.ui.downloads_controller import DownloadsController

PROGRESS_STEPS = 1000


def describe_job(job: DownloadJob) -> str:
    """The detail line of a job: bytes, speed and time left, or its error."""
    sizes = f"{format_decimal_bytes(job.bytes_done)} of {format_decimal_bytes(job.total_bytes)}"
    if job.state == "downloading":
        if not job.total_bytes:
            return "Asking the Hub for the file list…"
        eta = job.eta_s
        left = (
            ""
            if eta is None
            else (f", {eta / 60:.0f} min left" if eta >= 90 else f", {eta:.0f} s left")
        )
        return f"{sizes}, {format_bytes(job.speed_bytes_per_s)}/s{left}"
    if job.state == "failed":
        return f"{job.error} {job.action}".strip()
    if job.state == "done":
        return f"Installed: {job.snapshot}"
    return {"queued": f"Waiting ({sizes})", "paused": f"Paused at {sizes}"}.get(
        job.state, job.state.capitalize()
    )


class DownloadRow(QFrame):
    """One job: name, progress bar, detail line, Pause/Resume and Cancel."""

    def __init__(self, job: DownloadJob, controller: DownloadsController) -> None:
        super().__init__()
        self.job_id = job.id
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, PROGRESS_STEPS)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.pause_button)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        self._controller = controller
        self._state = job.state
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.cancel_button.clicked.connect(lambda: controller.cancel(self.job_id))
        self.update_job(job)

    def update_job(self, job: DownloadJob) -> None:
        self._state = job.state
        quant = f" {job.quant}" if job.quant else ""
        self.title.setText(f"<b>{job.model_id}</b> — {job.repo_id} ({job.format}{quant})")
        self.bar.setValue(round(job.fraction * PROGRESS_STEPS))
        self.detail.setText(describe_job(job))
        active = job.state in {"queued", "downloading"}
        self.pause_button.setText(
            "Pause" if active else ("Retry" if job.state == "failed" else "Resume")
        )
        self.pause_button.setVisible(job.state != "done")
        self.cancel_button.setVisible(active or job.state == "paused")

    def _on_pause_button_clicked(self) -> None:
        if self._state in {"queued", "downloading"}:
            self._controller.pause(self.job_id)
        else:
            self._controller.resume(self.job_id)


class DownloadsPanel(QWidget):
    """The page: a model field with format and quantization, and the jobs, newest last."""

    def __init__(self, controller: DownloadsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("Model: qwen3-8b, Qwen/Qwen3-8B or qwen3:8b")
        self.format_combo = QComboBox()
        self.format_combo.addItems(["safetensors", "gguf", "ollama"])
        self.format_combo.setToolTip(
            "safetensors: the Hugging Face checkpoint; gguf: one GGUF file (quantization); "
            "ollama: pull the model's Ollama tag into the running Ollama engine"
        )
        self.quant_edit = QLineEdit()
        self.quant_edit.setPlaceholderText("Q4_K_M")
        self.quant_edit.setEnabled(False)
        self.download_button = QPushButton("Download")
        self.message = QLabel()
        self.message.setWordWrap(True)
        form = QHBoxLayout()
        form.addWidget(self.model_edit, 1)
        form.addWidget(self.format_combo)
        form.addWidget(self.quant_edit)
        form.addWidget(self.download_button)
        self.rows: dict[str, DownloadRow] = {}
        holder = QWidget()
        self.list_layout = QVBoxLayout(holder)
        self.list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(scroll, 1)
        self.format_combo.currentTextChanged.connect(
            lambda fmt: self.quant_edit.setEnabled(fmt == "gguf")
        )
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.model_edit.returnPressed.connect(self._on_download_button_clicked)
        controller.job_changed.connect(self._on_downloads_job_changed)
        controller.request_refused.connect(self._on_downloads_request_refused)
        for job in controller.jobs:
            self._on_downloads_job_changed(job)

    def _on_download_button_clicked(self) -> None:
        name = self.model_edit.text().strip()
        if not name:
            self.message.setText("Type a model id first (see the Models page).")
            return
        self.message.clear()
        fmt = self.format_combo.currentText()
        quant = self.quant_edit.text().strip() if fmt == "gguf" else None
        self.controller.add(name, fmt, quant or None)

    def _on_downloads_request_refused(self, message: str, action: str) -> None:
        self.message.setText(f"{message} {action}".strip())

    def _on_downloads_job_changed(self, job: DownloadJob) -> None:
        row = self.rows.get(job.id)
        if row is None:
            row = DownloadRow(job, self.controller)
            self.rows[job.id] = row
            self.list_layout.insertWidget(self.list_layout.count() - 1, row)
        else:
            row.update_job(job)
