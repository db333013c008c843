"""Linux sysfs reader for display devices: ``/sys/class/drm/card*/device``.

Each ``cardN`` entry links to its PCI device folder, which holds ``vendor`` and ``device``
(``0x1002``, ``0x744c``), ``uevent`` (``DRIVER=amdgpu``, ``PCI_SLOT_NAME=0000:03:00.0``) and,
for ``amdgpu``, the memory counters documented in the kernel's "Misc AMDGPU driver information"
(``mem_info_vram_total``/``_used``, ``mem_info_gtt_total``/``_used``, in bytes) and
``product_name`` (only on some server cards). Readers take the file-system root, so tests build
fake trees under ``tmp_path``.

Names come from the ``pci.ids`` database when the system has one (``hwdata``/``pciutils``),
else from the small tables of the vendor modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qwen_desktop.hardware.gpus import normalize_bus_id, parse_int
from qwen_desktop.hardware.notes import read_text

VENDOR_AMD = 0x1002
VENDOR_INTEL = 0x8086
VENDOR_NVIDIA = 0x10DE

DRM_CLASS = Path("sys/class/drm")
"""Relative to the root passed to :func:`read_drm_cards` (``/`` on a real system)."""

PCI_IDS_FILES = (
    Path("usr/share/hwdata/pci.ids"),
    Path("usr/share/misc/pci.ids"),
    Path("usr/share/pci.ids"),
)

_CARD = re.compile(r"^card(\d+)$")


@dataclass(frozen=True)
class DrmCard:
    """One display device as sysfs shows it. Sizes in bytes; None where the file is absent.

    Attributes:
        card: The DRM card name (``card0``).
        path: Its ``device`` folder.
        vendor_id: PCI vendor id (``0x1002`` AMD, ``0x8086`` Intel, ``0x10de`` NVIDIA).
        device_id: PCI device id.
        pci_bus_id: PCI address (``0000:03:00.0``), from ``uevent`` or the folder's real name.
        driver: Kernel driver (``amdgpu``, ``i915``, ``xe``, ``nvidia``), from ``uevent``.
        product_name: The ``product_name`` file (FRU data of some AMD server cards).
        vram_total_bytes: ``mem_info_vram_total``.
        vram_used_bytes: ``mem_info_vram_used``.
        gtt_total_bytes: ``mem_info_gtt_total`` (system RAM the GPU may map).
        gtt_used_bytes: ``mem_info_gtt_used``.
    """

    card: str
    path: Path
    vendor_id: int | None
    device_id: int | None
    pci_bus_id: str | None
    driver: str | None
    product_name: str | None = None
    vram_total_bytes: int | None = None
    vram_used_bytes: int | None = None
    gtt_total_bytes: int | None = None
    gtt_used_bytes: int | None = None


def _number(folder: Path, name: str) -> int | None:
    text = read_text(folder / name)
    return parse_int(text) if text is not None else None


def parse_uevent(text: str) -> dict[str, str]:
    """``KEY=value`` lines of a sysfs ``uevent`` file as a dict."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def read_drm_card(card: str, device: Path) -> DrmCard:
    """Read one ``/sys/class/drm/cardN/device`` folder (missing files become None)."""
    uevent = parse_uevent(read_text(device / "uevent") or "")
    bus = normalize_bus_id(uevent.get("PCI_SLOT_NAME"))
    if bus is None:
        try:
            bus = normalize_bus_id(device.resolve().name)
        except OSError:
            bus = None
    product = (read_text(device / "product_name") or "").strip() or None
    return DrmCard(
        card=card,
        path=device,
        vendor_id=_number(device, "vendor"),
        device_id=_number(device, "device"),
        pci_bus_id=bus,
        driver=uevent.get("DRIVER"),
        product_name=product,
        vram_total_bytes=_number(device, "mem_info_vram_total"),
        vram_used_bytes=_number(device, "mem_info_vram_used"),
        gtt_total_bytes=_number(device, "mem_info_gtt_total"),
        gtt_used_bytes=_number(device, "mem_info_gtt_used"),
    )


def drm_class_exists(root: Path) -> bool:
    """True when ``root/sys/class/drm`` exists (it does on any Linux with a DRM driver)."""
    return (root / DRM_CLASS).is_dir()


def read_drm_cards(root: Path, vendor_id: int | None = None) -> list[DrmCard]:
    """The ``cardN`` devices under ``root/sys/class/drm``, in card order.

    Connector entries (``card0-DP-1``) and render nodes are skipped; so is a device seen twice.

    Args:
        root: The file-system root (``Path("/")``; a fake tree in tests).
        vendor_id: Only cards of this PCI vendor, when given.
    """
    folder = root / DRM_CLASS
    try:
        entries = sorted(
            (int(found.group(1)), entry.name)
            for entry in folder.iterdir()
            if (found := _CARD.match(entry.name))
        )
    except OSError:
        return []
    cards: list[DrmCard] = []
    seen: set[str] = set()
    for _, name in entries:
        device = folder / name / "device"
        if not device.is_dir():
            continue
        card = read_drm_card(name, device)
        if vendor_id is not None and card.vendor_id != vendor_id:
            continue
        key = card.pci_bus_id or name
        if key not in seen:
            seen.add(key)
            cards.append(card)
    return cards


def pci_ids_name(root: Path, vendor_id: int, device_id: int) -> str | None:
    """The device's name in the system's ``pci.ids`` (e.g. ``"Navi 31 [Radeon RX 7900 XT/7900
    XTX/7900 GRE/7900M]"``), or None when there is no database or no entry.

    Format (pciutils): a vendor line ``1002  Advanced Micro Devices, Inc. [AMD/ATI]`` at column 0,
    its devices on lines starting with one tab (``\\t744c  Navi 31 [...]``).
    """
    vendor_key = f"{vendor_id:04x}"
    device_key = f"\t{device_id:04x}"
    for relative in PCI_IDS_FILES:
        try:
            with (root / relative).open(encoding="utf-8", errors="replace") as lines:
                in_vendor = False
                for line in lines:
                    if not line.strip() or line.startswith("#"):
                        continue
                    if not line.startswith("\t"):
                        if in_vendor:
                            return None
                        in_vendor = line[:4].lower() == vendor_key
                    elif in_vendor and line[: len(device_key)].lower() == device_key:
                        return line[len(device_key) :].strip() or None
        except OSError:
            continue
        return None
    return None
