"""Readers for the four ways an AMD GPU can be seen, each giving :class:`AmdDevice` records.

* The ``amdsmi`` Python bindings (ROCm ≥ 6): ``amdsmi_get_gpu_memory_total/usage`` with
  ``AmdSmiMemoryType.VRAM``/``GTT`` (bytes), ``amdsmi_get_gpu_asic_info`` (``market_name``,
  ``device_id``, ``num_compute_units``, ``target_graphics_version``),
  ``amdsmi_get_gpu_device_bdf``, ``amdsmi_get_gpu_vram_info`` (``vram_type``, ``vram_size`` MB).
* ``amd-smi static --asic --bus --vram --driver --json`` (+ ``metric --mem-usage --json``):
  a list of records, wrapped in ``{"gpu_data": [...]}`` by ROCm ≥ 6.4; sizes are
  ``{"value": 24560, "unit": "MB"}`` where amd-smi's "MB" is MiB (it divides bytes by 1024²).
* ``rocm-smi --showmeminfo vram gtt --showproductname --showbus --json`` (deprecated tool):
  ``{"card0": {"VRAM Total Memory (B)": "…", "Card Series": "…", "PCI Bus": "…"}}``.
* sysfs (:mod:`qwen_desktop.hardware.drm`).

The parsers take text (recorded outputs in ``tests/fixtures/hardware/``) and never raise on
odd values ("N/A", missing keys): a figure they cannot read stays None.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qwen_desktop.hardware.drm import DrmCard
from qwen_desktop.hardware.gpus import normalize_bus_id, parse_int

MIB = 1024**2
_UNITS = {"b": 1, "kb": 1024, "mb": MIB, "gb": 1024**3, "kib": 1024, "mib": MIB, "gib": 1024**3}


@dataclass
class AmdDevice:
    """One AMD GPU as a source reports it; byte counts, None where unknown.

    Attributes:
        source: ``amdsmi``, ``amd-smi``, ``rocm-smi`` or ``sysfs``.
        sources: Field name → where that figure came from (filled by the readers and the merge).
    """

    source: str
    name: str | None = None
    vram_total_bytes: int | None = None
    vram_used_bytes: int | None = None
    gtt_total_bytes: int | None = None
    gtt_used_bytes: int | None = None
    pci_bus_id: str | None = None
    device_id: int | None = None
    vram_type: str | None = None
    driver_version: str | None = None
    compute_units: int | None = None
    gfx_target: str | None = None
    sources: dict[str, str] = field(default_factory=dict)


def _text(value: object) -> str | None:
    """A stripped string, None for empty and ``N/A`` values."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if value is None:
        return None
    text = str(value).strip()
    return None if not text or text.upper() in {"N/A", "NA", "UNKNOWN"} else text


def size_bytes(value: object, default_unit: str = "mb") -> int | None:
    """Bytes from ``{"value": 512, "unit": "MB"}``, ``"512 MB"``, ``512`` (in ``default_unit``).

    amd-smi's "MB" means MiB. Returns None for "N/A" and anything unreadable.
    """
    if isinstance(value, dict):
        return size_bytes(value.get("value"), str(value.get("unit") or default_unit))
    number: int | None
    unit = default_unit
    if isinstance(value, str):
        found = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", value)
        if not found:
            return None
        number = parse_int(found.group(1))
        unit = found.group(2) or default_unit
    else:
        number = parse_int(value)
    scale = _UNITS.get(unit.strip().lower())
    if number is None or scale is None or number < 0:
        return None
    return number * scale


_SOURCE_FIELDS = {
    "vram_total_bytes": "vram_total_bytes",
    "vram_free_bytes": "vram_used_bytes",
    "gtt_bytes": "gtt_total_bytes",
    "name": "name",
}


def _cite(device: AmdDevice, sources: dict[str, str]) -> AmdDevice:
    """Record ``sources`` on ``device`` for the figures it really has; returns it."""
    device.sources.update(
        {
            key: text
            for key, text in sources.items()
            if getattr(device, _SOURCE_FIELDS[key]) is not None
        }
    )
    return device


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _call(function: Callable[..., Any], *args: object) -> Any:
    """``function(*args)``, or None when it raises (an unsupported query is not an error)."""
    try:
        return function(*args)
    except Exception:
        return None


