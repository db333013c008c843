"""Human-readable sizes: binary for memory, decimal for disks and downloads (case C9's units)."""

from __future__ import annotations

import pytest

from qwen_desktop.core.units import format_bytes, format_decimal_bytes

GIB = 1024**3


@pytest.mark.parametrize(
    ("n", "binary", "decimal"),
    [
        (0, "0 B", "0 B"),
        (512, "512 B", "512 B"),
        (1023, "1023 B", "1.0 kB"),
        (1024, "1.0 KiB", "1.0 kB"),
        (1536 * 1024, "1.5 MiB", "1.6 MB"),
        (25_276_514_304, "23.5 GiB", "25.3 GB"),
        (5 * 10**9, "4.7 GiB", "5.0 GB"),
        (1024**3 - 1, "1.0 GiB", "1.1 GB"),  # never "1024.0 MiB"
        (3 * 1024**4, "3.0 TiB", "3.3 TB"),
        (-2 * GIB, "-2.0 GiB", "-2.1 GB"),
    ],
)
def test_format_bytes(n: int, binary: str, decimal: str) -> None:
    assert format_bytes(n) == binary
    assert format_decimal_bytes(n) == decimal
