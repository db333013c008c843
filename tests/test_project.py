"""Project-wide checks that run with the test suite: layering contracts and lint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: install the test extra (pip install -e '.[test]')")
    return path


def test_import_layers_hold() -> None:
    result = subprocess.run(
        [_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "qwen_desktop", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_below_qt_do_not_import_qt_at_runtime() -> None:
    code = (
        "import sys, qwen_desktop.cli, qwen_desktop.chat.service, qwen_desktop.core.fit, "
        "qwen_desktop.hardware.probe, qwen_desktop.engines.transformers_backend;"
        "bad = [m for m in ('PySide6', 'torch', 'transformers', 'qasync') if m in sys.modules];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"


def test_the_installed_pyside6_keeps_the_reference_count_of_none() -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference to None per void call (aborts the app)."""
    script = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\n"
        "label = QLabel()\n"
        "before = sys.getrefcount(None)\n"
        "for _ in range(1000):\n"
        "    label.setVisible(False)\n"
        "    label.setText('x')\n"
        "print(before - sys.getrefcount(None))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    lost = int(result.stdout.strip().splitlines()[-1])
    assert lost < 100, f"{lost} references to None lost in 2,000 calls: pin PySide6 below 6.12"
