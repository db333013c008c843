"""Engine choice in the window (offscreen): the embedded Ollama (a stand-in executable), an
Ollama already running (case C8), a remote OpenAI-compatible server with its key in the
keyring, the engine log view, and a crash mid-answer (case C12)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from keyring.backends import fail
from PySide6.QtWidgets import QApplication

from qwen_desktop.chat.ui.chat_view import Notice
from qwen_desktop.chat.ui.conversation_controller import ConversationController, open_store
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.settings import load_settings
from qwen_desktop.core.types import AnswerDelta, Usage
from qwen_desktop.engines.deferred import DeferredBackend
from qwen_desktop.engines.ollama_discovery import BINARY_ENV, free_port
from qwen_desktop.engines.ollama_server import OllamaServerConfig
from qwen_desktop.engines.secrets import ApiKeyStore
from qwen_desktop.engines.service import SwitchableBackend
from qwen_desktop.engines.transformers_backend import TransformersBackend
from qwen_desktop.engines.ui.engine_controller import EngineController
from qwen_desktop.engines.ui.engine_dialog import EngineDialog
from qwen_desktop.engines.ui.engine_ui import EngineUi
from qwen_desktop.engines.ui.model_controller import ModelController
from qwen_desktop.gui import App, Desktop, add_engine_ui, compose
from qwen_desktop.hardware.ui.hardware_controller import HardwareController
from tests.fixtures.memory_keyring import MemoryKeyring
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama
from tests.fixtures.ollama_standin import make_standin
from tests.fixtures.openai_fake_server import FakeServedModel, running_fake_openai
from tests.fixtures.polling import until
from tests.fixtures.scripted_backend import ScriptedBackend
from tests.fixtures.windows import dispose

pytestmark = [
    pytest.mark.gui,
    pytest.mark.asyncio,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="stand-in launcher is a shell script"),
]

QWEN = FakeModel("qwen3:8b", thinking="Two plus two makes four.", answer="2+2 = 4.")
DIES = FakeModel(
    "qwen3:dies", thinking="Two plus two.", answer="The sum is four, as expected.", exit_after=5
)
SERVED = FakeServedModel("Qwen/Qwen3-8B", thinking="Adding.", answer="It is 4.")
KEY = "sk-test-123456"


@pytest.fixture(autouse=True)
def _no_real_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    monkeypatch.delenv("QWEN_DESKTOP_API_KEY", raising=False)


@dataclass(eq=False)
class EngineWindow(Desktop):
    """A composed window with engine choice added (as the app adds it)."""

    engines: EngineController
    engine_ui: EngineUi

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.engines.shutdown()  # after the unload: the embedded Ollama serves it


class Built:
    """Windows built by a test, shut down (server stopped, models unloaded) at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.windows: list[EngineWindow] = []
        self.scripted = ScriptedBackend(script=(AnswerDelta("Hi."), Usage(10, 2, 0.01, 50.0, 0.02)))
        self.keyring = MemoryKeyring()

    def window(
        self, *, binary: Path | None = None, running_port: int | None = None
    ) -> tuple[EngineWindow, EngineController]:
        """A window on the scripted engine, with engine choice installed."""
        paths = AppPaths(
            data_dir=self.tmp_path / "data",
            config_dir=self.tmp_path / "config",
            models_dir=self.tmp_path / "models",
        )
        backend = SwitchableBackend(self.scripted, "Scripted engine")
        store, error = open_store(paths.data_dir)
        chat = ConversationController(backend, store, store_error=error)
        models = ModelController(backend)
        desktop = compose(chat, models, HardwareController(paths.models_dir))
        config = OllamaServerConfig(
            binary=binary or self.tmp_path / "no-such-ollama",
            log_file=self.tmp_path / "logs" / "ollama.log",
            ready_timeout_s=15.0,
            restart_backoff_s=0.05,
            stop_grace_s=2.0,
        )
        engines = EngineController(
            models,
            paths,
            keys=ApiKeyStore(self.keyring),
            server_config=config,
            running_port=running_port or free_port(),
            is_busy=lambda: chat.busy,
        )
        window = EngineWindow(
            **{f.name: getattr(desktop, f.name) for f in dataclasses.fields(desktop)},
            engines=engines,
            engine_ui=add_engine_ui(desktop, engines),
        )
        window.shell.resize(1100, 720)
        window.shell.show()
        self.windows.append(window)
        return window, engines


