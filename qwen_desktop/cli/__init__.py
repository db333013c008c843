"""Command-line verbs of ``qwen-desktop`` (``scan``, ``recommend``, ``fit``, ``chat``).

Each verb lives in its own module exposing ``add_parser(subparsers)`` (which registers the verb and
sets ``func``) and a ``run(args) -> int``. Errors derived from
:class:`~qwen_desktop.core.errors.QwenDesktopError` print their message and action on stderr and
exit with status 2; nothing prints a traceback at a user.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence

from qwen_desktop import __version__
from qwen_desktop.core.errors import QwenDesktopError

VERB_MODULES = ("scan", "recommend", "fit", "chat", "engine", "monitor", "health", "pull", "models")


def build_parser() -> argparse.ArgumentParser:
    """The ``qwen-desktop`` argument parser with every verb registered."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="qwen-desktop",
        description="Run Qwen models on this computer, offline. Without a verb, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"qwen-desktop {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(f"qwen_desktop.cli.{name}").add_parser(subparsers)
    return parser


GUI_OPTIONS = ("--model", "--quit-after")
"""Options the window itself takes (``qwen-desktop --model PATH``, ``--quit-after SECONDS``)."""


def is_cli_invocation(argv: Sequence[str]) -> bool:
    """True when ``argv`` (without the program name) is for the CLI rather than the window.

    The window takes only :data:`GUI_OPTIONS` and Qt's own single-dash flags (``-platform …``).
    Anything else, a mistyped verb or an unknown ``--flag`` included, goes to the CLI parser so
    that it fails with a usage message instead of opening a window.
    """
    if not argv:
        return False
    first = argv[0]
    if first.startswith("--"):
        return first.split("=", 1)[0] not in GUI_OPTIONS
    return not first.startswith("-")


def run(argv: Sequence[str]) -> int:
    """Run one CLI verb; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except QwenDesktopError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.action:
            print(f"  → {exc.action}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`qwen-desktop recommend | head`): not an error. Point stdout at
        # devnull so the interpreter's final flush does not raise again (Python docs, "Note on
        # SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        return _report_os_error(exc)


def _report_os_error(exc: OSError) -> int:
    """An ``OSError`` no verb turned into a message (``> /dev/full``, a disk that filled up, a
    file that could not be used): its reason and what to do, no traceback; exit 1."""
    where = f" ({exc.filename})" if exc.filename else ""
    print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        print("  → free some disk space, or write the output somewhere else", file=sys.stderr)
    if exc.filename is None:
        # Most likely the output itself: point stdout at devnull so the interpreter's final
        # flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 1
