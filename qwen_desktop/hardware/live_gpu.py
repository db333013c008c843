"""Live GPU figures (utilisation, VRAM in use, temperature, power) for the sampler: NVIDIA
through NVML, AMD through the amdgpu driver's sysfs files.

:mod:`qwen_desktop.hardware.nvidia` probes the GPUs once for the hardware report (init, read,
shut down). A monitor reads them every second, so :class:`NvmlReader` keeps NVML initialised and
the device handles open between readings and shuts NVML down in :meth:`NvmlReader.close`.
The ``pynvml`` module (package ``nvidia-ml-py``) is imported lazily and can be injected for tests.

NVML calls used (NVML API reference, "Device Queries"): ``nvmlDeviceGetUtilizationRates``
(``.gpu``, percent of the last sample period a kernel ran), ``nvmlDeviceGetMemoryInfo``
(``.used``/``.total``, bytes), ``nvmlDeviceGetTemperature(handle, NVML_TEMPERATURE_GPU)``
(degrees C) and ``nvmlDeviceGetPowerUsage`` (milliwatts). A call the device does not support
(``NVMLError_NotSupported``, common for power on laptop GPUs) leaves that figure None.

AMD (Linux, kernel documentation "Misc AMDGPU driver information" and "AMDGPU hwmon
interfaces"): ``device/gpu_busy_percent`` (percent), ``device/mem_info_vram_used`` and
``_total`` (bytes, read through :func:`~qwen_desktop.hardware.drm.read_drm_cards`),
``device/hwmon/hwmon*/temp1_input`` (millidegrees C) and ``power1_average`` (microwatts;
``power1_input`` on newer kernels). Apple GPUs have no public live counters without root
(``powermetrics``), so none are read there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from qwen_desktop.core.machine import ProbeNote
from qwen_desktop.core.samples import GpuSample
from qwen_desktop.hardware.drm import VENDOR_AMD, drm_class_exists, pci_ids_name, read_drm_cards
from qwen_desktop.hardware.gpus import parse_int
from qwen_desktop.hardware.notes import read_text
from qwen_desktop.hardware.nvidia import _init_failure, _text

NVML_TEMPERATURE_GPU = 0
"""``pynvml.NVML_TEMPERATURE_GPU``: the GPU die sensor."""


class GpuReader(Protocol):
    """What the sampler needs of a live GPU source."""

    @property
    def note(self) -> ProbeNote | None:
        """Why no GPU of this source can be read, or None."""
        ...

    @property
    def available(self) -> bool:
        """True when at least one GPU can be read."""
        ...

    def read(self) -> tuple[GpuSample, ...]:
        """Every GPU's figures now. Never raises."""
        ...

    def close(self) -> None:
        """Release the source."""
        ...