@pytest_asyncio.fixture
async def built(qapp: QApplication, tmp_path: Path) -> AsyncIterator[Built]:
    qapp.setQuitOnLastWindowClosed(False)
    holder = Built(tmp_path)
    yield holder
    for window in holder.windows:
        await dispose(window)


async def open_dialog(window: Desktop) -> EngineDialog:
    dialog = window.engine_ui.open_dialog()
    await until(lambda: bool(dialog.radios) and not window.engines.busy, timeout=15)
    return dialog


def notices(window: Desktop) -> list[str]:
    return [w.text() for w in window.chat_page.chat_view.messages() if isinstance(w, Notice)]


async def ask(window: Desktop, text: str) -> None:
    window.chat_page.prompt.setPlainText(text)
    window.chat_page.send_prompt()
    await until(
        lambda: bool(window.chat_page.chat_view.answers()) and not window.chat.busy, timeout=15
    )


async def test_window_built_by_the_app_starts_on_transformers_with_an_engine_menu(
    app_window: App,
) -> None:
    backend = app_window.models.backend
    assert isinstance(backend, SwitchableBackend)
    starting = backend.current  # Transformers, built when first used (issue 15)
    assert isinstance(starting, DeferredBackend) and not starting.built
    assert isinstance(starting.engine(), TransformersBackend)
    assert app_window.engine_ui.engine_button.text() == "Engine: Transformers (in-process)"
    menus = [action.text() for action in app_window.shell.menuBar().actions()]
    assert "&Engine" in menus
    assert app_window.engine_ui.log_dock.isHidden()


async def test_embedded_ollama_is_the_default_lists_tags_loads_answers_and_logs(
    built: Built, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(QWEN,))
    window, engines = built.window(binary=standin.binary)
    window.models.load_model("scripted-model")
    await until(lambda: window.models.loaded is not None)
    dialog = await open_dialog(window)
    assert dialog.selected() == "embedded"  # the default when the binary is found
    assert "running" not in dialog.radios  # nothing listens on the probed port
    assert str(standin.binary) in dialog.details["embedded"].text()

    dialog.use_button.click()
    await until(lambda: engines.model_ids == ("qwen3:8b",) and not engines.busy, timeout=20)
    assert built.scripted.loaded is None  # the previous engine's model was unloaded
    assert "run by this app" in window.engine_ui.engine_button.text()
    assert window.chat_page.model_label.text().startswith(
        "No model loaded  ·  engine: Ollama 0.12.0"
    )
    assert [dialog.model_list.item(i).text() for i in range(dialog.model_list.count())] == [
        "qwen3:8b"
    ]
    assert standin.record()["env"]["OLLAMA_HOST"].startswith("127.0.0.1:")

    dialog.load_button.click()
    await until(lambda: window.models.loaded is not None and not window.models.loading)
    assert window.models.loaded is not None and window.models.loaded.engine == "ollama"
    assert "served by Ollama 0.12.0 (run by this app)" in window.chat_page.model_label.text()
    assert "qwen3:8b is loaded" in dialog.state.text()
    await ask(window, "What is 2+2?")
    assert window.chat_page.chat_view.answers()[-1].answer_text == "2+2 = 4."

    log_view = window.engine_ui.log_dock
    assert "Listening on 127.0.0.1:" in log_view.text.toPlainText()
    assert "Compute library: CPU." in log_view.findings.text()
    assert str(tmp_path / "logs" / "ollama.log") in log_view.where.text()
    pid = engines.server.pid if engines.server is not None else None
    assert pid is not None
    await window.shutdown()
    built.windows.remove(window)
    await dispose(window)
    assert engines.server is None  # stopped with the window


async def test_gpu_present_but_unused_is_said_in_the_log_view_and_the_chat(
    built: Built, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(QWEN,), library="cpu")
    window, engines = built.window(binary=standin.binary)
    dialog = await open_dialog(window)
    dialog.use_button.click()
    await until(lambda: bool(engines.model_ids) and not engines.busy, timeout=20)
    engines.set_gpu_present(True)  # the hardware scan found a GPU
    assert "A GPU is present but Ollama is running on the CPU." in (
        window.engine_ui.log_dock.findings.text()
    )
    assert any("GPU is present but Ollama is running on the CPU" in n for n in notices(window))


