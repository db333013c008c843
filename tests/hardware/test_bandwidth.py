"""CPU memory bandwidth: the measurement, the cache and the table."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from qwen_desktop.hardware.bandwidth import (
    MIB,
    BandwidthFigure,
    Measurement,
    cache_key,
    measure_copy_bandwidth,
    memory_bandwidth,
    table_bandwidth,
)
from qwen_desktop.hardware.bandwidth import cpu_busy_share as real_cpu_busy_share

GIB = 1024**3
DAY = datetime.date(2026, 11, 29)


def _fake(calls: list[int], value: int = 40_000_000_000) -> Callable[[int], Measurement]:
    def measure(threads: int) -> Measurement:
        calls.append(threads)
        return Measurement(value, value // 2, threads, 128 * MIB, 0.2)

    return measure


def test_real_measurement_small_buffer() -> None:
    result = measure_copy_bandwidth(2, buffer_bytes=8 * MIB, budget_seconds=0.05)
    assert result.threads == 2
    assert result.bytes_per_second >= result.single_thread_bytes_per_second > 1e8
    assert result.seconds < 2


def test_threads_are_clamped() -> None:
    assert measure_copy_bandwidth(0, buffer_bytes=MIB).threads == 1
    assert measure_copy_bandwidth(999, buffer_bytes=16 * MIB).threads == 16


def test_measure_once_then_read_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "data" / "hardware-cache.json"
    calls: list[int] = []
    measurer = _fake(calls)

    def run(ram: int) -> tuple[BandwidthFigure | None, str | None]:
        return memory_bandwidth(
            "AMD Ryzen 9 7950X",
            ram,
            threads=8,
            cache_path=cache,
            measurer=measurer,
            today=lambda: DAY,
        )

    first, problem = run(64 * GIB)
    assert problem is None
    assert first is not None
    assert (first.bytes_per_second, first.single_thread_bytes_per_second, first.method) == (
        40_000_000_000,
        20_000_000_000,
        "measured",
    )
    assert first.source == (
        "measured 2026-11-29, copy of 128 MiB on 8 threads (single thread: 20.0 GB/s)"
    )
    second, _ = run(64 * GIB + 5 * MIB)
    assert second == first
    assert calls == [8]  # measured once
    data = json.loads(cache.read_text())
    assert list(data["memory_bandwidth"]) == ["AMD Ryzen 9 7950X|64 GiB"]
    # Another machine (other RAM size) is measured and added beside the first.
    run(128 * GIB)
    assert calls == [8, 8]
    assert len(json.loads(cache.read_text())["memory_bandwidth"]) == 2


@pytest.mark.parametrize("content", ["not json", "[]", '{"memory_bandwidth": {"k": "junk"}}'])
def test_broken_cache_is_remeasured_and_rewritten(tmp_path: Path, content: str) -> None:
    cache = tmp_path / "hardware-cache.json"
    cache.write_text(content)
    calls: list[int] = []
    figure, problem = memory_bandwidth(
        "CPU", 8 * GIB, threads=2, cache_path=cache, measurer=_fake(calls), today=lambda: DAY
    )
    assert figure is not None and figure.method == "measured"
    assert problem is None
    assert cache_key("CPU", 8 * GIB) in json.loads(cache.read_text())["memory_bandwidth"]


def test_disabled_measurement_uses_the_table_only(tmp_path: Path) -> None:
    calls: list[int] = []
    figure, problem = memory_bandwidth(
        "Apple M2 Pro",
        16 * GIB,
        threads=10,
        cache_path=tmp_path / "c.json",
        measure=False,
        measurer=_fake(calls),
    )
    assert calls == []
    assert problem is None
    assert figure is not None
    assert (figure.bytes_per_second, figure.method, figure.source) == (
        200_000_000_000,
        "table",
        "table: Apple M2 Pro 200 GB/s",
    )
    assert not (tmp_path / "c.json").exists()


def test_failed_measurement_falls_back_to_the_table(tmp_path: Path) -> None:
    def fails(threads: int) -> Measurement:
        raise MemoryError("no room")

    figure, problem = memory_bandwidth(
        "Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz",
        16 * GIB,
        threads=8,
        cache_path=tmp_path / "c.json",
        machine="x86_64",
        measurer=fails,
    )
    assert figure is not None and figure.method == "table"
    assert problem == "the measurement failed (MemoryError: no room)"


def test_low_free_ram_skips_the_measurement(tmp_path: Path) -> None:
    calls: list[int] = []
    figure, problem = memory_bandwidth(
        "Cortex-A76",
        4 * GIB,
        threads=4,
        cache_path=tmp_path / "c.json",
        ram_available_bytes=GIB,
        machine="aarch64",
        measurer=_fake(calls),
    )
    assert calls == []
    assert figure is None  # no table figure for an unknown ARM board
    assert problem == "not measured: less than 2 GiB of RAM is available"


def test_unwritable_cache_keeps_the_measurement(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    figure, problem = memory_bandwidth(
        "CPU",
        8 * GIB,
        threads=2,
        cache_path=blocker / "hardware-cache.json",
        measurer=_fake([]),
        today=lambda: DAY,
    )
    assert figure is not None and figure.method == "measured"
    assert problem is not None and problem.startswith("the result could not be cached")


@pytest.mark.parametrize(
    ("model", "cores", "gb", "source"),
    [
        ("Apple M1", None, 68.25, "table: Apple M1 68.25 GB/s"),
        ("Apple M1 Max", None, 400, "table: Apple M1 Max 400 GB/s"),
        ("Apple M2 Ultra", None, 800, "table: Apple M2 Ultra 800 GB/s"),
        ("Apple M3 Max", 40, 400, "table: Apple M3 Max 400 GB/s"),
        ("Apple M3 Max", 30, 300, "table: Apple M3 Max (30-core GPU) 300 GB/s"),
        ("Apple M4 Max", 32, 410, "table: Apple M4 Max (32-core GPU) 410 GB/s"),
        ("Apple M4 Pro", None, 273, "table: Apple M4 Pro 273 GB/s"),
        (
            "AMD RYZEN AI MAX+ 395 w/ Radeon 8060S",
            None,
            256,
            "table: AMD Strix Halo, 256-bit LPDDR5X-8000, 256 GB/s",
        ),
        (
            "AMD Ryzen AI Max+ 395 w/ Radeon 8060S",
            None,
            256,
            "table: AMD Strix Halo, 256-bit LPDDR5X-8000, 256 GB/s",
        ),
        (
            "Intel(R) Core(TM) Ultra 7 258V",
            None,
            136.5,
            "table: Intel Lunar Lake, LPDDR5X-8533 on package, 136.5 GB/s",
        ),
    ],
)
def test_table(model: str, cores: int | None, gb: float | None, source: str | None) -> None:
    figure = table_bandwidth(model, gpu_cores=cores)
    if gb is None:
        assert figure is None
        return
    assert figure is not None
    assert (figure.bytes_per_second, figure.source, figure.method) == (
        int(gb * 1e9),
        source,
        "table",
    )


def test_table_default_by_architecture() -> None:
    figure = table_bandwidth("AMD EPYC", machine="x86_64")
    assert figure is not None and figure.bytes_per_second == 51_200_000_000
    assert table_bandwidth("AMD EPYC", machine="AMD64") == figure  # Windows spelling
    assert table_bandwidth("Cortex-A76", machine="aarch64") is None


def test_the_real_busy_share_is_a_fraction() -> None:
    share = real_cpu_busy_share()  # imported before the suite's quiet-machine patch
    assert 0.0 <= share <= 1.0


def test_busy_measurement_is_provisional_remeasured_and_the_best_kept(tmp_path: Path) -> None:
    cache = tmp_path / "hardware-cache.json"
    calls: list[int] = []
    values = iter([8_000_000_000, 20_000_000_000, 15_000_000_000])

    def measurer(threads: int) -> Measurement:
        calls.append(threads)
        value = next(values)
        return Measurement(value, value // 2, threads, 128 * MIB, 0.2)

    def run(busy: float) -> BandwidthFigure | None:
        figure, problem = memory_bandwidth(
            "CPU", 8 * GIB, threads=2, cache_path=cache, measurer=measurer,
            today=lambda: DAY, busy_share=lambda: busy,
        )  # fmt: skip
        assert problem is None
        return figure

    # A model loading beside the measurement: the low figure is kept, marked provisional.
    first = run(0.9)
    assert first is not None and first.provisional
    assert first.bytes_per_second == 8_000_000_000
    assert "the computer was busy (90% of the CPU in use)" in first.source
    # Still busy at the next start: the provisional figure is reused, nothing measured.
    assert run(0.8) == first and calls == [2]
    # Idle: measured again; the better figure replaces it and is settled.
    second = run(0.05)
    assert second is not None and not second.provisional
    assert second.bytes_per_second == 20_000_000_000 and calls == [2, 2]
    # Settled: read from the cache from now on.
    assert run(0.0) == second and calls == [2, 2]
    assert json.loads(cache.read_text())["memory_bandwidth"]["CPU|8 GiB"]["provisional"] is False
