"""The OS probe: os-release parsing and the real probe here."""

from __future__ import annotations

import platform

from qwen_desktop.hardware.system import pretty_name_from_os_release, probe_os

DEBIAN = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


def test_pretty_name() -> None:
    assert pretty_name_from_os_release(DEBIAN) == "Debian GNU/Linux 12 (bookworm)"
    assert pretty_name_from_os_release("# comment\nPRETTY_NAME='Fedora Linux 40'\n") == (
        "Fedora Linux 40"
    )


def test_name_and_version_when_no_pretty_name() -> None:
    assert pretty_name_from_os_release('NAME=Alpine\nVERSION="3.20"\n') == "Alpine 3.20"
    assert pretty_name_from_os_release("ID=x\n") is None
    assert pretty_name_from_os_release('PRETTY_NAME="unterminated\n') == "unterminated"


def test_probe_os_here() -> None:
    info, notes = probe_os()
    assert notes == []
    assert (info.system, info.release, info.machine) == (
        platform.system(),
        platform.release(),
        platform.machine(),
    )
    assert info.description
    assert set(info.sources) == {"system", "release", "machine", "description"}
