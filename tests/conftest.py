"""Test-wide setup: offscreen Qt, offline hub, the tiny-model fixtures, the event loops."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import tempfile
from collections.abc import Callable, Mapping

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"  # no hub at test time, ever
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Session-wide: even module- or session-scoped fixtures never write to the real user's folders.
_SESSION_DIRS = tempfile.mkdtemp(prefix="qwen-desktop-tests-")
os.environ["QWEN_DESKTOP_DATA_DIR"] = os.path.join(_SESSION_DIRS, "data")
os.environ["QWEN_DESKTOP_CONFIG_DIR"] = os.path.join(_SESSION_DIRS, "config")

pytest_plugins = [
    "tests.fixtures.tiny_models",
    "tests.fixtures.tiny_gguf",
    "tests.fixtures.tiny_vl_model",
    "tests.fixtures.windows",
]
if importlib.util.find_spec("tests.fixtures.tiny_models") is None:  # pragma: no cover - bootstrap
    pytest_plugins = []


def _qasync_loop() -> asyncio.AbstractEventLoop:
    from qwen_desktop.uikit.loop import new_qt_event_loop

    return new_qt_event_loop()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """GUI tests run on the qasync loop (as the app does); everything else on plain asyncio."""
    if item.get_closest_marker("gui") is not None:
        return {"qasync": _qasync_loop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture(autouse=True)
def _quiet_machine_for_bandwidth(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bandwidth measurement sees an idle CPU: what else runs beside the tests (other
    test workers, a busy CI runner) must not make its figure provisional and re-measured.
    tests/hardware/test_bandwidth.py injects busy shares to test that path."""
    from qwen_desktop.hardware import bandwidth

    monkeypatch.setattr(bandwidth, "cpu_busy_share", lambda: 0.0)


@pytest.fixture(autouse=True)
def _isolated_app_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never touch the real user's data, config or models folders."""
    base = tmp_path_factory.mktemp("app-dirs")
    monkeypatch.setenv("QWEN_DESKTOP_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("QWEN_DESKTOP_CONFIG_DIR", str(base / "config"))
