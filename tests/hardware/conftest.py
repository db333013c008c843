"""Shared fixtures of the hardware tests: recorded inputs in tests/fixtures/hardware/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hardware"


@pytest.fixture
def recorded() -> Callable[[str], str]:
    """Read a recorded input file by name."""

    def read(name: str) -> str:
        return (FIXTURES / name).read_text(encoding="utf-8")

    return read


@pytest.fixture
def fixture_tree() -> Callable[[str], Path]:
    """The root of a recorded/hand-written file-system tree (``sys/class/drm/…``) by name."""

    def root(name: str) -> Path:
        path = FIXTURES / name
        assert path.is_dir(), path
        return path

    return root
