"""One reading of the machine's resources (what the sampler measures and the monitor draws).

Pure data: :class:`Sample` and :class:`GpuSample` are built by
:mod:`qwen_desktop.monitor.sampler` from psutil and NVML and read by the explanation rules
(:mod:`qwen_desktop.core.explanations`), the monitor dock and ``qwen-desktop monitor``.
Every figure says its unit in its name; a figure the platform does not give is None, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment.

    Attributes:
        index: The vendor library's device index (NVML index for NVIDIA).
        name: The device name (``NVIDIA GeForce RTX 4090``).
        vendor: ``nvidia``, ``amd``, ``apple`` or ``intel``.
        util_percent: Share of the last sample period the GPU was busy (0-100; NVML
            ``nvmlDeviceGetUtilizationRates().gpu``).
        vram_used_bytes: VRAM in use (all processes).
        vram_total_bytes: VRAM on the device.
        temperature_c: Core temperature (degrees Celsius).
        power_watts: Board power draw (watts; NVML reports milliwatts).
        source: Where the figures came from (``NVML``).
    """

    index: int
    name: str
    vendor: str = "nvidia"
    util_percent: float | None = None
    vram_used_bytes: int | None = None
    vram_total_bytes: int | None = None
    temperature_c: float | None = None
    power_watts: float | None = None
    source: str = "NVML"

    @property
    def vram_fraction(self) -> float | None:
        """``vram_used_bytes / vram_total_bytes`` (0-1), or None when either is unknown."""
        if self.vram_used_bytes is None or not self.vram_total_bytes:
            return None
        return self.vram_used_bytes / self.vram_total_bytes

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON object (None for what the platform does not give)."""
        return {
            "index": self.index,
            "name": self.name,
            "vendor": self.vendor,
            "util_percent": self.util_percent,
            "vram_used_bytes": self.vram_used_bytes,
            "vram_total_bytes": self.vram_total_bytes,
            "temperature_c": self.temperature_c,
            "power_watts": self.power_watts,
            "source": self.source,
        }


@dataclass(frozen=True)
class Sample:
    """The machine at one moment.

    Rates (``*_per_s``) are averages since the previous sample; the first sample of a sampler
    has None there (nothing to compare with).

    Attributes:
        time_s: Monotonic clock (seconds; only differences mean something).
        wall_time: Seconds since the Unix epoch (for logs and JSON lines).
        cpu_percent: Whole-machine CPU use (0-100, the mean of ``cpu_per_core``).
        cpu_per_core: Each logical CPU's use (0-100).
        memory_total_bytes: RAM.
        memory_used_bytes: RAM in use (``total - available``: what programs hold, page cache
            excluded).
        memory_available_bytes: RAM that can be given to programs without swapping (the
            kernel's ``MemAvailable`` on Linux).
        swap_total_bytes: Swap space.
        swap_used_bytes: Swap in use.
        swap_in_bytes_per_s: Pages read back from swap (bytes/s).
        swap_out_bytes_per_s: Pages written out to swap (bytes/s).
        disk_read_bytes_per_s: All disks' read throughput (bytes/s).
        disk_write_bytes_per_s: All disks' write throughput (bytes/s; a download shows here).
        app_rss_bytes: Resident memory of this app's process (an in-process engine included).
        engine_rss_bytes: Resident memory of a separate engine process and its children (the
            Ollama server and its runners); None when the engine runs in-process or none runs.
        gpus: One entry per GPU the sampler can read.
        tokens_per_second: Decode speed of the running answer; None when no answer runs.
    """

    time_s: float
    wall_time: float
    cpu_percent: float
    cpu_per_core: tuple[float, ...]
    memory_total_bytes: int
    memory_used_bytes: int
    memory_available_bytes: int
    swap_total_bytes: int = 0
    swap_used_bytes: int = 0
    swap_in_bytes_per_s: float | None = None
    swap_out_bytes_per_s: float | None = None
    disk_read_bytes_per_s: float | None = None
    disk_write_bytes_per_s: float | None = None
    app_rss_bytes: int | None = None
    engine_rss_bytes: int | None = None
    gpus: tuple[GpuSample, ...] = field(default_factory=tuple)
    tokens_per_second: float | None = None

    @property
    def memory_fraction(self) -> float:
        """RAM in use as a fraction of RAM (0-1)."""
        return self.memory_used_bytes / self.memory_total_bytes if self.memory_total_bytes else 0.0

    @property
    def swap_bytes_per_s(self) -> float | None:
        """Swap traffic in both directions (bytes/s), or None when unknown."""
        if self.swap_in_bytes_per_s is None and self.swap_out_bytes_per_s is None:
            return None
        return (self.swap_in_bytes_per_s or 0.0) + (self.swap_out_bytes_per_s or 0.0)

    def to_json(self) -> dict[str, Any]:
        """One JSON object (the line ``qwen-desktop monitor --json`` prints)."""
        return {
            "wall_time": round(self.wall_time, 3),
            "cpu_percent": round(self.cpu_percent, 1),
            "cpu_per_core": [round(value, 1) for value in self.cpu_per_core],
            "memory_total_bytes": self.memory_total_bytes,
            "memory_used_bytes": self.memory_used_bytes,
            "memory_available_bytes": self.memory_available_bytes,
            "swap_total_bytes": self.swap_total_bytes,
            "swap_used_bytes": self.swap_used_bytes,
            "swap_in_bytes_per_s": _rounded(self.swap_in_bytes_per_s),
            "swap_out_bytes_per_s": _rounded(self.swap_out_bytes_per_s),
            "disk_read_bytes_per_s": _rounded(self.disk_read_bytes_per_s),
            "disk_write_bytes_per_s": _rounded(self.disk_write_bytes_per_s),
            "app_rss_bytes": self.app_rss_bytes,
            "engine_rss_bytes": self.engine_rss_bytes,
            "gpus": [gpu.to_json() for gpu in self.gpus],
            "tokens_per_second": _rounded(self.tokens_per_second, 2),
        }


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