class NvmlReader:
    """Reads every NVIDIA GPU's live figures; opened once, read many times.

    Args:
        nvml: A module with pynvml's API; None imports ``pynvml``. Tests pass a recorded fake.

    After construction, :attr:`note` says why no GPU can be read (no driver, no GPU, …) and
    :meth:`read` returns an empty tuple; it never raises.
    """

    def __init__(self, nvml: Any = None) -> None:
        self.note: ProbeNote | None = None
        self._nvml: Any = None
        self._devices: list[tuple[int, Any, str]] = []
        if nvml is None:
            try:
                import pynvml

                nvml = pynvml
            except ImportError:
                self.note = ProbeNote(
                    component="nvidia", state="no_library", message="pynvml is not installed."
                )
                return
        try:
            nvml.nvmlInit()
        except Exception as exc:
            self.note = _init_failure(exc, nvml)
            return
        self._nvml = nvml
        try:
            for index in range(int(nvml.nvmlDeviceGetCount())):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                name = _text(nvml.nvmlDeviceGetName(handle)) or f"NVIDIA GPU {index}"
                self._devices.append((index, handle, name))
        except Exception as exc:
            self.note = ProbeNote(
                component="nvidia", state="error", message=f"NVML could not list the GPUs: {exc}"
            )
        if not self._devices and self.note is None:
            self.note = ProbeNote(
                component="nvidia", state="no_gpu", message="NVML reports no GPU."
            )

    @property
    def available(self) -> bool:
        """True when at least one GPU can be read."""
        return bool(self._devices)

    def read(self) -> tuple[GpuSample, ...]:
        """Every GPU's figures now (None for what the device does not report). Never raises."""
        nvml = self._nvml
        samples = []
        for index, handle, name in self._devices:
            util = _call(lambda h=handle: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu))
            memory = _call(lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            temperature = _call(
                lambda h=handle: float(nvml.nvmlDeviceGetTemperature(h, NVML_TEMPERATURE_GPU))
            )
            milliwatts = _call(lambda h=handle: float(nvml.nvmlDeviceGetPowerUsage(h)))
            samples.append(
                GpuSample(
                    index=index,
                    name=name,
                    vendor="nvidia",
                    util_percent=util,
                    vram_used_bytes=None if memory is None else int(memory.used),
                    vram_total_bytes=None if memory is None else int(memory.total),
                    temperature_c=temperature,
                    power_watts=None if milliwatts is None else milliwatts / 1000.0,
                    source="NVML",
                )
            )
        return tuple(samples)

    def close(self) -> None:
        """Shut NVML down (reading afterwards returns no GPU)."""
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._nvml = None
        self._devices = []


def _call(read: Any) -> Any:
    """``read()``, or None when NVML refuses (not supported, GPU lost, driver reset)."""
    try:
        return read()
    except Exception:
        return None


class AmdSysfsReader:
    """Reads AMD GPUs' live figures from the amdgpu driver's sysfs files (Linux).

    Args:
        root: The file-system root (``Path("/")``; a fake tree in tests).
    """

    def __init__(self, root: Path = Path("/")) -> None:
        self._root = root
        self.note: ProbeNote | None = None
        self._names: dict[str, str] = {}
        cards = read_drm_cards(root, VENDOR_AMD) if drm_class_exists(root) else []
        self._cards = [card.card for card in cards if card.vram_total_bytes]
        for card in cards:
            name = card.product_name
            if name is None and card.device_id is not None:
                name = pci_ids_name(root, VENDOR_AMD, card.device_id)
            self._names[card.card] = name or f"AMD GPU {card.card}"
        if not self._cards:
            self.note = ProbeNote(component="amd", state="no_gpu", message="No amdgpu device.")

    @property
    def available(self) -> bool:
        """True when at least one AMD GPU reports its VRAM."""
        return bool(self._cards)

    def read(self) -> tuple[GpuSample, ...]:
        """Every AMD GPU's figures now (None for files the kernel does not provide)."""
        if not self._cards:
            return ()
        samples = []
        for card in read_drm_cards(self._root, VENDOR_AMD):
            if card.card not in self._cards:
                continue
            hwmon = _hwmon(card.path)
            temperature = _scaled(hwmon, ("temp1_input",), 1000.0)
            power = _scaled(hwmon, ("power1_average", "power1_input"), 1_000_000.0)
            busy = read_text(card.path / "gpu_busy_percent")
            samples.append(
                GpuSample(
                    index=int(card.card.removeprefix("card")),
                    name=self._names.get(card.card, card.card),
                    vendor="amd",
                    util_percent=_float(busy),
                    vram_used_bytes=card.vram_used_bytes,
                    vram_total_bytes=card.vram_total_bytes,
                    temperature_c=temperature,
                    power_watts=power,
                    source="sysfs amdgpu",
                )
            )
        return tuple(samples)

    def close(self) -> None:
        """Nothing to release (files are opened per reading)."""


class LiveGpus:
    """Several live GPU sources read as one (NVIDIA and AMD on the same machine).

    Args:
        readers: The sources; default: :class:`NvmlReader` and :class:`AmdSysfsReader`.
    """

    def __init__(self, readers: Sequence[GpuReader] | None = None) -> None:
        defaults: list[GpuReader] = [NvmlReader(), AmdSysfsReader()] if readers is None else []
        self.readers: list[GpuReader] = list(readers) if readers is not None else defaults

    @property
    def available(self) -> bool:
        """True when some source can read a GPU."""
        return any(reader.available for reader in self.readers)

    @property
    def note(self) -> ProbeNote | None:
        """The first source's note when no source can read a GPU (NVML's: the likeliest)."""
        if self.available:
            return None
        return next((r.note for r in self.readers if r.note is not None), None)

    def read(self) -> tuple[GpuSample, ...]:
        """Every source's GPUs, in source order."""
        return tuple(gpu for reader in self.readers for gpu in reader.read())

    def close(self) -> None:
        """Close every source."""
        for reader in self.readers:
            reader.close()


def _hwmon(device: Path) -> Path | None:
    try:
        return next(iter(sorted((device / "hwmon").glob("hwmon*"))), None)
    except OSError:
        return None


def _float(text: str | None) -> float | None:
    value = parse_int(text) if text is not None else None
    return None if value is None else float(value)


def _scaled(folder: Path | None, names: tuple[str, ...], divisor: float) -> float | None:
    if folder is None:
        return None
    for name in names:
        value = _float(read_text(folder / name))
        if value is not None:
            return value / divisor
    return None
