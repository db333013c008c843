"""Human-readable sizes for reports and the UI.

Two conventions, never mixed in one figure:

* :func:`format_bytes`: binary units (KiB, MiB, GiB = 1024³ bytes), as RAM and VRAM are sold and
  as operating systems report memory.
* :func:`format_decimal_bytes`: SI units (kB, MB, GB = 10⁹ bytes), as disks and download sizes on
  Hugging Face are shown.
"""

from __future__ import annotations

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def _format(n: int | float, base: int, units: tuple[str, ...]) -> str:
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    if value < base:
        return f"{sign}{int(value)} B"
    exponent = 0
    while value >= base and exponent < len(units) - 1:
        value /= base
        exponent += 1
    # 1023.96 MiB rounds to "1024.0 MiB": show it as "1.0 GiB" instead.
    if round(value, 1) >= base and exponent < len(units) - 1:
        value /= base
        exponent += 1
    return f"{sign}{value:.1f} {units[exponent]}"


def format_bytes(n: int | float) -> str:
    """A size in binary units with one decimal.

    Args:
        n: A size in bytes (may be negative, e.g. a shortfall).

    Returns:
        ``"512 B"`` below 1 KiB, else e.g. ``"23.5 GiB"`` (1 GiB = 1024³ bytes, IEC 80000-13).
    """
    return _format(n, 1024, _BINARY_UNITS)


def format_decimal_bytes(n: int | float) -> str:
    """A size in decimal (SI) units with one decimal.

    Args:
        n: A size in bytes (may be negative).

    Returns:
        ``"999 B"`` below 1 kB, else e.g. ``"5.0 GB"`` (1 GB = 10⁹ bytes).
    """
    return _format(n, 1000, _DECIMAL_UNITS)
