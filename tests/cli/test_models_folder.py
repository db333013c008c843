"""``qwen-desktop models folder [PATH]`` and ``qwen-desktop models move DEST``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_desktop import cli
from tests.services.test_library_move import make_cache, snapshot_of


def test_folder_then_move_then_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QWEN_DESKTOP_MODELS_DIR", raising=False)
    first = tmp_path / "premier dossier"
    files = make_cache(first)
    assert cli.run(["models", "folder", str(first)]) == 0
    assert "nothing was moved" in capsys.readouterr().out
    assert cli.run(["models", "folder"]) == 0
    assert capsys.readouterr().out.strip() == str(first)

    dest = tmp_path / "второй" / "модели"
    dest.mkdir(parents=True)
    assert cli.run(["models", "move", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "copied and verified" in out
    assert not first.exists()
    assert (snapshot_of(dest) / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert cli.run(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in listed] == ["Qwen/Tiny"]
    assert listed[0]["path"].startswith(str(dest))

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert cli.run(["models", "move", str(busy)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert (snapshot_of(dest) / "config.json").is_symlink()  # untouched by the refusal
