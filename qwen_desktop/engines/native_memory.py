"""Process-wide allocator tuning for the in-process engine (glibc only).

PyTorch's CPU tensors come from ``malloc``. glibc gives every thread that allocates its own
*arena* (up to 8 × cores of them) and returns freed memory to the system only from the top of
an arena, so the generation thread's arena keeps the freed activations of every long prompt:
``bench/bench_fit_vs_measured.py`` measured peak RSS 12–20 % above the tensors at 4K context with
the default arenas, and within ±7 % with one arena. One arena costs nothing measurable here:
the GIL already serialises most allocations of a Python program.

Source: glibc manual, "Memory Allocation Tunables" / ``mallopt(3)``: ``M_ARENA_MAX`` is ``-8``;
the setting applies to arenas created after the call, so it is made at start-up, before any
worker thread exists.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""``mallopt`` parameter number of the arena limit (glibc ``malloc.h``)."""

ARENAS = 1
"""Arenas allowed: one, as measured by ``bench/bench_fit_vs_measured.py``."""


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc to ``arenas`` arenas for this process.

    Does nothing (returns False) off Linux, with another C library, or when the user set
    ``MALLOC_ARENA_MAX`` themselves (their choice wins).

    Returns:
        True when the limit was applied.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        gnu_libc_version = libc.gnu_get_libc_version
    except (OSError, AttributeError):  # musl and others: no mallopt / not glibc
        return False
    gnu_libc_version.restype = ctypes.c_char_p
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, arenas))
    log.debug("glibc %s: malloc arenas limited to %d: %s", gnu_libc_version(), arenas, applied)
    return applied