def _vram_type_name(module: Any, value: object) -> str | None:
    """``GDDR6``/``LPDDR5`` from amdsmi's ``vram_type`` (an ``AmdSmiVramType`` int or a string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        enum = getattr(module, "AmdSmiVramType", None)
        name = None
        with contextlib.suppress(Exception):
            name = enum(value).name if enum is not None else None
        return name.removeprefix("VRAM_TYPE_") if isinstance(name, str) else None
    return _text(value)


def read_amdsmi(module: Any) -> list[AmdDevice]:
    """Every GPU the ``amdsmi`` bindings list. Raises what ``amdsmi_init`` raises.

    Args:
        module: The ``amdsmi`` module (or a fake with the same functions).
    """
    flags = getattr(getattr(module, "AmdSmiInitFlags", None), "INIT_AMD_GPUS", None)
    if flags is not None:
        module.amdsmi_init(flags)
    else:
        module.amdsmi_init()
    devices: list[AmdDevice] = []
    try:
        memory = module.AmdSmiMemoryType
        for handle in module.amdsmi_get_processor_handles():
            asic = _dict(_call(module.amdsmi_get_gpu_asic_info, handle))
            vram = _dict(_call(module.amdsmi_get_gpu_vram_info, handle))
            driver = _dict(_call(module.amdsmi_get_gpu_driver_info, handle))
            total = _call(module.amdsmi_get_gpu_memory_total, handle, memory.VRAM)
            device = AmdDevice(
                source="amdsmi",
                name=_text(asic.get("market_name")),
                vram_total_bytes=total,
                vram_used_bytes=_call(module.amdsmi_get_gpu_memory_usage, handle, memory.VRAM),
                gtt_total_bytes=_call(module.amdsmi_get_gpu_memory_total, handle, memory.GTT),
                gtt_used_bytes=_call(module.amdsmi_get_gpu_memory_usage, handle, memory.GTT),
                pci_bus_id=normalize_bus_id(_text(_call(module.amdsmi_get_gpu_device_bdf, handle))),
                device_id=parse_int(asic.get("device_id")),
                vram_type=_vram_type_name(module, vram.get("vram_type")),
                driver_version=_text(driver.get("driver_version")),
                compute_units=parse_int(asic.get("num_compute_units")),
                gfx_target=_text(asic.get("target_graphics_version")),
            )
            if device.vram_total_bytes is None:
                device.vram_total_bytes = size_bytes(
                    vram.get("vram_size", vram.get("vram_size_mb"))
                )
            total_source = (
                "amdsmi amdsmi_get_gpu_memory_total(VRAM)"
                if total is not None
                else "amdsmi amdsmi_get_gpu_vram_info vram_size"
            )
            _cite(
                device,
                {
                    "vram_total_bytes": total_source,
                    "vram_free_bytes": "amdsmi amdsmi_get_gpu_memory_usage(VRAM)",
                    "gtt_bytes": "amdsmi amdsmi_get_gpu_memory_total/usage(GTT)",
                    "name": "amdsmi amdsmi_get_gpu_asic_info market_name",
                },
            )
            devices.append(device)
    finally:
        with contextlib.suppress(Exception):
            module.amdsmi_shut_down()
    return devices


def _records(text: str) -> list[dict[str, Any]]:
    """The per-GPU records of amd-smi JSON: a list, or ``{"gpu_data": [...]}`` (ROCm ≥ 6.4)."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if isinstance(data, dict):
        data = data.get("gpu_data", [])
    return [record for record in data if isinstance(record, dict)] if isinstance(data, list) else []


def parse_amd_smi(static_text: str, metric_text: str | None = None) -> list[AmdDevice]:
    """Devices from ``amd-smi static … --json`` and, optionally, ``amd-smi metric --mem-usage
    --json`` (matched by the ``gpu`` index). Unparsable text gives an empty list."""
    usage = {
        parse_int(record.get("gpu")): _dict(record.get("mem_usage"))
        for record in _records(metric_text or "")
    }
    devices: list[AmdDevice] = []
    for record in _records(static_text):
        asic, bus, vram = (_dict(record.get(key)) for key in ("asic", "bus", "vram"))
        memory = usage.get(parse_int(record.get("gpu")), {})
        bdf = bus.get("bdf") or asic.get("pci_bdf") or record.get("bdf")
        device = AmdDevice(
            source="amd-smi",
            name=_text(asic.get("market_name")),
            vram_total_bytes=size_bytes(memory.get("total_vram"))
            or size_bytes(vram.get("size", vram.get("vram_size_mb"))),
            vram_used_bytes=size_bytes(memory.get("used_vram")),
            gtt_total_bytes=size_bytes(memory.get("total_gtt")),
            gtt_used_bytes=size_bytes(memory.get("used_gtt")),
            pci_bus_id=normalize_bus_id(_text(bdf)),
            device_id=parse_int(asic.get("device_id")),
            vram_type=_text(vram.get("type", vram.get("vram_type"))),
            driver_version=_text(_dict(record.get("driver")).get("version")),
            compute_units=parse_int(asic.get("num_compute_units")),
            gfx_target=_text(asic.get("target_graphics_version")),
        )
        total_source = (
            "amd-smi metric --mem-usage total_vram"
            if size_bytes(memory.get("total_vram"))
            else "amd-smi static vram.size"
        )
        _cite(
            device,
            {
                "vram_total_bytes": total_source,
                "vram_free_bytes": "amd-smi metric --mem-usage used_vram",
                "gtt_bytes": "amd-smi metric --mem-usage total_gtt/used_gtt",
                "name": "amd-smi static asic.market_name",
            },
        )
        devices.append(device)
    return devices


