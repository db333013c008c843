"""Peak memory windows of this process."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from qwen_desktop.hardware.process_memory import peak_rss_bytes, reset_peak


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux clear_refs")
def test_peak_follows_an_allocation_and_resets() -> None:
    assert reset_peak()
    before = peak_rss_bytes()
    block = bytearray(64 * 1024 * 1024)  # touched: zero-filled pages are resident
    block[::4096] = b"x" * len(block[::4096])
    grown = peak_rss_bytes()
    del block
    assert grown - before >= 60 * 1024 * 1024
    assert reset_peak()
    assert peak_rss_bytes() < grown - 32 * 1024 * 1024
    assert peak_rss_bytes() >= psutil.Process().memory_info().rss * 0.9


def test_recorded_status_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "status").write_text("Name:\tpython\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n")
    assert peak_rss_bytes(tmp_path) == 123456 * 1024
    assert not reset_peak(tmp_path / "missing")
