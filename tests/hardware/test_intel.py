"""Intel GPUs on Linux from sysfs: the integrated GPU shares RAM (C6); Arc gets a note."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qwen_desktop.hardware import intel
from qwen_desktop.hardware.intel import probe_intel

Tree = Callable[[str], Path]
GIB = 1024**3


def test_integrated_gpu_is_a_share_of_ram(fixture_tree: Tree) -> None:
    root = fixture_tree("sysfs_desktop_rx7900xtx_intel_uhd770")
    (gpu,), notes = probe_intel(root=root, ram=(32 * GIB, 20 * GIB))
    assert (gpu.vendor, gpu.name, gpu.source) == (
        "intel",
        "Intel AlderLake-S GT1 [UHD Graphics 770]",
        "sysfs",
    )
    assert gpu.unified_memory
    assert (gpu.vram_total_bytes, gpu.vram_free_bytes) == (32 * GIB, 20 * GIB)
    assert (gpu.pci_bus_id, gpu.pci_id) == ("0000:00:02.0", "8086:4680")
    assert gpu.sources["name"] == "pci.ids"
    assert [(n.component, n.state) for n in notes] == [("intel", "shared_memory")]
    assert "never added to it" in notes[0].message
    assert "may not use Intel GPUs" in notes[0].message


def _card(root: Path, name: str, device: str, slot: str) -> None:
    folder = root / "sys/class/drm" / name / "device"
    folder.mkdir(parents=True)
    (folder / "vendor").write_text("0x8086\n")
    (folder / "device").write_text(device + "\n")
    (folder / "uevent").write_text(f"DRIVER=xe\nPCI_SLOT_NAME={slot}\n")


def test_discrete_arc_is_noted_not_sized(tmp_path: Path) -> None:
    _card(tmp_path, "card0", "0x7d55", "0000:00:02.0")
    _card(tmp_path, "card1", "0xe20b", "0000:03:00.0")
    gpus, notes = probe_intel(root=tmp_path, ram=(16 * GIB, 8 * GIB))
    assert [g.name for g in gpus] == ["Intel integrated graphics (PCI id 8086:7d55)"]
    assert gpus[0].sources["name"].endswith("card0/device/device")
    assert [n.state for n in notes] == ["shared_memory", "not_sized"]
    assert notes[1].message.startswith(
        "Intel discrete GPU (PCI id 8086:e20b) at 0000:03:00.0: its memory is not read"
    )


def test_no_intel_gpu(fixture_tree: Tree, tmp_path: Path) -> None:
    assert probe_intel(root=fixture_tree("sysfs_amd_apu_phoenix_16gib")) == ([], [])
    assert probe_intel(root=tmp_path) == ([], [])


def test_unreadable_ram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _card(tmp_path, "card0", "0x46a6", "0000:00:02.0")
    monkeypatch.setattr(intel, "system_ram", lambda: None)
    gpus, notes = probe_intel(root=tmp_path)
    assert gpus == []
    assert notes[0].state == "unknown"
