"""The Downloads page (offscreen) against a local Hub: start, progress, pause/resume, refusals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.downloads.service import DownloadQueue
from qwen_desktop.downloads.ui.downloads_controller import DownloadsController
from qwen_desktop.downloads.ui.downloads_panel import PROGRESS_STEPS, DownloadsPanel
from qwen_desktop.gui import App
from tests.fixtures.hub_server import FakeHub, go_online
from tests.fixtures.polling import until

pytestmark = pytest.mark.gui
REPO = "Qwen/Qwen3-0.6B"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub() as server:
        go_online(monkeypatch, tmp_path, server)
        server.add_repo(REPO, {"config.json": b"{}", "model.safetensors": os.urandom(200_000)})
        yield server


@pytest.fixture
def panel(qapp: QApplication, qtbot: object, tmp_path: Path, hub: FakeHub) -> DownloadsPanel:
    queue = DownloadQueue(tmp_path / "downloads.json", tmp_path / "Modèles")
    widget = DownloadsPanel(DownloadsController(queue, load_catalog()))
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    widget.show()
    return widget


@pytest.mark.asyncio
async def test_download_pause_resume_and_finish(panel: DownloadsPanel, hub: FakeHub) -> None:
    hub.fault(REPO, "model.safetensors").rate_bytes_per_s = 200_000
    panel.controller.start()
    panel.model_edit.setText("qwen3:0.6b")
    panel.download_button.click()
    await until(lambda: len(panel.rows) == 1, timeout=5)
    (row,) = panel.rows.values()
    assert "qwen3-0.6b" in row.title.text()
    await until(lambda: row.bar.value() > 0, timeout=5)
    row.pause_button.click()
    await until(lambda: row.detail.text().startswith("Paused at"), timeout=5)
    assert row.pause_button.text() == "Resume"
    hub.fault(REPO, "model.safetensors").rate_bytes_per_s = None
    row.pause_button.click()
    await until(lambda: row.detail.text().startswith("Installed:"), timeout=5)
    assert row.bar.value() == PROGRESS_STEPS
    assert not row.pause_button.isVisible()
    await panel.controller.shutdown()


def test_refused_requests_say_why(panel: DownloadsPanel) -> None:
    panel.download_button.click()
    assert "Type a model id" in panel.message.text()
    panel.format_combo.setCurrentText("gguf")
    assert panel.quant_edit.isEnabled()
    panel.model_edit.setText("qwen3-0.6b")
    panel.download_button.click()
    assert "no official GGUF repository" in panel.message.text()
    assert not panel.rows


def test_the_window_has_a_downloads_page(app_window: App) -> None:
    tabs = [app_window.shell.tabs.tabText(i) for i in range(app_window.shell.tabs.count())]
    assert tabs.index("Downloads") == tabs.index("Models") + 1
