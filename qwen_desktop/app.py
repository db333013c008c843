"""Composition root: ``qwen-desktop`` with a verb runs the CLI, without one opens the window."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def _attach_windows_console() -> None:
    """Give a GUI-script process (pythonw) a console for CLI verbs on Windows.

    ``qwen-desktop`` is a GUI script so that a double-click opens no console; CLI verbs then have
    no stdout. Attach to the console of the shell that started us (``AttachConsole(-1)``).
    """
    if os.name != "nt" or (sys.stdout is not None and sys.stderr is not None):
        return
    import ctypes

    if ctypes.windll.kernel32.AttachConsole(-1):  # type: ignore[attr-defined]
        sys.stdout = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115
        sys.stderr = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qwen-desktop`` command and of ``python -m qwen_desktop``."""
    args = list(sys.argv[1:] if argv is None else argv)
    from qwen_desktop.engines.native_memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any worker thread: see engines/native_memory.py
    from qwen_desktop.cli import is_cli_invocation

    if is_cli_invocation(args):
        _attach_windows_console()
        from qwen_desktop import cli

        return cli.run(args)
    from qwen_desktop.gui import run_window

    return run_window(args)
