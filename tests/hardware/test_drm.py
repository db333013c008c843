"""The sysfs DRM reader over fake trees (tests/fixtures/hardware/sysfs_*)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qwen_desktop.hardware.drm import (
    VENDOR_AMD,
    VENDOR_INTEL,
    drm_class_exists,
    parse_uevent,
    pci_ids_name,
    read_drm_cards,
)

Tree = Callable[[str], Path]


def test_cards_in_order_without_connectors_or_render_nodes(fixture_tree: Tree) -> None:
    root = fixture_tree("sysfs_desktop_rx7900xtx_intel_uhd770")
    cards = read_drm_cards(root)
    assert [(c.card, c.vendor_id, c.device_id, c.pci_bus_id, c.driver) for c in cards] == [
        ("card0", VENDOR_INTEL, 0x4680, "0000:00:02.0", "i915"),
        ("card1", VENDOR_AMD, 0x744C, "0000:03:00.0", "amdgpu"),
    ]
    amd = cards[1]
    assert (amd.vram_total_bytes, amd.vram_used_bytes) == (25753026560, 1093664768)
    assert (amd.gtt_total_bytes, amd.gtt_used_bytes) == (16717430784, 54525952)
    assert cards[0].vram_total_bytes is None  # i915 has no mem_info files
    assert [c.card for c in read_drm_cards(root, VENDOR_AMD)] == ["card1"]


def test_card_ten_sorts_after_card_two(tmp_path: Path) -> None:
    for number in (10, 2):
        device = tmp_path / "sys/class/drm" / f"card{number}" / "device"
        device.mkdir(parents=True)
        (device / "vendor").write_text("0x1002\n")
        (device / "uevent").write_text(f"DRIVER=amdgpu\nPCI_SLOT_NAME=0000:0{number % 9}:00.0\n")
    assert [c.card for c in read_drm_cards(tmp_path)] == ["card2", "card10"]


def test_bus_id_from_the_device_folder_name_when_uevent_lacks_it(tmp_path: Path) -> None:
    """Real sysfs: card0/device is a link to .../0000:0c:00.0."""
    pci = tmp_path / "sys/devices/pci0000:00/0000:00:01.1/0000:0c:00.0"
    pci.mkdir(parents=True)
    (pci / "vendor").write_text("0x1002\n")
    card = tmp_path / "sys/class/drm/card0"
    card.mkdir(parents=True)
    (card / "device").symlink_to(pci)
    (found,) = read_drm_cards(tmp_path)
    assert found.pci_bus_id == "0000:0c:00.0"
    assert found.driver is None


def test_missing_tree(tmp_path: Path) -> None:
    assert read_drm_cards(tmp_path) == []
    assert not drm_class_exists(tmp_path)


def test_pci_ids_lookup(fixture_tree: Tree, tmp_path: Path) -> None:
    root = fixture_tree("sysfs_desktop_rx7900xtx_intel_uhd770")
    assert pci_ids_name(root, VENDOR_AMD, 0x744C) == (
        "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    )
    assert pci_ids_name(root, VENDOR_INTEL, 0x4680) == "AlderLake-S GT1 [UHD Graphics 770]"
    assert pci_ids_name(root, VENDOR_AMD, 0x9999) is None  # not listed: stops at next vendor
    assert pci_ids_name(root, 0x1003, 0x744C) is None
    assert pci_ids_name(tmp_path, VENDOR_AMD, 0x744C) is None  # no database


def test_parse_uevent() -> None:
    assert parse_uevent("DRIVER=amdgpu\nPCI_ID=1002:744C\nbroken line\n") == {
        "DRIVER": "amdgpu",
        "PCI_ID": "1002:744C",
    }
