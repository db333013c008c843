"""Benchmark: the app's memory-bandwidth measurement against plain copies in the same run.

Run: ``.venv/bin/python bench/bench_memory_bandwidth.py [--buffer-mib 128] [--threads N]``.

Prints, in GB/s (read + write counted, STREAM "Copy" convention):

* the app's figure (:func:`qwen_desktop.hardware.bandwidth.measure_copy_bandwidth`): one thread
  and N threads of ``ctypes.memmove`` over preallocated buffers;
* baselines measured in the same run: ``dst[:] = src`` on preallocated bytearrays (one memcpy,
  GIL held) and ``bytes(src)`` (allocates and faults in a new object each time, so it also
  measures page faults: the slowest way to "copy memory");
* the table figure the app would use without a measurement.

The ratio multi/single shows how much one core underestimates the machine's bandwidth.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qwen_desktop.hardware.bandwidth import (
    MIB,
    measure_copy_bandwidth,
    table_bandwidth,
)
from qwen_desktop.hardware.cpu import probe_cpu


def _best_gb_per_second(copy: object, size: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        copy()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return 2 * size / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buffer-mib", type=int, default=128)
    threads_default = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    parser.add_argument("--threads", type=int, default=threads_default or os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    size = args.buffer_mib * MIB

    cpu, _ = probe_cpu()
    print(f"CPU: {cpu.model} ({args.threads} threads used), buffers: 2 × {args.buffer_mib} MiB")

    started = time.perf_counter()
    app = measure_copy_bandwidth(args.threads, buffer_bytes=size)
    print(
        f"app measurement     {app.bytes_per_second / 1e9:7.1f} GB/s on {app.threads} threads, "
        f"{app.single_thread_bytes_per_second / 1e9:.1f} GB/s on 1 thread "
        f"({time.perf_counter() - started:.2f} s)"
    )

    src = bytearray(b"\x01") * size
    dst = bytearray(size)
    dst[:] = src  # fault in
    slice_copy = _best_gb_per_second(lambda: dst.__setitem__(slice(None), src), size, args.repeats)
    print(f"baseline dst[:]=src {slice_copy:7.1f} GB/s (1 thread, preallocated)")
    bytes_copy = _best_gb_per_second(lambda: bytes(src), size, max(2, args.repeats // 2))
    print(f"baseline bytes(src) {bytes_copy:7.1f} GB/s (1 thread, allocates every time)")

    ratio = app.bytes_per_second / app.single_thread_bytes_per_second
    print(f"multi/single ratio  {ratio:7.2f}")
    table = table_bandwidth(cpu.model, machine=platform.machine())
    print(f"table figure        {table.source if table else 'none for this CPU'}")


if __name__ == "__main__":
    main()