def _lower_keys(record: dict[str, Any]) -> dict[str, Any]:
    return {str(key).strip().lower(): value for key, value in record.items()}


def parse_rocm_smi(text: str) -> list[AmdDevice]:
    """Devices from ``rocm-smi --showmeminfo vram gtt --showproductname --showbus --json``.

    Keys are matched case-insensitively (older releases wrote ``Card series``). Cards come in
    ``cardN`` order; the ``system`` entry (driver version) applies to all of them.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    system = _lower_keys(_dict(data.get("system")))
    cards = sorted(
        (int(key[4:]), _lower_keys(value))
        for key, value in data.items()
        if isinstance(key, str) and re.fullmatch(r"card\d+", key) and isinstance(value, dict)
    )
    devices: list[AmdDevice] = []
    for _, card in cards:
        name = _text(card.get("card series")) or _text(card.get("device name"))
        device = AmdDevice(
            source="rocm-smi",
            name=name,
            vram_total_bytes=parse_int(card.get("vram total memory (b)")),
            vram_used_bytes=parse_int(card.get("vram total used memory (b)")),
            gtt_total_bytes=parse_int(card.get("gtt total memory (b)")),
            gtt_used_bytes=parse_int(card.get("gtt total used memory (b)")),
            pci_bus_id=normalize_bus_id(_text(card.get("pci bus"))),
            device_id=parse_int(card.get("card model")) or parse_int(card.get("device id")),
            driver_version=_text(system.get("driver version")),
            gfx_target=_text(card.get("gfx version")),
        )
        _cite(
            device,
            {
                "vram_total_bytes": "rocm-smi --showmeminfo vram",
                "vram_free_bytes": "rocm-smi --showmeminfo vram",
                "gtt_bytes": "rocm-smi --showmeminfo gtt",
                "name": "rocm-smi --showproductname",
            },
        )
        devices.append(device)
    return devices


def from_drm_card(card: DrmCard) -> AmdDevice:
    """An :class:`AmdDevice` from sysfs files (name left to the caller: sysfs has none)."""
    folder = str(card.path)
    device = AmdDevice(
        source="sysfs",
        name=card.product_name,
        vram_total_bytes=card.vram_total_bytes,
        vram_used_bytes=card.vram_used_bytes,
        gtt_total_bytes=card.gtt_total_bytes,
        gtt_used_bytes=card.gtt_used_bytes,
        pci_bus_id=card.pci_bus_id,
        device_id=card.device_id,
    )
    return _cite(
        device,
        {
            "vram_total_bytes": f"{folder}/mem_info_vram_total",
            "vram_free_bytes": f"{folder}/mem_info_vram_used",
            "gtt_bytes": f"{folder}/mem_info_gtt_total, mem_info_gtt_used",
            "name": f"{folder}/product_name",
        },
    )


def fill_from_sysfs(device: AmdDevice, card: DrmCard) -> None:
    """Complete ``device`` with the sysfs figures it lacks (usage, GTT, device id)."""
    folder = str(card.path)
    if device.vram_used_bytes is None and card.vram_used_bytes is not None:
        device.vram_used_bytes = card.vram_used_bytes
        device.sources["vram_free_bytes"] = f"{folder}/mem_info_vram_used"
    if device.vram_total_bytes is None and card.vram_total_bytes is not None:
        device.vram_total_bytes = card.vram_total_bytes
        device.sources["vram_total_bytes"] = f"{folder}/mem_info_vram_total"
    if device.gtt_total_bytes is None and card.gtt_total_bytes is not None:
        device.gtt_total_bytes = card.gtt_total_bytes
        device.gtt_used_bytes = card.gtt_used_bytes
        device.sources["gtt_bytes"] = f"{folder}/mem_info_gtt_total, mem_info_gtt_used"
    if device.device_id is None:
        device.device_id = card.device_id
