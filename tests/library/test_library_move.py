"""Changing the models folder (move: copy, verify, delete; re-point), settings, last used."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path

import pytest

from qwen_desktop.core.settings import Settings, load_settings, save_settings
from qwen_desktop.library import models_folder
from qwen_desktop.library.last_used import LastUsedRecord
from qwen_desktop.library.models_folder import (
    MARKER_NAME,
    PARTIAL_SUFFIX,
    ModelsFolderError,
    MoveCancelledError,
    MoveProgress,
    move_models_folder,
    repoint_models_folder,
)
from qwen_desktop.library.service import ModelLibrary, hub_cache_dir

REVISION = "0123456789abcdef0123456789abcdef01234567"


def make_cache(cache: Path, repo: str = "Qwen/Tiny", weights: int = 300_000) -> dict[str, bytes]:
    """A huggingface_hub cache with one repository: blobs named by sha256, snapshot symlinks."""
    files = {"config.json": b'{"model_type": "qwen3"}', "model.safetensors": os.urandom(weights)}
    folder = cache / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(REVISION)
    snapshot = folder / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir()
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        (folder / "blobs" / digest).write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", digest))
    return files


def snapshot_of(cache: Path, repo: str = "Qwen/Tiny") -> Path:
    return cache / ("models--" + repo.replace("/", "--")) / "snapshots" / REVISION


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QWEN_DESKTOP_MODELS_DIR", raising=False)


def test_move_copies_verifies_switches_and_deletes(tmp_path: Path) -> None:
    source, dest, config = tmp_path / "hub", tmp_path / "Modèles ünd 模型", tmp_path / "config"
    files = make_cache(source)
    dest.mkdir()  # an existing empty folder: the copy path (no rename)
    seen: list[MoveProgress] = []
    result = move_models_folder(config, source, dest, on_progress=seen.append)
    assert not result.renamed and not result.source_left
    assert result.bytes_moved == sum(map(len, files.values())) + len(REVISION)  # + refs/main
    assert seen[-1].bytes_done == seen[-1].total_bytes == result.bytes_moved
    assert not source.exists()
    assert not (dest / MARKER_NAME).exists()
    snapshot = snapshot_of(dest)
    for name, data in files.items():
        assert (snapshot / name).is_symlink()  # links stay relative links into the new blobs
        assert (snapshot / name).read_bytes() == data
    assert load_settings(config).models_dir == str(dest)
    assert hub_cache_dir(config) == dest
    models = ModelLibrary(tmp_path / "library.json", hub_cache_dir(config)).hf_models()
    assert [(m.id, m.format) for m in models] == [("Qwen/Tiny", "safetensors")]


def test_move_on_the_same_volume_renames(tmp_path: Path) -> None:
    source, dest, config = tmp_path / "hub", tmp_path / "new" / "models", tmp_path / "config"
    files = make_cache(source)
    result = move_models_folder(config, source, dest)
    assert result.renamed
    assert (snapshot_of(dest) / "config.json").read_bytes() == files["config.json"]
    assert load_settings(config).models_dir == str(dest)


def test_refusals_leave_everything_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, config = tmp_path / "hub", tmp_path / "config"
    make_cache(source)
    with pytest.raises(ModelsFolderError, match=r"needs 300\.1 kB, 10 B free"):
        move_models_folder(config, source, tmp_path / "small", free_bytes=lambda _p: 10)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ModelsFolderError, match="not empty"):
        move_models_folder(config, source, busy)
    with pytest.raises(ModelsFolderError, match="inside"):
        move_models_folder(config, source, source / "sub")
    with pytest.raises(ModelsFolderError, match="does not exist"):
        move_models_folder(config, tmp_path / "missing", tmp_path / "x")
    monkeypatch.setenv("QWEN_DESKTOP_MODELS_DIR", str(source))
    with pytest.raises(ModelsFolderError, match="QWEN_DESKTOP_MODELS_DIR"):
        move_models_folder(config, source, tmp_path / "y")
    assert snapshot_of(source).is_dir()
    assert (busy / "notes.txt").read_text() == "mine"
    assert load_settings(config).models_dir is None


def test_cancelled_move_keeps_the_source_and_resumes_without_recopying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest, config = tmp_path / "hub", tmp_path / "Ziel", tmp_path / "config"
    files = make_cache(source, weights=1_000_000)
    dest.mkdir()
    monkeypatch.setattr(models_folder, "CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(models_folder, "PROGRESS_INTERVAL_S", 0.0)
    cancel = threading.Event()

    def stop_midway(progress: MoveProgress) -> None:
        if progress.bytes_done > 400_000:
            cancel.set()

    with pytest.raises(MoveCancelledError):
        move_models_folder(config, source, dest, on_progress=stop_midway, cancel=cancel)
    assert snapshot_of(source).is_dir() and load_settings(config).models_dir is None
    partial = list(dest.rglob("*" + PARTIAL_SUFFIX))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < 1_000_000

    def bytes_in(folder: Path) -> int:
        return sum(
            p.stat().st_size
            for p in folder.rglob("*")
            if p.is_file() and not p.is_symlink() and p.name != MARKER_NAME
        )

    total, kept = bytes_in(source), bytes_in(dest)

    written: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]
        if "a" in mode:
            original = handle.write
            handle.write = lambda chunk: written.append(len(chunk)) or original(chunk)
        return handle

    monkeypatch.setattr(Path, "open", counting_open)
    move_models_folder(config, source, dest)
    assert sum(written) == total - kept  # only the missing bytes were copied again
    assert (snapshot_of(dest) / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert not source.exists()


def test_a_copy_that_does_not_verify_is_never_switched_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest, config = tmp_path / "hub", tmp_path / "dest", tmp_path / "config"
    make_cache(source)
    dest.mkdir()
    real = models_folder._sha256

    def lying_disk(path: Path, cancel: threading.Event | None) -> str:
        return "0" * 64 if path.name.endswith(PARTIAL_SUFFIX) else real(path, cancel)

    monkeypatch.setattr(models_folder, "_sha256", lying_disk)
    with pytest.raises(ModelsFolderError, match="does not match the original"):
        move_models_folder(config, source, dest)
    assert snapshot_of(source).is_dir()
    assert load_settings(config).models_dir is None


def test_disk_full_during_the_copy_keeps_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest, config = tmp_path / "hub", tmp_path / "dest", tmp_path / "config"
    make_cache(source)
    dest.mkdir()

    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(models_folder.os, "fsync", full)
    with pytest.raises(ModelsFolderError, match="disk is full"):
        move_models_folder(config, source, dest)
    assert snapshot_of(source).is_dir() and load_settings(config).models_dir is None


def test_repoint_and_the_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    other = tmp_path / "другая папка"
    make_cache(other)
    assert repoint_models_folder(config, other) == other
    assert hub_cache_dir(config) == other
    assert [m.id for m in ModelLibrary(tmp_path / "l.json", hub_cache_dir(config)).hf_models()] == [
        "Qwen/Tiny"
    ]
    (config / "settings.json").write_text("{broken")
    assert load_settings(config) == Settings()
    assert len(list(config.glob("settings.json.broken-*"))) == 1
    (config / "settings.json").write_text('{"models_dir": 42}')
    assert load_settings(config).models_dir is None  # wrong type: the default
    save_settings(config, Settings(models_dir=str(other)))
    monkeypatch.setenv("QWEN_DESKTOP_MODELS_DIR", str(tmp_path / "env"))
    assert hub_cache_dir(config) == tmp_path / "env"  # the environment wins
    with pytest.raises(ModelsFolderError, match="QWEN_DESKTOP_MODELS_DIR"):
        repoint_models_folder(config, other)


def test_last_used_is_the_apps_record_not_atime(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    make_cache(cache)
    folder = tmp_path / "Mes modèles" / "local"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x" * 10)
    record = LastUsedRecord(tmp_path / "last_used.json", clock=lambda: 1_700_000_000.0)
    library = ModelLibrary(tmp_path / "library.json", cache, last_used=record)
    library.import_path(folder)
    before = {m.id: m.last_used_s for m in asyncio.run(library.list_all())}
    assert before == {"Qwen/Tiny": None, str(folder): None}
    record.touch_path(snapshot_of(cache))
    record.touch_path(folder)
    after = {m.id: m.last_used_s for m in asyncio.run(library.list_all())}
    assert after == {"Qwen/Tiny": 1_700_000_000.0, str(folder): 1_700_000_000.0}
    (tmp_path / "last_used.json").write_text("[1, 2")
    assert record.all() == {}
    assert len(list(tmp_path.glob("last_used.json.broken-*"))) == 1


def test_empty_paths_are_refused_everywhere(tmp_path: Path) -> None:
    source, config = tmp_path / "hub", tmp_path / "config"
    make_cache(source)
    for blank in ("", "   ", Path("")):
        with pytest.raises(ModelsFolderError, match="is empty"):
            repoint_models_folder(config, blank)
        with pytest.raises(ModelsFolderError, match="destination path is empty"):
            move_models_folder(config, source, blank)
        with pytest.raises(ModelsFolderError, match="current models folder path is empty"):
            move_models_folder(config, blank, tmp_path / "dest")
    assert load_settings(config).models_dir is None
    assert snapshot_of(source).is_dir() and not (tmp_path / "dest").exists()


def test_repoint_refuses_a_folder_of_other_files_and_a_missing_parent(tmp_path: Path) -> None:
    config = tmp_path / "config"
    papers = tmp_path / "papers"
    papers.mkdir()
    for name in ("thesis.pdf", "notes.txt", "photos", "a.doc", "b.doc", "c.doc"):
        (papers / name).mkdir() if name == "photos" else (papers / name).write_text("x")
    (papers / "models--Qwen--Tiny").mkdir()  # a model folder among them does not make it one
    with pytest.raises(ModelsFolderError, match="not a models folder") as caught:
        repoint_models_folder(config, papers)
    message = caught.value.message
    assert "a.doc, b.doc, c.doc, notes.txt, photos and 1 more" in message
    assert "empty" in caught.value.action and "models folder" in caught.value.action
    a_file = tmp_path / "file.bin"
    a_file.write_bytes(b"x")
    with pytest.raises(ModelsFolderError, match="is a file"):
        repoint_models_folder(config, a_file)
    deep = tmp_path / "nonexistent" / "deep" / "x"
    with pytest.raises(ModelsFolderError, match=r"nonexistent[/\\]deep does not exist"):
        repoint_models_folder(config, deep)
    assert not (tmp_path / "nonexistent").exists()
    assert load_settings(config).models_dir is None

    new = tmp_path / "new"  # missing, parent exists: only the last level is created
    assert repoint_models_folder(config, new) == new and new.is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"\0")  # Finder's metadata does not count
    assert repoint_models_folder(config, empty) == empty
    cache = tmp_path / "cache"
    make_cache(cache)
    for name in ("version.txt", "CACHEDIR.TAG", "Qwen3-8B-Q4_K_M.gguf"):
        (cache / name).write_text("1")
    (cache / ".locks" / "models--Qwen--Tiny").mkdir(parents=True)
    (cache / "datasets--a--b").mkdir()
    assert repoint_models_folder(config, cache) == cache
    assert load_settings(config).models_dir == str(cache)


@pytest.mark.parametrize("same_volume", [True, False])
def test_move_refuses_a_folder_holding_other_files_and_moves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_volume: bool
) -> None:
    source, dest, config = tmp_path / "hub", tmp_path / "dest", tmp_path / "config"
    make_cache(source)
    (source / "taxes.xlsx").write_text("mine")
    (source / "holiday").mkdir()
    monkeypatch.setattr(models_folder, "_same_volume", lambda _s, _d: same_volume)
    started: list[tuple[Path, Path]] = []
    with pytest.raises(ModelsFolderError, match=r"not models: holiday, taxes\.xlsx"):
        move_models_folder(config, source, dest, on_start=lambda s, d: started.append((s, d)))
    assert not started and not dest.exists()
    assert (source / "taxes.xlsx").read_text() == "mine" and (source / "holiday").is_dir()
    assert snapshot_of(source).is_dir() and load_settings(config).models_dir is None


def test_move_deletes_only_what_it_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, dest, config = tmp_path / "hub", tmp_path / "dest", tmp_path / "config"
    files = make_cache(source)
    (source / ".locks").mkdir()
    (source / "version.txt").write_text("1")
    dest.mkdir()
    started: list[tuple[Path, Path]] = []

    def a_file_appears(src: Path, dst: Path) -> None:  # after the checks, before the copy
        started.append((src, dst))
        (src / "late.txt").write_text("arrived during the move")

    result = move_models_folder(config, source, dest, on_start=a_file_appears)
    assert started == [(source, dest)]
    assert (snapshot_of(dest) / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert (dest / "version.txt").read_text() == "1" and (dest / ".locks").is_dir()
    assert not (dest / "late.txt").exists()
    assert sorted(p.name for p in source.iterdir()) == ["late.txt"]  # kept, not deleted
    assert str(source) in result.source_left
    assert load_settings(config).models_dir == str(dest)
