"""The allocator tuning made at start-up (engines/native_memory.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qwen_desktop.engines.native_memory import limit_malloc_arenas


def _in_child(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_arenas_are_limited_on_glibc_unless_the_user_chose() -> None:
    code = (
        "from qwen_desktop.engines.native_memory import limit_malloc_arenas\n"
        "print(limit_malloc_arenas())"
    )
    assert _in_child(code) == "True"
    assert _in_child(code, MALLOC_ARENA_MAX="4") == "False"  # the user's setting wins


@pytest.mark.skipif(sys.platform.startswith("linux"), reason="other systems")
def test_elsewhere_nothing_is_done() -> None:
    assert limit_malloc_arenas() is False
