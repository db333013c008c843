"""The memory probe: RAM and swap from psutil, and a container (cgroup) memory limit on Linux.

RAM figures come from psutil, which reads ``/proc/meminfo`` on Linux, ``sysctl hw.memsize`` (and
``host_statistics64``) on macOS and ``GlobalMemoryStatusEx`` on Windows. A process inside a
container or a systemd slice may be limited below the machine's RAM: that limit is read from the
cgroup files (v2 ``memory.max``, v1 ``memory.limit_in_bytes``) of this process's cgroup and of
every cgroup above it, and the smallest one applies.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from qwen_desktop.core.machine import MemoryInfo, ProbeNote
from qwen_desktop.core.units import format_bytes
from qwen_desktop.hardware.notes import failure_note, read_text

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")

UNLIMITED_THRESHOLD_BYTES = 1 << 60
"""Limits at or above this mean "no limit": cgroup v1 writes 9223372036854771712 (the largest
page-aligned 64-bit value), v2 writes ``max``."""


@dataclass(frozen=True)
class CgroupLimit:
    """A cgroup memory limit.

    Attributes:
        limit_bytes: The limit, in bytes.
        source: The file it was read from (e.g. ``/sys/fs/cgroup/memory.max``).
    """

    limit_bytes: int
    source: str


def parse_limit_value(text: str) -> int | None:
    """Bytes in a cgroup limit file, or None when the file says there is no limit.

    ``max`` (v2), values at or above :data:`UNLIMITED_THRESHOLD_BYTES` (v1's "unlimited"),
    non-positive and unparsable values all mean no limit.
    """
    value = text.strip()
    if not value or value == "max":
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if number <= 0 or number >= UNLIMITED_THRESHOLD_BYTES:
        return None
    return number


def parse_proc_self_cgroup(text: str) -> tuple[str | None, str | None]:
    """The v2 and the v1-memory cgroup paths of a process from ``/proc/<pid>/cgroup`` text.

    Lines look like ``0::/user.slice/…`` (v2) and ``4:memory:/docker/…`` (v1; the controller
    list may hold several names, e.g. ``memory,cpu``).

    Returns:
        ``(v2_path, v1_memory_path)``, each None when absent.
    """
    v2_path: str | None = None
    v1_path: str | None = None
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2_path = path
        elif "memory" in controllers.split(","):
            v1_path = path
    return v2_path, v1_path


def _dirs_up(mount: Path, cgroup_path: str | None) -> list[Path]:
    """``mount/cgroup_path`` and each folder above it up to ``mount`` itself."""
    dirs: list[Path] = []
    relative = Path((cgroup_path or "/").lstrip("/"))
    while True:
        dirs.append(mount / relative)
        if relative == Path("."):
            break
        relative = relative.parent
    return dirs


def cgroup_memory_limit(root: Path, self_cgroup: str = "") -> CgroupLimit | None:
    """The strictest cgroup memory limit that applies to a process. Reads files only.

    Looks for cgroup v2 ``memory.max`` under ``root`` (unified mode) or ``root/unified``
    (hybrid mode), and for v1 ``memory.limit_in_bytes`` under ``root/memory``, in the process's
    own cgroup (from ``self_cgroup``) and every ancestor. When the recorded path does not exist
    under the mount (a container that sees the host's path but has its own cgroup mounted at
    the root), the mount's root files still count.

    Args:
        root: The cgroup file-system mount, normally ``/sys/fs/cgroup`` (a fake tree in tests).
        self_cgroup: The text of ``/proc/self/cgroup`` ("" reads only the mount roots).

    Returns:
        The smallest limit found and its file, or None when no file sets a limit.
    """
    v2_path, v1_path = parse_proc_self_cgroup(self_cgroup)
    candidates: list[Path] = []
    for v2_mount in (root, root / "unified"):
        if (v2_mount / "cgroup.controllers").is_file():
            candidates += [folder / "memory.max" for folder in _dirs_up(v2_mount, v2_path)]
    v1_mount = root / "memory"
    if v1_mount.is_dir():
        candidates += [folder / "memory.limit_in_bytes" for folder in _dirs_up(v1_mount, v1_path)]
    best: CgroupLimit | None = None
    for candidate in candidates:
        text = read_text(candidate)
        limit = parse_limit_value(text) if text is not None else None
        if limit is not None and (best is None or limit < best.limit_bytes):
            best = CgroupLimit(limit_bytes=limit, source=str(candidate))
    return best


def _psutil_sources() -> tuple[str, str, str]:
    """(total, available, swap) source descriptions for this platform."""
    system = platform.system()
    if system == "Linux":
        return ("/proc/meminfo (psutil)", "/proc/meminfo (psutil)", "/proc/meminfo (psutil)")
    if system == "Darwin":
        return (
            "sysctl hw.memsize",
            "host_statistics64 (psutil)",
            "sysctl vm.swapusage (psutil)",
        )
    if system == "Windows":
        return ("GlobalMemoryStatusEx", "GlobalMemoryStatusEx", "page file (psutil)")
    return ("psutil", "psutil", "psutil")


def probe_memory() -> tuple[MemoryInfo, list[ProbeNote]]:
    """Describe this machine's RAM and swap. Never raises.

    Returns:
        The memory section (``total_bytes``, ``available_bytes``, ``swap_total_bytes``,
        ``swap_free_bytes``, and ``limit_bytes`` when a cgroup limit below total applies, in
        which case ``available_bytes`` is capped at that limit) with sources, and notes.
    """
    import psutil

    notes: list[ProbeNote] = []
    sources: dict[str, str] = {}
    fields: dict[str, object] = {}
    total_source, available_source, swap_source = _psutil_sources()
    try:
        virtual = psutil.virtual_memory()
        fields.update(total_bytes=int(virtual.total), available_bytes=int(virtual.available))
        sources.update(total_bytes=total_source, available_bytes=available_source)
    except Exception as exc:
        notes.append(failure_note("memory", "the RAM size", exc))
    try:
        swap = psutil.swap_memory()
        fields.update(swap_total_bytes=int(swap.total), swap_free_bytes=int(swap.free))
        sources.update(swap_total_bytes=swap_source, swap_free_bytes=swap_source)
    except Exception as exc:
        notes.append(failure_note("memory", "the swap size", exc))
    total = fields.get("total_bytes")
    if platform.system() == "Linux" and isinstance(total, int) and total > 0:
        try:
            limit = cgroup_memory_limit(CGROUP_ROOT, read_text(PROC_SELF_CGROUP) or "")
        except Exception as exc:
            notes.append(failure_note("memory", "the container memory limit", exc))
            limit = None
        if limit is not None and limit.limit_bytes < total:
            fields["limit_bytes"] = limit.limit_bytes
            sources["limit_bytes"] = limit.source
            available = fields.get("available_bytes")
            if isinstance(available, int) and available > limit.limit_bytes:
                fields["available_bytes"] = limit.limit_bytes
                sources["available_bytes"] += f", capped at {limit.source}"
            notes.append(
                ProbeNote(
                    component="memory",
                    state="limited",
                    message=(
                        f"This process may use at most {format_bytes(limit.limit_bytes)} of the "
                        f"{format_bytes(total)} of RAM (container limit in {limit.source})."
                    ),
                )
            )
    return MemoryInfo.model_validate({**fields, "sources": sources}), notes
