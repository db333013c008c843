"""Windows readers: DXGI adapters through ctypes, and the display-adapter registry keys.

Only :func:`enumerate_dxgi` and :func:`read_display_registry` touch Windows APIs; both raise
``OSError`` elsewhere. The records they return are plain data, built the same way from recorded
text in tests (:func:`qwen_desktop.hardware.windows.parse_reg_query`).

DXGI layout (``dxgi.h``, Windows SDK): ``CreateDXGIFactory1(REFIID, void**)`` with
``IID_IDXGIFactory1`` = ``{770aae78-f26f-4dba-a829-253c83d1b387}``; vtable slots (IUnknown 0–2,
IDXGIObject 3–6): ``IDXGIFactory1::EnumAdapters1`` = 12, ``IDXGIAdapter1::GetDesc1`` = 10;
``EnumAdapters1`` returns ``DXGI_ERROR_NOT_FOUND`` (0x887A0002) past the last adapter.
``DXGI_ADAPTER_DESC1`` = ``WCHAR Description[128]; UINT VendorId, DeviceId, SubSysId, Revision;
SIZE_T DedicatedVideoMemory, DedicatedSystemMemory, SharedSystemMemory; LUID AdapterLuid;
UINT Flags``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

DISPLAY_CLASS_KEY = r"SYSTEM\CurrentControlSet\Control\Class\{4d36e968-e325-11ce-bfc1-08002be10318}"
"""The display-adapter device class, under HKEY_LOCAL_MACHINE."""

REGISTRY_VALUES = (
    "DriverDesc",
    "MatchingDeviceId",
    "DriverVersion",
    "HardwareInformation.qwMemorySize",
    "HardwareInformation.MemorySize",
)

DXGI_ERROR_NOT_FOUND = 0x887A0002

_MATCHING_ID = re.compile(r"ven_([0-9a-f]{4})&dev_([0-9a-f]{4})", re.IGNORECASE)


@dataclass(frozen=True)
class DxgiAdapter:
    """The fields of one ``DXGI_ADAPTER_DESC1`` (sizes in bytes)."""

    description: str
    vendor_id: int
    device_id: int
    dedicated_video_memory: int
    dedicated_system_memory: int
    shared_system_memory: int
    flags: int = 0


@dataclass(frozen=True)
class RegistryAdapter:
    """One display-adapter driver key. Sizes in bytes, None when the value is absent.

    Attributes:
        key: The registry key (``…\\{4d36e968-…}\\0001``).
        description: ``DriverDesc`` (``NVIDIA RTX A4000``).
        vendor_id: From ``MatchingDeviceId`` (``pci\\ven_10de&dev_24b0``).
        device_id: Same.
        memory_size_64: ``HardwareInformation.qwMemorySize`` (64-bit, trusted).
        memory_size_32: ``HardwareInformation.MemorySize`` (32-bit: never used as a size).
        driver_version: ``DriverVersion``.
    """

    key: str
    description: str | None
    vendor_id: int | None
    device_id: int | None
    memory_size_64: int | None
    memory_size_32: int | None
    driver_version: str | None


def registry_int(value: object) -> int | None:
    """An integer from a registry value: an int (REG_DWORD/REG_QWORD) or little-endian bytes
    (REG_BINARY, which NVIDIA drivers use for ``HardwareInformation.MemorySize``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "little") if value else None
    return None


def registry_adapter(key: str, values: dict[str, object]) -> RegistryAdapter:
    """A :class:`RegistryAdapter` from a key's values (as ``winreg.QueryValueEx`` returns them)."""
    matching = _MATCHING_ID.search(str(values.get("MatchingDeviceId") or ""))
    description = str(values.get("DriverDesc") or "").strip() or None
    version = str(values.get("DriverVersion") or "").strip() or None
    return RegistryAdapter(
        key=key,
        description=description,
        vendor_id=int(matching.group(1), 16) if matching else None,
        device_id=int(matching.group(2), 16) if matching else None,
        memory_size_64=registry_int(values.get("HardwareInformation.qwMemorySize")),
        memory_size_32=registry_int(values.get("HardwareInformation.MemorySize")),
        driver_version=version,
    )


