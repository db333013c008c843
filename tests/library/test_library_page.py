"""The Library page (offscreen) in the window as the app builds it, and the Models page's
Download action against a local Hub."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.settings import Settings, load_settings, save_settings
from qwen_desktop.downloads.service import DownloadQueue
from qwen_desktop.downloads.ui.downloads_controller import DownloadsController
from qwen_desktop.engines.base import LoadedModel, ModelSpec
from qwen_desktop.gui import App, add_model_download, build_window
from qwen_desktop.library.ui.library_model import Column, last_used_label
from qwen_desktop.models.ui.catalog_model import CatalogFitModel
from qwen_desktop.models.ui.model_download import ModelDownloadAction
from qwen_desktop.models.ui.models_page import ModelsPage
from tests.fixtures.hub_server import FakeHub, go_online
from tests.fixtures.polling import until
from tests.fixtures.scripted_backend import ScriptedBackend
from tests.fixtures.windows import Windows
from tests.library.test_library_move import make_cache, snapshot_of

pytestmark = pytest.mark.gui


@pytest.fixture
def window(windows: Windows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    """The app's window with a models folder (non-ASCII) chosen in the settings, holding one
    Hugging Face model, and an imported GGUF file."""
    monkeypatch.delenv("QWEN_DESKTOP_MODELS_DIR", raising=False)
    paths = AppPaths(tmp_path / "data", tmp_path / "config", tmp_path / "models")
    cache = tmp_path / "Modèles 模型"
    make_cache(cache, "Qwen/Qwen3-0.6B", weights=1_500_000)
    save_settings(paths.config_dir, Settings(models_dir=str(cache)))
    win = windows.keep(build_window(paths))
    gguf = tmp_path / "mes modèles" / "Qwen3-4B-Q4_K_M.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + b"\0" * 5000)
    win.library.library.import_path(gguf)
    win.shell.show()
    return win


def _texts(win: App) -> dict[str, list[str]]:
    model = win.library_page.proxy
    return {
        model.index(r, Column.MODEL).data(): [
            model.index(r, c).data() for c in range(model.columnCount())
        ]
        for r in range(model.rowCount())
    }


@pytest.mark.asyncio
async def test_library_lists_opens_and_records_last_use(
    window: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    tabs = [window.shell.tabs.tabText(i) for i in range(window.shell.tabs.count())]
    assert tabs.index("Library") == tabs.index("Downloads") + 1
    page = window.library_page
    assert "Modèles 模型" in page.folder_label.text()
    window.library.refresh()
    await until(lambda: page.model.rowCount() == 2, timeout=10)
    rows = _texts(window)
    assert rows["Qwen/Qwen3-0.6B"][1:] == [
        "Hugging Face cache",
        "safetensors",
        "—",
        "1.5 MB",
        "never",
    ]
    assert rows["Qwen3-4B-Q4_K_M.gguf"][1:4] == ["Imported GGUF file", "gguf", "Q4_K_M"]
    assert page.summary.text().startswith("2 models, 1.5 MB")
    # The catalog marks the cached model installed, so the Models page offers no download.
    catalog = window.catalog
    assert catalog.is_installed(catalog.catalog.get("qwen3-0.6b"))
    assert not catalog.is_installed(catalog.catalog.get("qwen3-8b"))

    assert page.select_model(str(window.library.library.imported()[0].id))
    assert not page.open_button.isEnabled()  # GGUF: not for the Transformers engine
    assert "Ollama" in page.open_button.toolTip()
    assert page.select_model("Qwen/Qwen3-0.6B")
    assert page.open_button.isEnabled()
    loads: list[Path | None] = []
    scripted = ScriptedBackend([])

    async def load(spec: ModelSpec) -> LoadedModel:  # no real weights: record what is asked
        loads.append(spec.path)
        return await scripted.load(spec)

    monkeypatch.setattr(window.models.backend, "load", load)
    page.open_button.click()
    expected = snapshot_of(window.library.folder, "Qwen/Qwen3-0.6B")
    assert window.shell.tabs.currentWidget() is window.chat_page
    await until(lambda: loads == [expected], timeout=10)
    # The load is recorded by the app (not the file access time) and shown.
    await until(lambda: _texts(window)["Qwen/Qwen3-0.6B"][Column.LAST_USED] == "today")
    assert window.library.library.last_used.last_used_under(expected) is not None
    assert last_used_label(None) == "never"
    assert last_used_label(0.0, now=40 * 86_400.0) == "1970-01-01"


@pytest.mark.asyncio
async def test_delete_asks_first_naming_the_size(window: App) -> None:
    page = window.library_page
    window.library.refresh()
    await until(lambda: page.model.rowCount() == 2, timeout=10)
    asked: list[str] = []
    answer = [False]

    def confirm(_parent: object, _title: str, text: str, yes: str) -> bool:
        asked.append(f"{text} [{yes}]")
        return answer[0]

    page.confirm = confirm
    page.select_model("Qwen/Qwen3-0.6B")
    page.delete_button.click()
    assert "frees 1.5 MB" in asked[0] and "[Delete 1.5 MB]" in asked[0]
    assert snapshot_of(window.library.folder, "Qwen/Qwen3-0.6B").is_dir()  # declined
    answer[0] = True
    page.delete_button.click()
    await until(lambda: page.model.rowCount() == 1, timeout=10)
    assert "Removed Qwen/Qwen3-0.6B (1.5 MB freed)" in page.message.text()
    assert not snapshot_of(window.library.folder, "Qwen/Qwen3-0.6B").exists()
    page.select_model(page.model.model_at(0).id)
    page.delete_button.click()
    assert "files stay where they are" in asked[-1]
    await until(lambda: page.model.rowCount() == 0, timeout=10)
    assert not page.empty.isHidden()


@pytest.mark.asyncio
async def test_import_move_and_repoint(window: App, tmp_path: Path) -> None:
    page = window.library_page
    folder = tmp_path / "Dossier importé"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x" * 100)
    page.choose_folder = lambda _title: str(folder)
    page.import_folder_button.click()
    await until(lambda: page.model.rowCount() == 3, timeout=10)
    page.choose_folder = lambda _title: str(tmp_path / "nothing")
    page.import_folder_button.click()
    assert "is not a model" in page.message.text()

    old = window.library.folder
    dest = tmp_path / "Nouveau dossier" / "modèles"
    page.choose_folder = lambda _title: str(dest)
    page.move_button.click()
    await until(lambda: page.message.text().startswith("Moved"), timeout=10)
    assert page.move_bar.isHidden()
    assert str(dest) in page.folder_label.text()
    assert load_settings(window.library.config_dir).models_dir == str(dest)
    assert window.downloads.queue.cache_dir == dest  # new downloads go there too
    assert not old.exists()
    await until(lambda: page.model.rowCount() == 3, timeout=10)

    other = tmp_path / "другая"
    page.choose_folder = lambda _title: str(other)
    page.repoint_button.click()
    await until(lambda: page.model.rowCount() == 2, timeout=10)  # the HF model stays in dest
    assert load_settings(window.library.config_dir).models_dir == str(other)
    assert (dest / "models--Qwen--Qwen3-0.6B").is_dir()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub() as server:
        go_online(monkeypatch, tmp_path, server)
        server.add_repo(
            "Qwen/Qwen3-0.6B", {"config.json": b"{}", "model.safetensors": os.urandom(50_000)}
        )
        yield server


@pytest.mark.asyncio
async def test_models_page_download_shows_the_disk_refusal(
    qapp: QApplication, qtbot: object, tmp_path: Path, hub: FakeHub
) -> None:
    queue = DownloadQueue(
        tmp_path / "downloads.json", tmp_path / "Modèles", free_bytes=lambda _p: 1_000
    )
    downloads = DownloadsController(queue, load_catalog())
    page = ModelsPage(CatalogFitModel(load_catalog()))
    qtbot.addWidget(page)  # type: ignore[attr-defined]
    action = ModelDownloadAction(page)
    add_model_download(action, downloads)
    page.show()
    assert not action.button.isEnabled()  # nothing selected
    page.engine_combo.setCurrentIndex(page.engine_combo.findData("transformers"))
    assert page.select_variant("qwen3-0.6b")
    assert action.button.isEnabled() and "safetensors" in action.button.toolTip()
    downloads.start()
    action.button.click()
    assert "Queued Qwen3 0.6B (safetensors)" in action.note.text()
    await until(lambda: "needs" in action.note.text(), timeout=10)
    assert "needs 50.0 kB, 1000 B free" in action.note.text()  # case C9, as a message
    assert [job.state for job in queue.jobs] == ["failed"]
    page.engine_combo.setCurrentIndex(page.engine_combo.findData("ollama"))
    catalog = page.model.catalog
    # Ollama engine: the GGUF file of the chosen quantization where an official GGUF repo
    # exists, else the safetensors checkpoint.
    assert action.choice(catalog.get("qwen3-14b")) == ("gguf", page.quant_combo.currentData())
    assert action.choice(catalog.get("qwen3-0.6b")) == ("safetensors", None)
    page.select_variant("qwen3-0.6b")
    page.model.set_installed_predicate(lambda v: v.id == "qwen3-0.6b")
    assert not action.button.isEnabled() and "installed" in action.button.toolTip()
    await downloads.shutdown()


@pytest.mark.asyncio
async def test_the_engines_ollama_models_are_listed_once_it_is_chosen(window: App) -> None:
    from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama

    page = window.library_page
    window.library.refresh()
    await until(lambda: page.model.rowCount() == 2, timeout=10)
    with running_fake_ollama(FakeModel("qwen3:8b", thinking="", answer="Hi.")) as (_fake, url):
        window.engines.use_running(url)
        await until(lambda: window.engines.ollama_url == url and not window.engines.busy)
        await until(lambda: page.model.rowCount() == 3, timeout=10)
        assert "qwen3:8b" in _texts(window)
        window.engines.use_transformers()
        await until(lambda: window.engines.ollama_url is None and not window.engines.busy)
        await until(lambda: page.model.rowCount() == 2, timeout=10)
