"""The disk probe: free space at the models folder or its nearest existing ancestor."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qwen_desktop.hardware.disk import probe_disk


def test_existing_folder(tmp_path: Path) -> None:
    info, notes = probe_disk(tmp_path)
    usage = shutil.disk_usage(tmp_path)
    assert notes == []
    assert info.path == str(tmp_path)
    assert info.total_bytes == usage.total
    assert abs(info.free_bytes - usage.free) < 64 * 1024**2  # other writers may run meanwhile
    assert info.sources["free_bytes"] == f"shutil.disk_usage({tmp_path})"


def test_missing_folder_measures_nearest_ancestor(tmp_path: Path) -> None:
    models = tmp_path / "not" / "yet" / "models"
    info, notes = probe_disk(models)
    assert notes == []
    assert info.path == str(models)
    assert info.total_bytes == shutil.disk_usage(tmp_path).total
    assert info.sources["free_bytes"] == f"shutil.disk_usage({tmp_path})"
    assert not models.exists()  # probing creates nothing


def test_failure_becomes_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "disk_usage", broken)
    info, notes = probe_disk(tmp_path)
    assert info.path == str(tmp_path)
    assert info.free_bytes == 0
    assert [(n.component, n.state) for n in notes] == [("disk", "error")]
    assert "Permission denied" in notes[0].message
