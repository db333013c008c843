"""The disk probe: free space where models are stored."""

from __future__ import annotations

import shutil
from pathlib import Path

from qwen_desktop.core.machine import DiskInfo, ProbeNote
from qwen_desktop.core.paths import existing_ancestor
from qwen_desktop.hardware.notes import failure_note


def probe_disk(models_dir: Path) -> tuple[DiskInfo, list[ProbeNote]]:
    """Free and total space of the file system holding the models folder. Never raises.

    The folder may not exist yet (first run): the nearest existing folder above it is measured
    (:func:`~qwen_desktop.core.paths.existing_ancestor`), which lies on the same file system
    unless a mount point is created in between.

    Args:
        models_dir: The folder models are (or will be) downloaded to.

    Returns:
        The disk section (``path`` = ``models_dir``; ``total_bytes``/``free_bytes`` from
        ``shutil.disk_usage`` of the measured folder, named in ``sources``) and notes.
    """
    path = str(models_dir)
    try:
        measured = existing_ancestor(models_dir)
        usage = shutil.disk_usage(measured)
    except Exception as exc:
        return DiskInfo(path=path), [failure_note("disk", f"the free space at {models_dir}", exc)]
    source = f"shutil.disk_usage({measured})"
    return (
        DiskInfo(
            path=path,
            total_bytes=int(usage.total),
            free_bytes=int(usage.free),
            sources={"path": "models folder", "total_bytes": source, "free_bytes": source},
        ),
        [],
    )
