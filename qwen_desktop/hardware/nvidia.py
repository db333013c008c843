"""The NVIDIA GPU probe, through NVML (the ``pynvml`` module of the ``nvidia-ml-py`` package).

NVML ships with the NVIDIA driver (``libnvidia-ml.so.1`` / ``nvml.dll``); ``pynvml`` only binds it
at ``nvmlInit()``, so the import works everywhere and the absence of a driver shows up as
``NVMLError_LibraryNotFound``. The module is imported lazily, and can be injected for tests.

Like every vendor probe, :func:`probe_nvidia` returns ``(gpus, notes)`` and never raises.
"""

from __future__ import annotations

import contextlib
from typing import Any

from qwen_desktop.core.machine import GpuInfo, ProbeNote
from qwen_desktop.hardware.gpus import normalize_bus_id, pci_id
from qwen_desktop.hardware.notes import describe_error

NO_LIBRARY_MESSAGE = (
    "No NVIDIA driver library (libnvidia-ml) found: NVIDIA GPUs cannot be seen "
    "(normal on machines without an NVIDIA GPU)."
)
DRIVER_NOT_LOADED_MESSAGE = (
    "The NVIDIA driver library is installed but the kernel driver is not loaded: NVIDIA GPUs "
    "cannot be used until it is (check `nvidia-smi`; a reboot after a driver update often helps)."
)
NO_GPU_MESSAGE = "The NVIDIA driver is loaded but reports no GPU."

_SOURCES = {
    "name": "NVML nvmlDeviceGetName",
    "vram_total_bytes": "NVML nvmlDeviceGetMemoryInfo",
    "vram_free_bytes": "NVML nvmlDeviceGetMemoryInfo",
    "driver_version": "NVML nvmlSystemGetDriverVersion",
    "compute_capability": "NVML nvmlDeviceGetCudaComputeCapability",
}


def _note(state: str, message: str) -> ProbeNote:
    return ProbeNote(component="nvidia", state=state, message=message)


def _text(value: object) -> str:
    """NVML strings are ``bytes`` in older pynvml releases and ``str`` in newer ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _is(exc: BaseException, nvml: Any, class_name: str) -> bool:
    """True when ``exc`` is an instance of ``nvml.<class_name>`` (when the module defines it)."""
    cls = getattr(nvml, class_name, None)
    return isinstance(cls, type) and isinstance(exc, cls)


def _init_failure(exc: BaseException, nvml: Any) -> ProbeNote:
    """The note for an ``nvmlInit()`` failure."""
    if _is(exc, nvml, "NVMLError_LibraryNotFound"):
        return _note("no_library", NO_LIBRARY_MESSAGE)
    if _is(exc, nvml, "NVMLError_DriverNotLoaded"):
        return _note("driver_not_loaded", DRIVER_NOT_LOADED_MESSAGE)
    return _note("error", f"NVML could not start, NVIDIA GPUs are not seen: {describe_error(exc)}")


def _pci(nvml: Any, handle: object) -> tuple[str | None, str | None]:
    """(PCI address, ``vendor:device`` ids) from ``nvmlDeviceGetPciInfo``; Nones when unknown.

    ``pciDeviceId`` packs the device id in its high 16 bits and the vendor id in the low ones.
    """
    try:
        info = nvml.nvmlDeviceGetPciInfo(handle)
        word = int(info.pciDeviceId)
        return normalize_bus_id(_text(info.busId)), pci_id(word & 0xFFFF, word >> 16)
    except Exception:  # optional: used only to recognise the same GPU seen elsewhere
        return None, None


def _device(nvml: Any, index: int, driver_version: str | None) -> GpuInfo:
    """One GPU's report. Raises whatever NVML raises for the name or the memory."""
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _text(nvml.nvmlDeviceGetName(handle)) or f"NVIDIA GPU {index}"
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    compute_capability: str | None
    try:
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
        compute_capability = f"{int(major)}.{int(minor)}"
    except Exception:  # old drivers lack the call: the figure is optional
        compute_capability = None
    bus_id, ids = _pci(nvml, handle)
    sources = dict(_SOURCES)
    if driver_version is None:
        del sources["driver_version"]
    if compute_capability is None:
        del sources["compute_capability"]
    return GpuInfo(
        vendor="nvidia",
        name=name,
        vram_total_bytes=int(memory.total),
        vram_free_bytes=int(memory.free),
        source="NVML",
        index=index,
        driver_version=driver_version,
        compute_capability=compute_capability,
        pci_bus_id=bus_id,
        pci_id=ids,
        sources=sources,
    )


def probe_nvidia(nvml: Any = None) -> tuple[list[GpuInfo], list[ProbeNote]]:
    """NVIDIA GPUs seen by NVML, with total and free VRAM. Never raises.

    Args:
        nvml: A module with pynvml's API (``nvmlInit``, ``nvmlDeviceGetCount``, …, and its
            ``NVMLError*`` classes); None imports ``pynvml``. Tests pass a fake.

    Returns:
        ``(gpus, notes)``: one :class:`GpuInfo` per readable device (``vram_*_bytes`` from
        ``nvmlDeviceGetMemoryInfo``, ``source="NVML"``), and a note with ``component="nvidia"``
        and state ``no_library`` (no pynvml or no libnvidia-ml), ``driver_not_loaded``,
        ``no_gpu`` (zero devices) or ``error`` (any other failure, with its text).
    """
    if nvml is None:
        try:
            import pynvml

            nvml = pynvml
        except ImportError:
            return [], [_note("no_library", NO_LIBRARY_MESSAGE)]
        except Exception as exc:
            return [], [_note("error", f"The pynvml module failed to load: {describe_error(exc)}")]
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return [], [_init_failure(exc, nvml)]
    gpus: list[GpuInfo] = []
    notes: list[ProbeNote] = []
    try:
        try:
            driver_version: str | None = _text(nvml.nvmlSystemGetDriverVersion()) or None
        except Exception:
            driver_version = None
        count = int(nvml.nvmlDeviceGetCount())
        if count == 0:
            notes.append(_note("no_gpu", NO_GPU_MESSAGE))
        for index in range(count):
            try:
                gpus.append(_device(nvml, index, driver_version))
            except Exception as exc:
                notes.append(
                    _note("error", f"NVIDIA GPU {index} could not be read: {describe_error(exc)}")
                )
    except Exception as exc:
        notes.append(_note("error", f"NVML could not list the GPUs: {describe_error(exc)}"))
    finally:
        # Shutting down a library that worked a moment ago: a failure here changes nothing.
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return gpus, notes