def read_display_registry() -> list[RegistryAdapter]:
    """The ``NNNN`` adapter keys of the display class, read with ``winreg``.

    Keys remain for adapters that were removed, so these records size GPUs only when DXGI
    fails; otherwise they are matched against DXGI/NVML adapters (case C7 note).

    Raises:
        OSError: Not on Windows, or the class key cannot be opened.
    """
    if sys.platform != "win32":
        raise OSError("the registry exists on Windows only")
    import winreg

    adapters: list[RegistryAdapter] = []
    with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, DISPLAY_CLASS_KEY) as display_class:
        index = 0
        while True:
            try:
                name = winreg.EnumKey(display_class, index)
            except OSError:
                break
            index += 1
            if not (len(name) == 4 and name.isdigit()):
                continue
            values: dict[str, object] = {}
            try:
                with winreg.OpenKey(display_class, name) as key:
                    for value_name in REGISTRY_VALUES:
                        try:
                            values[value_name] = winreg.QueryValueEx(key, value_name)[0]
                        except OSError:
                            continue
            except OSError:  # "Properties" and the like deny access
                continue
            full_name = f"HKEY_LOCAL_MACHINE\\{DISPLAY_CLASS_KEY}\\{name}"
            adapters.append(registry_adapter(full_name, values))
    return adapters


def enumerate_dxgi() -> list[DxgiAdapter]:
    """Every adapter of ``IDXGIFactory1::EnumAdapters1``, with its ``DXGI_ADAPTER_DESC1``.

    Raises:
        OSError: Not on Windows, ``dxgi.dll`` missing, or a DXGI call failed.
    """
    if sys.platform != "win32":
        raise OSError("DXGI exists on Windows only")
    import ctypes
    from ctypes import wintypes

    class Guid(ctypes.Structure):
        _fields_ = [
            ("Data1", wintypes.DWORD),
            ("Data2", wintypes.WORD),
            ("Data3", wintypes.WORD),
            ("Data4", ctypes.c_ubyte * 8),
        ]

    class Luid(ctypes.Structure):
        _fields_ = [("LowPart", wintypes.DWORD), ("HighPart", wintypes.LONG)]

    class AdapterDesc1(ctypes.Structure):
        _fields_ = [
            ("Description", ctypes.c_wchar * 128),
            ("VendorId", ctypes.c_uint),
            ("DeviceId", ctypes.c_uint),
            ("SubSysId", ctypes.c_uint),
            ("Revision", ctypes.c_uint),
            ("DedicatedVideoMemory", ctypes.c_size_t),
            ("DedicatedSystemMemory", ctypes.c_size_t),
            ("SharedSystemMemory", ctypes.c_size_t),
            ("AdapterLuid", Luid),
            ("Flags", ctypes.c_uint),
        ]

    tail = (ctypes.c_ubyte * 8)(0xA8, 0x29, 0x25, 0x3C, 0x83, 0xD1, 0xB3, 0x87)
    iid = Guid(0x770AAE78, 0xF26F, 0x4DBA, tail)  # IID_IDXGIFactory1

    def method(obj: ctypes.c_void_p, slot: int, *argtypes: Any) -> Any:
        vtable = ctypes.cast(obj, ctypes.POINTER(ctypes.POINTER(ctypes.c_void_p))).contents
        prototype = ctypes.WINFUNCTYPE(ctypes.c_long, ctypes.c_void_p, *argtypes)
        return prototype(vtable[slot])

    def release(obj: ctypes.c_void_p) -> None:
        vtable = ctypes.cast(obj, ctypes.POINTER(ctypes.POINTER(ctypes.c_void_p))).contents
        ctypes.WINFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)(vtable[2])(obj)

    dxgi = ctypes.WinDLL("dxgi")
    create = dxgi.CreateDXGIFactory1
    create.restype = ctypes.c_long
    create.argtypes = [ctypes.POINTER(Guid), ctypes.POINTER(ctypes.c_void_p)]
    factory = ctypes.c_void_p()
    result = create(ctypes.byref(iid), ctypes.byref(factory))
    if result < 0:
        raise OSError(f"CreateDXGIFactory1 failed (HRESULT 0x{result & 0xFFFFFFFF:08X})")
    adapters: list[DxgiAdapter] = []
    try:
        enum_adapters = method(factory, 12, ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p))
        for index in range(64):
            adapter = ctypes.c_void_p()
            result = enum_adapters(factory, index, ctypes.byref(adapter))
            if result & 0xFFFFFFFF == DXGI_ERROR_NOT_FOUND:
                break
            if result < 0:
                raise OSError(f"EnumAdapters1 failed (HRESULT 0x{result & 0xFFFFFFFF:08X})")
            try:
                desc = AdapterDesc1()
                get_desc = method(adapter, 10, ctypes.POINTER(AdapterDesc1))
                if get_desc(adapter, ctypes.byref(desc)) >= 0:
                    adapters.append(
                        DxgiAdapter(
                            description=desc.Description,
                            vendor_id=desc.VendorId,
                            device_id=desc.DeviceId,
                            dedicated_video_memory=desc.DedicatedVideoMemory,
                            dedicated_system_memory=desc.DedicatedSystemMemory,
                            shared_system_memory=desc.SharedSystemMemory,
                            flags=desc.Flags,
                        )
                    )
            finally:
                release(adapter)
    finally:
        release(factory)
    return adapters