async def test_model_too_large_is_shown_in_the_chat_and_the_log_view(
    built: Built, tmp_path: Path
) -> None:
    big = FakeModel("qwen3:235b", too_large=True)
    standin = make_standin(tmp_path / "ollama", models=(big,))
    window, engines = built.window(binary=standin.binary)
    dialog = await open_dialog(window)
    dialog.use_button.click()
    await until(lambda: bool(engines.model_ids) and not engines.busy, timeout=20)
    dialog.load_selected()
    await until(lambda: dialog.problem.isVisible() and not window.models.loading)
    assert "Could not load the model" in dialog.problem.text()
    assert window.models.loaded is None
    too_large = "The model is too large for this computer's memory (it needs 45.0 GiB"
    await until(lambda: too_large in window.engine_ui.log_dock.findings.text())
    assert window.engine_ui.log_dock.findings.objectName() == "noticeError"
    assert any(too_large in n for n in notices(window))


async def test_crash_mid_answer_keeps_the_partial_answer_with_the_error_and_says_it_restarted(
    built: Built, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(DIES,), crash_starts=1)
    window, engines = built.window(binary=standin.binary)
    dialog = await open_dialog(window)
    dialog.use_button.click()
    await until(lambda: bool(engines.model_ids) and not engines.busy, timeout=20)
    engines.load("qwen3:dies")
    await until(lambda: window.models.loaded is not None and not window.models.loading)
    await ask(window, "What is 2+2?")
    answer = window.chat_page.chat_view.answers()[-1]
    assert answer.error.isVisible()
    assert "Ollama engine" in answer.error.text()  # the C12 error, not a silent stop
    assert answer.thinking.isVisible()  # the thinking is kept
    partial = answer.answer_text
    assert partial and DIES.answer.startswith(partial) and partial != DIES.answer
    await until(lambda: any("was restarted" in n for n in notices(window)), timeout=15)
    crash = next(n for n in notices(window) if "stopped unexpectedly" in n)
    assert "restarting it (try 1 of 3)" in crash
    assert standin.starts() == 2
    log_text = window.engine_ui.log_dock.text.toPlainText()
    assert "panic: runtime error" in log_text  # what the engine said as it died
    assert "[qwen-desktop] The Ollama engine stopped unexpectedly" in log_text


async def test_running_ollama_is_offered_c8_and_used_when_chosen(built: Built) -> None:
    with running_fake_ollama(QWEN) as (_fake, url):
        port = int(url.rsplit(":", 1)[1])
        window, engines = built.window(running_port=port)
        dialog = await open_dialog(window)
        assert "running" in dialog.radios
        assert not dialog.radios["embedded"].isEnabled()  # no binary here
        assert dialog.selected() == "transformers"  # torch is installed: the default
        assert any(url in n and "already running" in n for n in notices(window))
        dialog.select("running")
        dialog.use_button.click()
        await until(lambda: engines.model_ids == ("qwen3:8b",) and not engines.busy)
        assert window.engine_ui.engine_button.text() == f"Engine: Ollama at {url}"
        dialog.load_selected()
        await until(lambda: window.models.loaded is not None and not window.models.loading)
        await ask(window, "What is 2+2?")
        assert window.chat_page.chat_view.answers()[-1].answer_text == "2+2 = 4."
        assert engines.server is None  # nothing of ours was started


async def test_remote_server_key_goes_to_the_keyring_and_its_models_load(
    built: Built, tmp_path: Path
) -> None:
    with running_fake_openai(SERVED, api_key=KEY) as (_fake, url):
        window, engines = built.window()
        dialog = await open_dialog(window)
        dialog.select("remote")
        assert not dialog.use_button.isEnabled()  # no address yet
        dialog.url.setText(url)
        dialog.api_key.setText(KEY)
        dialog.use_button.click()
        assert dialog.api_key.text() == ""  # not kept in the widget
        await until(lambda: engines.model_ids == ("Qwen/Qwen3-8B",) and not engines.busy)
        assert ApiKeyStore(built.keyring).get(url) == KEY
        assert not any(KEY in p.read_text(errors="ignore") for p in files(tmp_path))
        dialog.load_selected()
        await until(lambda: window.models.loaded is not None and not window.models.loading)
        assert f"served by Server at {url}" in window.chat_page.model_label.text()
        await ask(window, "What is 2+2?")
        assert window.chat_page.chat_view.answers()[-1].answer_text == "It is 4."


async def test_without_a_keyring_the_key_is_refused_with_what_to_do(built: Built) -> None:
    with running_fake_openai(SERVED, api_key=KEY) as (_fake, url):
        window, engines = built.window()
        engines.keys = ApiKeyStore(fail.Keyring())
        dialog = await open_dialog(window)
        dialog.select("remote")
        dialog.url.setText(url)
        dialog.api_key.setText(KEY)
        dialog.use_button.click()
        await until(lambda: dialog.problem.isVisible() and not engines.busy)
        assert "No OS keyring is available" in dialog.problem.text()
        assert "QWEN_DESKTOP_API_KEY" in dialog.problem.text()
        assert window.models.engine_label == "Scripted engine"


