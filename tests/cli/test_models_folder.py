"""``qwen-desktop models folder [PATH]`` and ``qwen-desktop models move DEST``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_desktop import cli
from tests.library.test_library_move import make_cache, snapshot_of


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


def test_blank_paths_foreign_folders_and_deep_paths_are_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("QWEN_DESKTOP_MODELS_DIR", raising=False)
    config = tmp_path / "config"
    monkeypatch.setenv("QWEN_DESKTOP_CONFIG_DIR", str(config))
    work = tmp_path / "work"
    work.mkdir()
    (work / "report.odt").write_text("mine")
    monkeypatch.chdir(work)  # what an empty path used to mean
    for argv in (["models", "folder", ""], ["models", "folder", "  "], ["models", "move", ""]):
        assert cli.run(argv) == 2
        captured = capsys.readouterr()
        assert "is empty" in captured.err and "Moving" not in captured.err
    assert not (config / "settings.json").exists()
    assert (work / "report.odt").read_text() == "mine"

    assert cli.run(["models", "folder", str(work)]) == 2
    err = capsys.readouterr().err
    assert "not a models folder" in err and "report.odt" in err and "empty" in err
    assert not (config / "settings.json").exists()

    deep = tmp_path / "nonexistent" / "deep" / "x"
    assert cli.run(["models", "folder", str(deep)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nonexistent").exists()

    models = tmp_path / "models"
    make_cache(models)
    assert cli.run(["models", "folder", str(models)]) == 0
    capsys.readouterr()
    assert cli.run(["models", "move", str(models / "inner")]) == 2  # into itself
    err = capsys.readouterr().err
    assert "inside" in err and "Moving" not in err
    (models / "notes.txt").write_text("mine")
    assert cli.run(["models", "move", str(tmp_path / "elsewhere")]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "Nothing was moved" in err and "Moving" not in err
    assert not (tmp_path / "elsewhere").exists() and snapshot_of(models).is_dir()
    (models / "notes.txt").unlink()
    assert cli.run(["models", "move", str(tmp_path / "elsewhere")]) == 0
    assert f"Moving {models} to {tmp_path / 'elsewhere'}" in capsys.readouterr().err
