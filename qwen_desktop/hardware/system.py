"""The operating-system probe: system, release, architecture and a human description.

Sources: ``platform.system/release/machine``; the description from ``/etc/os-release``
``PRETTY_NAME`` on Linux, ``platform.mac_ver()`` on macOS, ``platform.win32_ver()`` on Windows.
"""

from __future__ import annotations

import platform
import shlex
from pathlib import Path

from qwen_desktop.core.machine import OsInfo, ProbeNote
from qwen_desktop.hardware.notes import failure_note, read_text

OS_RELEASE_FILES = (Path("/etc/os-release"), Path("/usr/lib/os-release"))


def pretty_name_from_os_release(text: str) -> str | None:
    """``PRETTY_NAME`` (else ``NAME VERSION``) of an ``os-release`` file, unquoted.

    Args:
        text: The file's content (shell-style ``KEY="value"`` lines, see os-release(5)).
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or key.strip().startswith("#"):
            continue
        try:
            words = shlex.split(raw, comments=False)
        except ValueError:
            words = [raw.strip().strip("\"'")]
        values[key.strip()] = " ".join(words)
    if values.get("PRETTY_NAME"):
        return values["PRETTY_NAME"]
    name = " ".join(part for part in (values.get("NAME"), values.get("VERSION")) if part)
    return name or None


def _description(system: str) -> tuple[str, str] | None:
    """(description, source) for this platform, or None."""
    if system == "Linux":
        for path in OS_RELEASE_FILES:
            text = read_text(path)
            name = pretty_name_from_os_release(text) if text else None
            if name:
                return name, f"{path} PRETTY_NAME"
        return None
    if system == "Darwin":
        version = platform.mac_ver()[0]
        return (f"macOS {version}", "platform.mac_ver()") if version else None
    if system == "Windows":
        release, version, _csd, _ptype = platform.win32_ver()
        if not release:
            return None
        edition = platform.win32_edition() or ""
        text = " ".join(part for part in ("Windows", release, edition) if part)
        return (f"{text} (build {version})" if version else text), "platform.win32_ver()"
    return None


def probe_os() -> tuple[OsInfo, list[ProbeNote]]:
    """Describe the operating system. Never raises.

    Returns:
        The OS section (e.g. system ``"Linux"``, release ``"6.8.0-45-generic"``, machine
        ``"x86_64"``, description ``"Ubuntu 24.04.1 LTS"``) with sources, and notes.
    """
    notes: list[ProbeNote] = []
    fields: dict[str, str] = {}
    sources: dict[str, str] = {}
    try:
        fields.update(
            system=platform.system(), release=platform.release(), machine=platform.machine()
        )
        sources.update(
            system="platform.system()",
            release="platform.release()",
            machine="platform.machine()",
        )
    except Exception as exc:
        notes.append(failure_note("os", "the operating system", exc))
    try:
        found = _description(fields.get("system", ""))
        if found:
            fields["description"], sources["description"] = found
        else:
            fields["description"] = " ".join(
                part for part in (fields.get("system"), fields.get("release")) if part
            )
            sources["description"] = "platform.system() + platform.release()"
    except Exception as exc:
        notes.append(failure_note("os", "the operating system name", exc))
    return OsInfo.model_validate({**fields, "sources": sources}), notes
