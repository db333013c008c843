"""Shared helpers of the hardware probes: failure notes and guarded small reads.

Every sub-probe turns its own failures into a :class:`~qwen_desktop.core.machine.ProbeNote` so
that a broken file, a missing command or a library error becomes one clear line of the report,
never a crash.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from qwen_desktop.core.machine import ProbeNote

COMMAND_TIMEOUT_SECONDS = 5.0
"""How long a helper command (``sysctl``) may take before the probe gives up on it."""


def describe_error(exc: BaseException) -> str:
    """A one-line description of an exception: its class and message (never empty)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def failure_note(component: str, what: str, exc: BaseException) -> ProbeNote:
    """A note saying that reading ``what`` failed, with the error.

    Args:
        component: The report section (``"cpu"``, ``"memory"``, ``"nvidia"``, …).
        what: What could not be read, in plain words (``"the CPU model"``).
        exc: The error raised.

    Returns:
        A note with state ``"error"`` and a message such as
        ``"Could not read the CPU model: OSError: …"``.
    """
    return ProbeNote(
        component=component,
        state="error",
        message=f"Could not read {what}: {describe_error(exc)}",
    )


def read_text(path: Path) -> str | None:
    """The text of a small system file, or None when it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def run_command(args: list[str]) -> str | None:
    """Run a short helper command (e.g. ``sysctl``) and return its stdout.

    Returns:
        The standard output, or None when the command is missing, fails, or takes longer than
        :data:`COMMAND_TIMEOUT_SECONDS`.
    """
    try:
        completed = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout
