"""``qwen-desktop pull`` and ``qwen-desktop models`` against a local Hub."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_desktop import cli
from tests.fixtures.hub_server import FakeHub, go_online

WEIGHTS = os.urandom(200_000)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub() as server:
        go_online(monkeypatch, tmp_path, server)
        monkeypatch.setenv("QWEN_DESKTOP_MODELS_DIR", str(tmp_path / "Modèles 模型"))
        server.add_repo("Qwen/Qwen3-0.6B", {"config.json": b"{}", "model.safetensors": WEIGHTS})
        server.add_repo(
            "Qwen/Qwen3-14B-GGUF",
            {"Qwen3-14B-Q4_K_M.gguf": b"GGUF" + WEIGHTS, "Qwen3-14B-Q8_0.gguf": b"GGUF"},
        )
        yield server


def test_pull_list_and_remove(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(["pull", "qwen3:0.6b", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "qwen3-0.6b" and out["bytes_fetched"] == len(WEIGHTS) + 2
    assert Path(out["path"], "model.safetensors").read_bytes() == WEIGHTS
    assert str(tmp_path / "Modèles 模型") in out["path"]

    assert cli.run(["pull", "qwen3-14b", "--format", "gguf", "--quant", "Q4_K_M"]) == 0
    captured = capsys.readouterr()
    assert Path(captured.out.strip(), "Qwen3-14B-Q4_K_M.gguf").is_file()
    assert "100 %" in captured.err

    assert cli.run(["models", "list", "--json"]) == 0
    listed = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["Qwen/Qwen3-0.6B"]["format"] == "safetensors"
    assert listed["Qwen/Qwen3-14B-GGUF"]["quant"] == "Q4_K_M"

    assert cli.run(["models", "rm", "Qwen/Qwen3-0.6B"]) == 1  # not confirmed (no terminal)
    assert cli.run(["models", "rm", "Qwen/Qwen3-0.6B", "--yes"]) == 0
    assert "200.0 kB freed" in capsys.readouterr().out
    assert cli.run(["models", "list"]) == 0
    assert "Qwen/Qwen3-0.6B " not in capsys.readouterr().out
    assert cli.run(["models", "rm", "Qwen/Qwen3-0.6B", "--yes"]) == 2
    assert "No installed model" in capsys.readouterr().err


def test_pull_errors_are_actionable(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub import constants

    assert cli.run(["pull", "qwen3-0.6b", "--format", "gguf"]) == 2
    assert "no official GGUF repository" in capsys.readouterr().err
    assert cli.run(["pull", "qwen3-14b", "--format", "gguf", "--quant", "Q2_K"]) == 2
    assert "it offers: Q4_K_M, Q8_0" in capsys.readouterr().err

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert cli.run(["pull", "qwen3-0.6b"]) == 2
    assert "offline mode is on" in capsys.readouterr().err
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert cli.run(["pull", "qwen3-0.6b"]) == 0
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    capsys.readouterr()
    assert cli.run(["pull", "qwen3-0.6b"]) == 0  # offline, but already installed
    assert "already installed" in capsys.readouterr().err