async def test_a_model_folder_opened_on_an_ollama_engine_goes_to_transformers(
    built: Built, tiny_qwen3_path: Path
) -> None:
    with running_fake_ollama(QWEN) as (_fake, url):
        window, engines = built.window()
        engines.use_running(url)
        await until(lambda: bool(engines.model_ids) and not engines.busy)
        assert engines.ollama_url == url
        window.models.load_folder(tiny_qwen3_path)
        await until(lambda: window.models.loaded is not None and not window.models.loading)
        assert window.models.engine_label == "Transformers (in-process)"
        assert window.models.loaded.engine == "transformers"
        assert engines.ollama_url is None
        assert window.engine_ui.engine_button.text() == "Engine: Transformers (in-process)"
        assert load_settings(built.tmp_path / "config").engine == "transformers"


async def test_unreachable_server_says_why_and_keeps_the_engine(built: Built) -> None:
    window, engines = built.window()
    window.models.load_model("scripted-model")
    await until(lambda: window.models.loaded is not None)
    dialog = await open_dialog(window)
    dialog.select("remote")
    dialog.url.setText(f"http://127.0.0.1:{free_port()}/v1")
    dialog.use_button.click()
    await until(lambda: dialog.problem.isVisible() and not engines.busy, timeout=20)
    assert "did not answer" in dialog.problem.text()
    assert window.models.engine_label == "Scripted engine"
    assert built.scripted.loaded is not None  # the model in use stays loaded
    assert any("The engine was not changed" in n for n in notices(window))


async def test_engine_change_is_refused_while_an_answer_streams(built: Built) -> None:
    built.scripted.script = (AnswerDelta("Hi"), None)  # never ends
    window, engines = built.window()
    window.models.load_model("scripted-model")
    await until(lambda: window.models.loaded is not None)
    window.chat_page.prompt.setPlainText("Hello")
    window.chat_page.send_prompt()
    await until(lambda: window.chat.busy)
    engines.use_transformers()
    assert any("Stop it (Esc) before changing engine" in n for n in notices(window))
    assert window.models.engine_label == "Scripted engine"
    dialog = await open_dialog(window)  # looking at what can run is fine meanwhile
    assert dialog.selected() == "transformers"
    assert window.chat.busy


def files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def test_the_engine_chosen_is_used_again_at_the_next_start(built: Built) -> None:
    with running_fake_openai(SERVED, api_key=KEY) as (_fake, url):
        window, engines = built.window()
        dialog = await open_dialog(window)
        dialog.select("remote")
        dialog.url.setText(url)
        dialog.api_key.setText(KEY)
        dialog.use_button.click()
        await until(lambda: engines.model_ids == ("Qwen/Qwen3-8B",) and not engines.busy)
        saved = load_settings(built.tmp_path / "config")
        assert (saved.engine, saved.engine_url) == ("server", url)
        # The next start (same folders, same keyring): the same server, its models listed.
        again, engines_again = built.window()
        engines_again.start_default()
        await until(
            lambda: engines_again.model_ids == ("Qwen/Qwen3-8B",) and not engines_again.busy
        )
        assert again.engine_ui.engine_button.text() == f"Engine: Server at {url}"
    # The server is gone at the following start: said, not silently replaced.
    third, engines_third = built.window()
    failures: list[str] = []
    engines_third.engine_failed.connect(lambda message, _action: failures.append(message))
    engines_third.start_default()
    await until(lambda: bool(failures) and not engines_third.busy, timeout=30)
    assert third.models.engine_label == "Scripted engine"


async def test_choosing_the_engine_in_use_keeps_its_model(built: Built) -> None:
    with running_fake_ollama(QWEN) as (_fake, url):
        port = int(url.rsplit(":", 1)[1])
        window, engines = built.window(running_port=port)
        dialog = await open_dialog(window)
        assert dialog.state.text() != "Changing engine…"  # nothing is changing
        dialog.select("running")
        dialog.use_button.click()
        await until(lambda: engines.ollama_url == url and not engines.busy)
        dialog.load_selected()
        await until(lambda: window.models.loaded is not None and not window.models.loading)
        dialog.use_button.click()  # the same engine again
        assert "already in use" in dialog.state.text()
        assert not engines.busy and window.models.loaded is not None  # not unloaded
