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
