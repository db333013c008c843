"""The window paints before any engine, HTTP client, keyring or model library is imported.

Behaviour, not timing (bench/bench_cold_start.py times it): the real entry point runs in a
subprocess with ``--quit-after 0``; the modules loaded when the window first painted, and when
the process ended, are written out by a small wrapper and checked against the heavy ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

WRAPPER = """
import atexit, json, sys
from qwen_desktop.uikit import first_paint

out = sys.argv[1]
fire = first_paint.FirstPaint._fire

def at_paint(self, how):
    if not self._done:
        with open(out + ".paint", "w") as file:
            json.dump([sorted(sys.modules), how], file)
    fire(self, how)

def at_exit():
    with open(out + ".exit", "w") as file:
        json.dump(sorted(sys.modules), file)

first_paint.FirstPaint._fire = at_paint
atexit.register(at_exit)
from qwen_desktop.app import main
sys.exit(main(["--quit-after", "0"]))
"""

NEVER_AT_START = (
    "openai",  # 0.41 s (issue 15): only for a remote OpenAI-compatible server
    "aiohttp",
    "keyring",  # only for a server's API key
    "torch",
    "transformers",
    "llama_cpp",
    "matplotlib",  # the first formula in an answer
    "PIL",  # the first image attached or shown
    "qwen_desktop.engines.openai_backend",
    "qwen_desktop.engines.secrets",
)
"""Not needed by a start without a model or a saved remote engine: never loaded by one."""

NOT_BEFORE_PAINT = (
    *NEVER_AT_START,
    "httpx",  # 0.12 s, with rich and click (httpx's command line)
    "ollama",  # 0.10 s
    "pynvml",  # NVML's start: ~60 ms
    "huggingface_hub.hf_api",
    "huggingface_hub.file_download",
    "qwen_desktop.engines.transformers_backend",  # 0.20 s of imports (issue 15)
    "qwen_desktop.engines.ollama_backend",
    "qwen_desktop.downloads.hf_download",
    "qwen_desktop.hardware.probe",  # the scan runs after the paint, in a worker thread
    "qwen_desktop.hardware.advisor",
)
"""Loaded when first used, after the window painted (start-up work begins then)."""


@pytest.fixture(scope="module")
def loaded_modules(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], set[str], str]:
    """(modules at the first paint, modules at exit, how the paint was detected)."""
    folder = tmp_path_factory.mktemp("startup-imports")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "QWEN_DESKTOP_DATA_DIR": str(folder / "data"),
        "QWEN_DESKTOP_CONFIG_DIR": str(folder / "config"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    out = folder / "modules"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    at_paint, how = json.loads(out.with_suffix(".paint").read_text())
    at_exit = json.loads(out.with_suffix(".exit").read_text())
    return set(at_paint), set(at_exit), how


def test_the_window_paints_before_heavy_modules_load(
    loaded_modules: tuple[set[str], set[str], str],
) -> None:
    at_paint, _at_exit, how = loaded_modules
    assert how == "painted"  # a real paint, not the fallback timer
    assert "PySide6.QtWidgets" in at_paint  # the wrapper saw the real start
    assert sorted(set(NOT_BEFORE_PAINT) & at_paint) == []


def test_a_start_without_a_model_never_loads_engines_it_does_not_use(
    loaded_modules: tuple[set[str], set[str], str],
) -> None:
    _at_paint, at_exit, _how = loaded_modules
    assert "qwen_desktop.gui" in at_exit
    assert sorted(set(NEVER_AT_START) & at_exit) == []
