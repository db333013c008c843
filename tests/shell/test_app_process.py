"""The real app process: it starts, loads a model, and shuts down cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start_app(model: Path, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "QWEN_DESKTOP_DATA_DIR": str(tmp_path / "data"),
        "QWEN_DESKTOP_CONFIG_DIR": str(tmp_path / "config"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "qwen_desktop", "--model", str(model)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if needle in line:
            return lines
    proc.kill()
    raise AssertionError(f"{needle!r} never appeared:\n{''.join(lines)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_window_with_a_loaded_model_exits_cleanly_on_signal(
    tiny_qwen3_path: Path, tmp_path: Path, signum: int
) -> None:
    proc = start_app(tiny_qwen3_path, tmp_path)
    wait_for_line(proc, "model loaded:")
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    for bad in ("Traceback", "Task was destroyed", "Event loop stopped", "terminate called"):
        assert bad not in err, err
