"""CPU memory bandwidth for speed estimates: measured once and cached, else a table figure.

Decoding is memory-bandwidth bound (``shared/research/memory-fit.md``, "Speed estimate"), so
the CPU section reports ``memory_bandwidth_bytes_per_second``:

* **Measured** (:func:`measure_copy_bandwidth`, about 0.1–0.3 s): two 128 MiB anonymous
  buffers (far above any per-core-complex L3 cache), copied with ``ctypes.memmove`` (libc
  ``memcpy``, which releases the GIL) by one thread and then by one thread per usable core (at
  most 16). Each copy moves 2 × 128 MiB (read + write, STREAM "Copy" counting); the best run
  counts. One core cannot saturate several memory channels (on desktops it reaches roughly
  half to two thirds of the multi-core figure, on servers far less), so the multi-thread figure
  is the one reported and the single-thread one is kept beside it as a lower bound. A copy
  reaches roughly 70–90 % of the theoretical peak; the figure is not inflated to a peak, and
  ``memory_bandwidth_method="measured"`` tells it apart from the table's peaks.
* **Cached** in ``<data dir>/hardware-cache.json`` keyed by CPU model + RAM size (GiB), so the
  measurement runs once per machine and ``scan`` stays fast. A copy competes with whatever else
  runs (a model loading, a build): when more than :data:`BUSY_CPU_SHARE` of the CPU was in use
  just before measuring, the figure is kept as *provisional* and measured again at the next
  start; the cache always keeps the best figure seen (a busy machine only ever lowers a copy's
  speed, so the highest is the closest to the truth).
* **Table** (:func:`table_bandwidth`): published peaks of Apple chips and of a few SoCs with
  soldered memory; else, on x86, a typical dual-channel DDR4-3200 (51.2 GB/s).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import json
import mmap
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIB = 1024**2
GIB = 1024**3

BUFFER_BYTES = 128 * MIB
MAX_THREADS = 16
TIME_BUDGET_SECONDS = 0.25
MIN_AVAILABLE_RAM_BYTES = 2 * GIB
"""Below this much available RAM the two buffers are not allocated (the table is used)."""

CACHE_FILE_NAME = "hardware-cache.json"

BUSY_CPU_SHARE = 0.25
"""Share of all cores in use (sampled for :data:`BUSY_SAMPLE_SECONDS` before measuring) above
which a measurement is provisional (an assumption: the copy needs every core to itself)."""
BUSY_SAMPLE_SECONDS = 0.1


def cpu_busy_share() -> float:
    """Share of all cores in use right now (0–1), sampled over :data:`BUSY_SAMPLE_SECONDS`
    with psutil; 0 when psutil is missing."""
    try:
        import psutil
    except ImportError:
        return 0.0
    return float(psutil.cpu_percent(interval=BUSY_SAMPLE_SECONDS)) / 100.0


APPLE_GB_PER_SECOND: dict[str, float] = {
    # Apple's published unified-memory bandwidth per chip (Apple newsroom / tech specs pages).
    "M1": 68.25,
    "M1 Pro": 200,
    "M1 Max": 400,
    "M1 Ultra": 800,
    "M2": 100,
    "M2 Pro": 200,
    "M2 Max": 400,
    "M2 Ultra": 800,
    "M3": 100,
    "M3 Pro": 150,
    "M3 Max": 400,
    "M3 Ultra": 819,
    "M4": 120,
    "M4 Pro": 273,
    "M4 Max": 546,
    "M5": 153,
}
APPLE_BINNED_MAX: dict[str, tuple[int, float]] = {
    # The cut-down Max chips have less bandwidth: (GPU cores at or below which it applies, GB/s).
    "M3 Max": (30, 300),
    "M4 Max": (32, 410),
}
SOC_GB_PER_SECOND: list[tuple[str, float, str]] = [
    # (regex on the CPU model, any case, GB/s, what it is): soldered memory, a fixed figure.
    (r"Ryzen AI Max", 256, "AMD Strix Halo, 256-bit LPDDR5X-8000"),
    (r"Core\(TM\) Ultra [579] 2\d\dV", 136.5, "Intel Lunar Lake, LPDDR5X-8533 on package"),
]
X86_DEFAULT_GB_PER_SECOND = 51.2
"""Typical dual-channel DDR4-3200 (2 × 64 bit × 3200 MT/s); DDR5-5600 would be 89.6."""


@dataclass(frozen=True)
class Measurement:
    """A copy-bandwidth measurement (bytes per second, read + write counted)."""

    bytes_per_second: int
    single_thread_bytes_per_second: int
    threads: int
    buffer_bytes: int
    seconds: float


@dataclass(frozen=True)
class BandwidthFigure:
    """The figure reported in the CPU section, and where it came from."""

    bytes_per_second: int
    method: str
    source: str
    single_thread_bytes_per_second: int | None = None
    provisional: bool = False
    """Measured while the computer was busy: measured again at the next start."""


def _copy(dst: int, src: int, size: int, threads: int) -> float:
    """Seconds to copy ``size`` bytes from ``src`` to ``dst`` split among ``threads`` threads."""
    if threads == 1:
        start = time.perf_counter()
        ctypes.memmove(dst, src, size)
        return time.perf_counter() - start
    chunk = size // threads
    barrier = threading.Barrier(threads + 1)

    def work(part: int) -> None:
        barrier.wait()
        ctypes.memmove(dst + part * chunk, src + part * chunk, chunk)

    workers = [threading.Thread(target=work, args=(part,)) for part in range(threads)]
    for worker in workers:
        worker.start()
    start = time.perf_counter()
    barrier.wait()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - start) * size / (chunk * threads)


def measure_copy_bandwidth(
    threads: int, *, buffer_bytes: int = BUFFER_BYTES, budget_seconds: float = TIME_BUDGET_SECONDS
) -> Measurement:
    """Measure RAM copy bandwidth with 1 and ``threads`` threads (see the module docstring).

    Args:
        threads: Threads for the multi-thread copy (the usable cores, at most 16).
        buffer_bytes: Size of each of the two buffers.
        budget_seconds: Stop repeating once this much time has passed (at least two runs of
            each kind are made).

    Returns:
        The best single- and multi-thread figures in bytes/s.

    Raises:
        OSError, MemoryError, ValueError: The buffers could not be allocated.
    """
    threads = max(1, min(threads, MAX_THREADS))
    started = time.perf_counter()
    buffers = [mmap.mmap(-1, buffer_bytes), mmap.mmap(-1, buffer_bytes)]
    views: list[ctypes.Array[ctypes.c_char]] = []
    single: list[float] = []
    multi: list[float] = []
    try:
        for buffer in buffers:
            with contextlib.suppress(AttributeError, OSError):  # Linux only
                buffer.madvise(mmap.MADV_HUGEPAGE)
            views.append((ctypes.c_char * buffer_bytes).from_buffer(buffer))
        src, dst = (ctypes.addressof(view) for view in views)
        ctypes.memset(src, 1, buffer_bytes)  # fault both buffers in before timing
        ctypes.memmove(dst, src, buffer_bytes)
        while len(single) < 2 or (
            len(single) < 5 and time.perf_counter() - started < budget_seconds
        ):
            single.append(_copy(dst, src, buffer_bytes, 1))
            multi.append(_copy(dst, src, buffer_bytes, threads) if threads > 1 else single[-1])
    finally:
        views.clear()  # release the exported buffers, or mmap.close() refuses
        for buffer in buffers:
            buffer.close()
    moved = 2 * buffer_bytes
    best_single = int(moved / min(single))
    return Measurement(
        bytes_per_second=max(best_single, int(moved / min(multi))),
        single_thread_bytes_per_second=best_single,
        threads=threads,
        buffer_bytes=buffer_bytes,
        seconds=time.perf_counter() - started,
    )


def table_bandwidth(
    cpu_model: str, *, machine: str = "", gpu_cores: int | None = None
) -> BandwidthFigure | None:
    """A published or typical bandwidth for this CPU, or None when there is none to offer.

    Args:
        cpu_model: As the CPU probe reports it (``Apple M2 Pro``, ``AMD Ryzen AI Max+ 395 …``).
        machine: ``platform.machine()`` (``x86_64``/``AMD64`` get the DDR4 default).
        gpu_cores: Apple GPU cores, to tell the cut-down M3 Max/M4 Max apart.
    """
    apple = re.match(r"Apple (M\d+(?: (?:Pro|Max|Ultra))?)\b", cpu_model)
    if apple and apple.group(1) in APPLE_GB_PER_SECOND:
        chip = apple.group(1)
        gb = APPLE_GB_PER_SECOND[chip]
        binned = APPLE_BINNED_MAX.get(chip)
        cores = ""
        if binned and gpu_cores is not None and gpu_cores <= binned[0]:
            gb, cores = binned[1], f" ({gpu_cores}-core GPU)"
        return BandwidthFigure(int(gb * 1e9), "table", f"table: Apple {chip}{cores} {gb:g} GB/s")
    for pattern, gb, what in SOC_GB_PER_SECOND:
        if re.search(pattern, cpu_model, re.IGNORECASE):
            return BandwidthFigure(int(gb * 1e9), "table", f"table: {what}, {gb:g} GB/s")
    if machine.lower() in {"x86_64", "amd64", "i686", "i386"}:
        return BandwidthFigure(
            int(X86_DEFAULT_GB_PER_SECOND * 1e9),
            "table",
            f"table: typical dual-channel DDR4-3200, {X86_DEFAULT_GB_PER_SECOND:g} GB/s "
            "(this CPU's memory is unknown)",
        )
    return None


def cache_key(cpu_model: str, ram_total_bytes: int) -> str:
    """The cache key of a machine: CPU model and RAM rounded to whole GiB."""
    return f"{cpu_model}|{round(ram_total_bytes / GIB)} GiB"


def _read_cache(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _figure_from_entry(entry: object) -> BandwidthFigure | None:
    if not isinstance(entry, dict):
        return None
    value, single, source = (entry.get(k) for k in ("bytes_per_second", "single", "source"))
    if not (isinstance(value, int) and value > 0 and isinstance(source, str)):
        return None
    single_value = single if isinstance(single, int) else None
    provisional = entry.get("provisional") is True
    return BandwidthFigure(value, "measured", source, single_value, provisional)


def write_cache(path: Path, key: str, figure: BandwidthFigure) -> None:
    """Store ``figure`` under ``key`` (atomic replace; other keys kept). Raises ``OSError``."""
    data = _read_cache(path)
    section = data.get("memory_bandwidth")
    entries = dict(section) if isinstance(section, dict) else {}
    entries[key] = {
        "bytes_per_second": figure.bytes_per_second,
        "single": figure.single_thread_bytes_per_second,
        "source": figure.source,
        "provisional": figure.provisional,
    }
    data["memory_bandwidth"] = entries
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    temporary.replace(path)


def measured_figure(measurement: Measurement, day: datetime.date) -> BandwidthFigure:
    """The reported figure of a measurement, its source naming the date and both numbers."""
    threads = "1 thread" if measurement.threads == 1 else f"{measurement.threads} threads"
    single = measurement.single_thread_bytes_per_second / 1e9
    return BandwidthFigure(
        measurement.bytes_per_second,
        "measured",
        f"measured {day.isoformat()}, copy of {measurement.buffer_bytes // MIB} MiB on {threads} "
        f"(single thread: {single:.1f} GB/s)",
        measurement.single_thread_bytes_per_second,
    )


def memory_bandwidth(
    cpu_model: str,
    ram_total_bytes: int,
    *,
    threads: int,
    cache_path: Path | None,
    measure: bool = True,
    ram_available_bytes: int | None = None,
    machine: str = "",
    gpu_cores: int | None = None,
    measurer: Callable[[int], Measurement] = measure_copy_bandwidth,
    today: Callable[[], datetime.date] = datetime.date.today,
    busy_share: Callable[[], float] | None = None,
) -> tuple[BandwidthFigure | None, str | None]:
    """The bandwidth figure for this machine: cached, else measured (and cached), else table.

    Args:
        cpu_model: The CPU model (cache key and table lookup).
        ram_total_bytes: RAM size (cache key).
        threads: Threads for the multi-thread copy (usable cores).
        cache_path: The cache file; None neither reads nor writes a cache.
        measure: False uses the table only (no cache, no measurement: tests, quick probes).
        ram_available_bytes: When below :data:`MIN_AVAILABLE_RAM_BYTES`, nothing is measured.
        machine: ``platform.machine()``, for the table's default.
        gpu_cores: Apple GPU cores, for the table.
        measurer: Measures (tests inject a fake).
        today: Today's date (tests inject one).
        busy_share: Share of the CPU in use just before measuring (default
            :func:`cpu_busy_share`; tests inject one).

    Returns:
        ``(figure, problem)``: the figure (None when nothing applies) and, when a measurement
        was wanted but not made or not cached, why (for a note).
    """
    table = table_bandwidth(cpu_model, machine=machine, gpu_cores=gpu_cores)
    if not measure:
        return table, None
    key = cache_key(cpu_model, ram_total_bytes)
    cached: BandwidthFigure | None = None
    if cache_path is not None:
        section = _read_cache(cache_path).get("memory_bandwidth")
        cached = _figure_from_entry(section.get(key) if isinstance(section, dict) else None)
        if cached is not None and not cached.provisional:
            return cached, None
    if ram_available_bytes is not None and ram_available_bytes < MIN_AVAILABLE_RAM_BYTES:
        return cached or table, "not measured: less than 2 GiB of RAM is available"
    busy = (busy_share or cpu_busy_share)()
    if cached is not None and busy > BUSY_CPU_SHARE:
        return cached, None  # still busy: keep the provisional figure, measure next time
    try:
        figure = measured_figure(measurer(threads), today())
    except Exception as exc:
        return cached or table, f"the measurement failed ({type(exc).__name__}: {exc})"
    if busy > BUSY_CPU_SHARE:
        figure = dataclasses.replace(
            figure,
            provisional=True,
            source=f"{figure.source}; the computer was busy ({busy:.0%} of the CPU in use), "
            "so it is measured again at the next start",
        )
    if cached is not None and cached.bytes_per_second > figure.bytes_per_second:
        figure = dataclasses.replace(cached, provisional=figure.provisional)
    if cache_path is not None:
        try:
            write_cache(cache_path, key, figure)
        except OSError as exc:
            return figure, f"the result could not be cached in {cache_path} ({exc})"
    return figure, None
