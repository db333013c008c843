"""``qwen-desktop engine status [--json]`` with a stand-in ollama and a fake running Ollama."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from qwen_desktop import cli
from qwen_desktop.engines import engine_choice
from qwen_desktop.engines.engine_choice import choose_engine, engine_for_model
from qwen_desktop.engines.ollama_discovery import (
    BINARY_ENV,
    BinaryLocation,
    RunningOllama,
    free_port,
)
from tests.fixtures.ollama_fake_server import running_fake_ollama
from tests.fixtures.ollama_standin import make_standin

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def _no_real_ollama(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv(BINARY_ENV, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(["engine", "status", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(sys.platform == "win32", reason="stand-in launcher is a shell script")
def test_json_reports_binary_version_running_and_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    standin = make_standin(tmp_path / "ollama", version="0.12.5")
    monkeypatch.setenv(BINARY_ENV, str(standin.binary))
    with running_fake_ollama() as (_, url):
        monkeypatch.setenv("OLLAMA_HOST", url.removeprefix("http://"))
        code, out, _ = status(capsys, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ollama"] == {
        "binary": str(standin.binary),
        "found_by": "environment",
        "version": "0.12.5",
    }
    assert report["running_ollama"] == {"state": "ollama", "url": url, "version": "0.12.0"}
    assert report["transformers"].keys() == {"torch", "transformers"}
    assert report["default_engine"]["engine"] == "ollama"
    assert "found" in report["default_engine"]["reason"]


@pytest.mark.skipif(sys.platform == "win32", reason="stand-in launcher is a shell script")
def test_human_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    standin = make_standin(tmp_path / "ollama")
    code, out, _ = status(capsys, "--ollama", str(standin.binary))
    assert code == 0
    assert f"binary:        {standin.binary} (configured)" in out
    assert "version:       0.12.0" in out
    assert "No Ollama is running at" in out
    assert "Default engine: ollama (the Ollama engine was found" in out


def test_no_engine_at_all_prints_the_guide_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engine_choice, "module_available", lambda name: False)
    code, out, _ = status(capsys)
    assert code == 1
    assert "binary:        not found" in out
    assert "torch:         not installed" in out
    assert "Default engine: none (no Ollama binary was found and torch is not installed)" in out
    assert "pip install 'qwen-desktop[ml]'" in out and "ollama.com/download" in out


def test_transformers_is_the_default_without_a_binary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engine_choice, "module_available", lambda name: True)
    code, out, _ = status(capsys, "--json")
    assert code == 0
    assert json.loads(out)["default_engine"]["engine"] == "transformers"


def test_choose_engine_order() -> None:
    binary = BinaryLocation(Path("/opt/ollama"), "bundled")
    running = RunningOllama("ollama", "http://127.0.0.1:11434", "0.12.0")
    assert choose_engine(binary, torch=True, transformers=True).engine == "ollama"
    assert choose_engine(None, torch=True, transformers=True).engine == "transformers"
    reuse = choose_engine(None, torch=False, transformers=False, running=running)
    assert (reuse.engine, reuse.url) == ("ollama", running.url)
    none = choose_engine(None, torch=True, transformers=False)
    assert none.engine is None and "transformers is not installed" in none.reason
    assert none.guide


@pytest.mark.parametrize(
    ("model", "engine"),
    [
        ("qwen3:8b", "ollama"),
        ("hf.co/Qwen/Qwen3-8B-GGUF:Q4_K_M", "ollama"),
        ("/no/such/folder", "transformers"),
        ("./relative-folder", "transformers"),
        ("~/models/qwen", "transformers"),
    ],
)
def test_engine_for_model(model: str, engine: str) -> None:
    assert engine_for_model(model) == engine


def test_an_existing_folder_means_transformers(tmp_path: Path) -> None:
    (tmp_path / "qwen3").mkdir()
    assert engine_for_model(str(tmp_path / "qwen3")) == "transformers"
