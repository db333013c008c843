"""The hardware report: what this machine has, each figure with its source.

This is the schema of ``qwen-desktop scan --json`` and of the ``--hardware PROFILE.json`` files
other verbs accept, so any machine can be evaluated anywhere. Units are in field names (bytes).
Each section carries ``sources``: a map from a field name to where its value came from
(for example ``"/proc/meminfo"``, ``"NVML"``, ``"sysctl hw.memsize"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qwen_desktop.core.errors import QwenDesktopError

GpuVendor = Literal["nvidia", "amd", "apple", "intel", "other"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    sources: dict[str, str] = Field(default_factory=dict)


class OsInfo(_Section):
    system: str = ""
    release: str = ""
    machine: str = ""
    description: str = ""


class CpuInfo(_Section):
    model: str = "unknown CPU"
    physical_cores: int = 1
    logical_cores: int = 1
    usable_cores: int | None = None
    flags: list[str] = Field(default_factory=list)
    memory_bandwidth_bytes_per_second: int | None = None
    """RAM bandwidth in bytes/s for speed estimates: a measured multi-thread copy (sustained,
    typically 70–90 % of the theoretical peak) or a table's published peak; see
    ``memory_bandwidth_method`` and ``sources``."""
    memory_bandwidth_single_thread_bytes_per_second: int | None = None
    """The same copy measured on one thread (bytes/s), when measured: one core cannot saturate
    several memory channels, so this is a lower bound."""
    memory_bandwidth_method: Literal["measured", "table"] | None = None
    """``measured``: sustained copy bandwidth of this machine; ``table``: a published peak."""


class MemoryInfo(_Section):
    total_bytes: int = 0
    available_bytes: int = 0
    swap_total_bytes: int = 0
    swap_free_bytes: int = 0
    limit_bytes: int | None = None
    """A cgroup/container memory limit below ``total_bytes``, when one applies."""

    @property
    def usable_total_bytes(self) -> int:
        """RAM this process may use in all: the container limit when one is set, else total."""
        if self.limit_bytes is not None:
            return min(self.total_bytes, self.limit_bytes)
        return self.total_bytes


class GpuInfo(_Section):
    vendor: GpuVendor
    name: str
    vram_total_bytes: int
    vram_free_bytes: int
    source: str
    index: int = 0
    driver_version: str | None = None
    compute_capability: str | None = None
    """NVIDIA: the CUDA compute capability (``8.9``); AMD: the LLVM gfx target (``gfx1100``)."""
    unified_memory: bool = False
    """True when the GPU shares system RAM (Apple Silicon, APUs, iGPUs): never add it to RAM.
    ``vram_total_bytes`` is then the share of memory the GPU may use (carve-out + shared part),
    never more than the RAM it comes from."""
    pci_bus_id: str | None = None
    """PCI address ``domain:bus:device.function`` (``0000:03:00.0``), when known: identifies the
    same physical GPU seen by several probes."""
    pci_id: str | None = None
    """PCI ``vendor:device`` ids in lower-case hex (``10de:2684``), when known."""
    core_count: int | None = None
    """GPU cores (Apple) or compute units (AMD), when known."""


class DiskInfo(_Section):
    path: str = ""
    total_bytes: int = 0
    free_bytes: int = 0


class ProbeNote(BaseModel):
    """A line of the report about a normal state or a problem (``no GPU library`` etc.)."""

    model_config = ConfigDict(frozen=True)
    component: str
    state: str
    message: str


class MachineReport(BaseModel):
    """Everything the fit estimate and the recommender need to know about a machine."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    schema_version: int = 1
    os: OsInfo = Field(default_factory=OsInfo)
    cpu: CpuInfo = Field(default_factory=CpuInfo)
    memory: MemoryInfo = Field(default_factory=MemoryInfo)
    gpus: list[GpuInfo] = Field(default_factory=list)
    disk: DiskInfo = Field(default_factory=DiskInfo)
    notes: list[ProbeNote] = Field(default_factory=list)

    def to_json(self) -> str:
        """The report as indented JSON (the ``scan --json`` format)."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_file(cls, path: Path) -> MachineReport:
        """Read a report saved by ``qwen-desktop scan --json``.

        Raises:
            QwenDesktopError: The file is missing, not JSON, or not a hardware report.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            report = cls.model_validate(data)
        except OSError as exc:
            raise QwenDesktopError(
                f"Cannot read the hardware profile {path}: {exc.strerror or exc}.",
                "Give the path of a file written by `qwen-desktop scan --json`.",
            ) from exc
        except (json.JSONDecodeError, ValidationError) as exc:
            raise QwenDesktopError(
                f"{path} is not a hardware profile: {exc}".splitlines()[0],
                "Create one with `qwen-desktop scan --json > profile.json`.",
            ) from exc
        missing = [key for key in ("cpu", "memory") if key not in data]
        if missing or report.memory.total_bytes <= 0:
            raise QwenDesktopError(
                f"{path} is not a hardware profile: "
                + (f"it has no {' or '.join(missing)} section." if missing else "it has no RAM."),
                "Create one with `qwen-desktop scan --json > profile.json`.",
            )
        return report
