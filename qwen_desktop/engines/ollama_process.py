"""Operating-system plumbing for the embedded ``ollama serve`` process: its own process group,
death with the app, and signals to stop it.

- POSIX: ``start_new_session=True`` puts the server (and the runner processes it starts) in a
  new session and process group, so a Ctrl-C meant for the app does not reach it, and one
  ``killpg`` reaches all of them.
- Linux: ``prctl(PR_SET_PDEATHSIG)`` in the child, before ``exec``, so the kernel signals the
  server when the app dies, even by SIGKILL (``man 2 prctl``). The signal goes when the
  *thread* that forked exits, so :func:`spawn` must run on a long-lived thread (the event loop's).
  SIGTERM is used, not SIGKILL: Ollama stops its runner processes on SIGTERM, while a SIGKILLed
  server would orphan them (still holding GPU memory).
- Windows: ``CREATE_NEW_PROCESS_GROUP`` (so CTRL_BREAK_EVENT can be sent to it alone) and a job
  object with ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``: when the app's last handle to the job
  closes (the app exits or is killed), Windows ends every process in it.
- macOS has neither; there the app stops the server on exit (``atexit`` and the window's quit).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_DEATH_SIGNAL = signal.SIGTERM


def _linux_parent_death_hook(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that sets PR_SET_PDEATHSIG to ``sig`` (None if libc has no prctl).

    ``prctl`` is looked up here, in the parent: the child between fork and exec should do as
    little as possible. If the app died before the call took effect, the child exits at once.
    """
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the app is already gone
            os._exit(1)

    return set_parent_death_signal


class WindowsJob:
    """A job object that kills its processes when the app's handle to it closes (Windows)."""

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ctypes = ctypes
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        self._kernel32 = kernel32

        class IoCounters(ctypes.Structure):
            _fields_ = [(name, ctypes.c_ulonglong) for name in (
                "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
                "ReadTransferCount", "WriteTransferCount", "OtherTransferCount",
            )]  # fmt: skip

        class BasicLimits(ctypes.Structure):
            _fields_ = [
                ("PerProcessUserTimeLimit", ctypes.c_int64),
                ("PerJobUserTimeLimit", ctypes.c_int64),
                ("LimitFlags", wintypes.DWORD),
                ("MinimumWorkingSetSize", ctypes.c_size_t),
                ("MaximumWorkingSetSize", ctypes.c_size_t),
                ("ActiveProcessLimit", wintypes.DWORD),
                ("Affinity", ctypes.c_size_t),
                ("PriorityClass", wintypes.DWORD),
                ("SchedulingClass", wintypes.DWORD),
            ]

        class ExtendedLimits(ctypes.Structure):
            _fields_ = [
                ("BasicLimitInformation", BasicLimits),
                ("IoInfo", IoCounters),
                ("ProcessMemoryLimit", ctypes.c_size_t),
                ("JobMemoryLimit", ctypes.c_size_t),
                ("PeakProcessMemoryUsed", ctypes.c_size_t),
                ("PeakJobMemoryUsed", ctypes.c_size_t),
            ]

        kernel32.CreateJobObjectW.restype = wintypes.HANDLE
        kernel32.CreateJobObjectW.argtypes = [ctypes.c_void_p, wintypes.LPCWSTR]
        kernel32.SetInformationJobObject.argtypes = [
            wintypes.HANDLE,
            ctypes.c_int,
            ctypes.c_void_p,
            wintypes.DWORD,
        ]
        kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
        kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
        self._handle = kernel32.CreateJobObjectW(None, None)
        if not self._handle:
            raise OSError(ctypes.get_last_error(), "CreateJobObjectW failed")  # type: ignore[attr-defined,unused-ignore]
        limits = ExtendedLimits()
        limits.BasicLimitInformation.LimitFlags = 0x2000  # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        job_object_extended_limit_information = 9
        if not kernel32.SetInformationJobObject(
            self._handle,
            job_object_extended_limit_information,
            ctypes.byref(limits),
            ctypes.sizeof(limits),
        ):
            raise OSError(ctypes.get_last_error(), "SetInformationJobObject failed")  # type: ignore[attr-defined,unused-ignore]

    def assign(self, process: subprocess.Popen[bytes]) -> None:
        """Put a started process (and the processes it starts later) in the job."""
        handle = getattr(process, "_handle", None)
        if handle is None or not self._kernel32.AssignProcessToJobObject(self._handle, int(handle)):
            raise OSError("AssignProcessToJobObject failed")

    def close(self) -> None:
        """Close the job handle: Windows ends any process still in the job."""
        if self._handle:
            self._kernel32.CloseHandle(self._handle)
            self._handle = None


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    parent_death_signal: int | None = PARENT_DEATH_SIGNAL,
) -> tuple[subprocess.Popen[bytes], WindowsJob | None]:
    """Start a process in its own process group with stdout and stderr on one pipe.

    Args:
        argv: The command.
        env: Its full environment.
        parent_death_signal: Linux: the signal the process gets when the app dies (None: none).

    Returns:
        The process, and on Windows the job object holding it (keep it until the process ends).

    Raises:
        OSError: The executable could not be started.
    """
    kwargs: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "env": dict(env),
        "close_fds": True,
    }
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
    else:
        kwargs["start_new_session"] = True
        if sys.platform.startswith("linux") and parent_death_signal is not None:
            hook = _linux_parent_death_hook(parent_death_signal)
            if hook is not None:
                kwargs["preexec_fn"] = hook
    process: subprocess.Popen[bytes] = subprocess.Popen(list(argv), **kwargs)
    job = None
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            job = WindowsJob()
            job.assign(process)
    return process, job


def request_stop(process: subprocess.Popen[bytes]) -> None:
    """Ask politely: SIGTERM to the process group (POSIX), CTRL_BREAK_EVENT (Windows)."""
    if process.poll() is not None:
        return
    if sys.platform == "win32":
        with contextlib.suppress(OSError, ValueError):
            process.send_signal(signal.CTRL_BREAK_EVENT)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)


def force_stop(process: subprocess.Popen[bytes], job: WindowsJob | None = None) -> None:
    """End the process and everything in its group now (SIGKILL / TerminateProcess).

    Also called after a graceful exit, to end runner processes the server left behind (the
    group outlives its leader while any member lives).
    """
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            process.kill()
        if job is not None:
            job.close()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
